// The `slipway` executable (src/launch.ts) with V8's code cache: the first successful run of a
// command writes an entry, the next runs use it untouched, a spoiled entry or one V8 refuses is
// replaced, a failed run writes none, and a cache dir that cannot be written, or that another
// user could write to, never changes what a command does.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { chmodSync, cpSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import { CLI, slipway } from "../support/cli.js";
import { tmpDir } from "../support/tmp.js";

const DIST = path.dirname(CLI);

/** `build --help` (exit 0), or `build` where there is no slipway.toml (`fail`: a usage error, exit 2). */
function run(cwd: string, cache: string, opts: { cli?: string; fail?: boolean } = {}) {
  const args = opts.fail ? ["build"] : ["build", "--help"];
  const r = spawnSync(process.execPath, [opts.cli ?? CLI, ...args], { cwd, env: { ...process.env, SLIPWAY_CODE_CACHE: cache }, encoding: "utf8" });
  return { code: r.status ?? -1, out: r.stdout + r.stderr };
}

const inodes = (dir: string) => readdirSync(dir).map((n) => `${n}:${statSync(path.join(dir, n)).ino}`);

test("code cache: written on a command's first successful run, then used as it is; the output never changes", async () => {
  const cwd = await tmpDir("cc-app");
  const cache = path.join(await tmpDir("cc"), "code");
  const failed = run(cwd, cache, { fail: true });
  assert.equal(failed.code, 2, failed.out);
  assert.match(failed.out, /no slipway\.toml here/);
  assert.equal(existsSync(cache), false, "a failed run writes no entry");
  const first = run(cwd, cache);
  assert.equal(first.code, 0, first.out);
  assert.match(first.out, /build the artifact/);
  const entries = readdirSync(cache);
  assert.equal(entries.length, 1, `one entry: ${entries}`);
  assert.match(entries[0]!, /^[0-9a-f]{16}-[0-9a-f]{8}-build\.v8$/);
  assert.ok(statSync(path.join(cache, entries[0]!)).size > 10_000, "the entry holds the compiled functions");
  assert.equal(statSync(cache).mode & 0o777, 0o700);
  const before = inodes(cache);
  for (let i = 0; i < 2; i++) {
    const again = run(cwd, cache);
    assert.equal(again.code, 0);
    assert.equal(again.out, first.out);
  }
  assert.equal(run(cwd, cache, { fail: true }).out, failed.out);
  assert.deepEqual(inodes(cache), before, "V8 took the entry: nothing was rewritten");

  const version = slipway(["--version"], { cwd, env: { ...process.env, SLIPWAY_CODE_CACHE: cache } });
  assert.equal(version.code, 0);
  assert.equal(readdirSync(cache).length, 2, "another command, another entry");
});

test("code cache: a spoiled entry is replaced, and the run it spoiled still works", async () => {
  const cwd = await tmpDir("cc-app");
  const cache = path.join(await tmpDir("cc"), "code");
  const first = run(cwd, cache);
  const [name] = readdirSync(cache);
  const file = path.join(cache, name!);
  const spoilt = Buffer.alloc(readFileSync(file).length, 0x5a);
  writeFileSync(file, spoilt);
  const spoiled = run(cwd, cache);
  assert.equal(spoiled.code, 0);
  assert.equal(spoiled.out, first.out);
  assert.ok(!readFileSync(file).equals(spoilt), "the spoiled entry was replaced");
  assert.deepEqual(readdirSync(cache), [name], "no temp file left");
});

test("code cache: an edited bundle of the same length gets its own entry, and the old bundle's entries go", async () => {
  const cwd = await tmpDir("cc-app");
  const cache = path.join(await tmpDir("cc"), "code");
  const dist = path.join(await tmpDir("cc-dist"), "dist");
  cpSync(DIST, dist, { recursive: true });
  const cli = path.join(dist, "cli.js");
  run(cwd, cache, { cli });
  const [old] = readdirSync(cache);
  // Same length, other bytes: V8 alone would take the old entry for this source.
  const bundle = path.join(dist, "slipway.cjs");
  const text = readFileSync(bundle, "utf8");
  const edited = text.replace("build the artifact:", "BUILD THE ARTIFACT:");
  assert.notEqual(edited, text);
  assert.equal(edited.length, text.length);
  writeFileSync(bundle, edited);
  const r = run(cwd, cache, { cli });
  assert.match(r.out, /BUILD THE ARTIFACT:/, "the edited bundle ran");
  const now = readdirSync(cache);
  assert.equal(now.length, 1, `${now}`);
  assert.notEqual(now[0], old);
});

test("code cache: off with SLIPWAY_CODE_CACHE=0; a dir that cannot be made, or that others may write to, changes nothing", async () => {
  const cwd = await tmpDir("cc-app");
  const base = await tmpDir("cc");
  const off = spawnSync(process.execPath, [CLI, "build", "--help"], {
    cwd,
    env: { ...process.env, SLIPWAY_CODE_CACHE: "0", SLIPWAY_CACHE_DIR: base },
    encoding: "utf8",
  });
  assert.equal(off.status, 0);
  assert.deepEqual(readdirSync(base), [], "nothing written");
  const blocker = path.join(base, "a-file");
  writeFileSync(blocker, "");
  const blocked = run(cwd, path.join(blocker, "code"));
  assert.equal(blocked.code, 0);
  assert.equal(blocked.out, off.stdout + off.stderr);
  // Group- or world-writable: another user could plant what V8 would run.
  const shared = path.join(base, "shared");
  mkdirSync(shared, { mode: 0o777 });
  chmodSync(shared, 0o777);
  assert.equal(run(cwd, shared).code, 0);
  assert.deepEqual(readdirSync(shared), [], "not used");
});
