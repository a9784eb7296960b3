import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readlink } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { shJoin } from "../../src/transport/quote.js";
import { parseSwitched, switchCurrent, switchThenRun, undoPrevious } from "../../src/deploy/switch.js";

const viaShell = (argv: string[]) => spawnSync("sh", ["-c", shJoin(argv)], { encoding: "utf8" });
const link = (p: string) => readlink(p).catch(() => "");

async function hostWith(...ids: string[]): Promise<string> {
  const root = await mkdtemp(path.join(os.tmpdir(), "slw-switchback-"));
  for (const id of ids) await mkdir(`${root}/releases/${id}`, { recursive: true });
  return root;
}

test("a switch back restores `previous` as it was before the switch it undoes (current=B previous=A, D fails → B, A)", async () => {
  const root = await hostWith("A", "B", "D");
  viaShell(switchCurrent(root, "A"));
  viaShell(switchCurrent(root, "B"));
  const out = viaShell(switchCurrent(root, "D"));
  assert.equal(out.status, 0);
  assert.deepEqual(parseSwitched(out.stdout), { current: "releases/B", previous: "releases/A" });
  assert.equal(await link(`${root}/previous`), "releases/B");
  const back = viaShell(switchCurrent(root, "B", undoPrevious(out.stdout)));
  assert.equal(back.status, 0);
  assert.equal(await link(`${root}/current`), "releases/B");
  assert.equal(await link(`${root}/previous`), "releases/A", "not D, the release that failed");

  const restart = viaShell(switchThenRun(root, "D", ["true"]));
  assert.equal(restart.status, 0);
  viaShell(switchThenRun(root, "B", ["true"], undoPrevious(restart.stdout)));
  assert.deepEqual([await link(`${root}/current`), await link(`${root}/previous`)], ["releases/B", "releases/A"], "the same through switchThenRun");
});

test("a switch back after the second deploy ever removes `previous` again; one that did not change it keeps it", async () => {
  const root = await hostWith("A", "D");
  viaShell(switchCurrent(root, "A"));
  const out = viaShell(switchCurrent(root, "D"));
  assert.equal(parseSwitched(out.stdout).previous, "", "there was no previous");
  viaShell(switchCurrent(root, "A", undoPrevious(out.stdout)));
  assert.equal(await link(`${root}/current`), "releases/A");
  assert.ok(!existsSync(`${root}/previous`));
  assert.deepEqual(undoPrevious("old=releases/A\n"), "keep", "no prev= line: the switch left previous alone");
});

test("a failed switch changes neither link: `current` cannot be replaced (mv fails) → `previous` is put back", async () => {
  const root = await hostWith("A", "B", "D");
  viaShell(switchCurrent(root, "A"));
  viaShell(switchCurrent(root, "B"));
  await mkdir(`${root}/.current.tmp/in-the-way`, { recursive: true }); // mv -T of a directory over the symlink fails
  const r = viaShell(switchThenRun(root, "D", ["touch", `${root}/ran`]));
  assert.notEqual(r.status, 0);
  assert.ok(!r.stdout.includes("slipway-switched"));
  assert.ok(!existsSync(`${root}/ran`));
  assert.deepEqual([await link(`${root}/current`), await link(`${root}/previous`)], ["releases/B", "releases/A"]);
});
