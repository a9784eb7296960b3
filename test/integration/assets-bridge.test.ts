// deploy.assets on a real tree with the real host script: add only, hard links, bounded by
// keep_releases, and safe from prune.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdir, readFile, rm, stat, symlink, writeFile } from "node:fs/promises";
import path from "node:path";
import { bridgeAssets, parseBridged } from "../../src/deploy/assets.js";
import { tmpDir } from "../support/tmp.js";

async function release(root: string, id: string, files: Record<string, string>): Promise<void> {
  for (const [rel, text] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(root, "releases", id, "staticfiles", rel)), { recursive: true });
    await writeFile(path.join(root, "releases", id, "staticfiles", rel), text);
  }
}

function bridge(root: string, id: string, keep: number) {
  const [cmd, ...args] = bridgeAssets(root, id, "staticfiles", keep);
  const r = spawnSync(cmd!, args, { encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  return parseBridged(r.stdout)!;
}

const has = (root: string, id: string, rel: string) =>
  stat(path.join(root, "releases", id, "staticfiles", rel)).then(
    () => true,
    () => false,
  );
const inode = async (root: string, id: string, rel: string) => (await stat(path.join(root, "releases", id, "staticfiles", rel))).ino;

test("assets: current gains the new release's files, the new one the kept releases' own — add only, hard-linked, bounded, prune-safe", async () => {
  const root = await tmpDir("slipway-assets");
  await release(root, "a", { "app.aaa.css": "a", "common.css": "common from a", "img/logo.aaa.png": "logo a" });
  await symlink("releases/a", path.join(root, "current"));
  await release(root, "b", { "app.bbb.css": "b", "common.css": "common from b" });

  assert.deepEqual(bridge(root, "b", 3), { toCurrent: 1, toNew: 2 });
  assert.ok(await has(root, "a", "app.bbb.css"), "the serving release finds the new version's file");
  assert.ok((await has(root, "b", "app.aaa.css")) && (await has(root, "b", "img/logo.aaa.png")), "the new release finds the old version's files");
  assert.equal(await readFile(path.join(root, "releases/a/staticfiles/common.css"), "utf8"), "common from a", "never overwritten");
  assert.equal(await readFile(path.join(root, "releases/b/staticfiles/common.css"), "utf8"), "common from b", "never overwritten");
  assert.equal(await inode(root, "a", "app.bbb.css"), await inode(root, "b", "app.bbb.css"), "a hard link, not a copy");
  assert.deepEqual(bridge(root, "b", 3), { toCurrent: 0, toNew: 0 }, "idempotent");

  // b is current now; c arrives with keep_releases = 2: it gains b's own files, not a's (beyond the bound),
  // and not what b gained from a.
  await rm(path.join(root, "current"));
  await symlink("releases/b", path.join(root, "current"));
  await release(root, "c", { "app.ccc.css": "c" });
  assert.deepEqual(bridge(root, "c", 2), { toCurrent: 1, toNew: 2 });
  assert.ok(await has(root, "c", "app.bbb.css"));
  assert.ok(!(await has(root, "c", "app.aaa.css")), "bounded by keep_releases: a's files stop here");

  // Prune a: b keeps serving a's files it holds (hard links), and a's list goes at the next bridge.
  await rm(path.join(root, "releases/a"), { recursive: true });
  assert.equal(await readFile(path.join(root, "releases/b/staticfiles/app.aaa.css"), "utf8"), "a");
  bridge(root, "c", 2);
  assert.ok(
    !(await stat(path.join(root, ".slipway/assets/a")).then(
      () => true,
      () => false,
    )),
    "a's list dropped",
  );
});

test("assets: a release without the dir, or whose dir is a link, is left alone", async () => {
  const root = await tmpDir("slipway-assets-none");
  await release(root, "a", { "x.css": "x" });
  await symlink("releases/a", path.join(root, "current"));
  await mkdir(path.join(root, "releases", "b"), { recursive: true });
  assert.deepEqual(bridge(root, "b", 5), { toCurrent: 0, toNew: 1 });
  await mkdir(path.join(root, "releases", "c"), { recursive: true });
  await symlink(path.join(root, "shared-static"), path.join(root, "releases", "c", "staticfiles"));
  assert.deepEqual(bridge(root, "c", 5), { toCurrent: 0, toNew: 0 });
});
