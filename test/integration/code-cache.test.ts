// The `slipway` executable (src/launch.ts) with V8's code cache: the first run of a command
// writes an entry, the next runs use it untouched, a spoiled entry or one V8 refuses is replaced,
// and a cache dir that cannot be written never changes what a command does.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { cpSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import { CLI, slipway } from "../support/cli.js";
import { tmpDir } from "../support/tmp.js";

const DIST = path.dirname(CLI);

/** `build` where there is no slipway.toml: a usage error (exit 2) that runs the config loader. */
function noConfig(cwd: string, cache: string, cli = CLI) {
  const r = spawnSync(process.execPath, [cli, "build"], { cwd, env: { ...process.env, SLIPWAY_CODE_CACHE: cache }, encoding: "utf8" });
  return { code: r.status ?? -1, stderr: r.stderr };
}

const inodes = (dir: string) => readdirSync(dir).map((n) => `${n}:${statSync(path.join(dir, n)).ino}`);

test("code cache: written on a command's first run, then used as it is; the command's output never changes", async () => {
  const cwd = await tmpDir("cc-app");
  const cache = path.join(await tmpDir("cc"), "code");
  const first = noConfig(cwd, cache);
  assert.equal(first.code, 2, first.stderr);
  assert.match(first.stderr, /no slipway\.toml here/);
  const entries = readdirSync(cache);
  assert.equal(entries.length, 1, `one entry: ${entries}`);
  assert.match(entries[0]!, /^[0-9a-f]{16}-[0-9a-f]{8}-build\.v8$/);
  assert.ok(statSync(path.join(cache, entries[0]!)).size > 100_000, "the entry holds the compiled functions");
  const before = inodes(cache);
  for (let i = 0; i < 2; i++) {
    const again = noConfig(cwd, cache);
    assert.equal(again.code, 2);
    assert.equal(again.stderr, first.stderr);
  }
  assert.deepEqual(inodes(cache), before, "V8 took the entry: nothing was rewritten");

  const version = slipway(["--version"], { cwd, env: { ...process.env, SLIPWAY_CODE_CACHE: cache } });
  assert.equal(version.code, 0);
  assert.equal(readdirSync(cache).length, 2, "another command, another entry");
});

test("code cache: a spoiled entry is replaced, and the run it spoiled still works", async () => {
  const cwd = await tmpDir("cc-app");
  const cache = path.join(await tmpDir("cc"), "code");
  const first = noConfig(cwd, cache);
  const [name] = readdirSync(cache);
  const file = path.join(cache, name!);
  const good = readFileSync(file);
  writeFileSync(file, Buffer.alloc(good.length, 0x5a));
  const spoiled = noConfig(cwd, cache);
  assert.equal(spoiled.code, 2);
  assert.equal(spoiled.stderr, first.stderr);
  assert.ok(!readFileSync(file).equals(Buffer.alloc(good.length, 0x5a)), "the spoiled entry was replaced");
  assert.deepEqual(readdirSync(cache), [name], "no temp file left");
});

test("code cache: an edited bundle of the same length gets its own entry, and the old bundle's entries go", async () => {
  const cwd = await tmpDir("cc-app");
  const cache = path.join(await tmpDir("cc"), "code");
  const dist = path.join(await tmpDir("cc-dist"), "dist");
  cpSync(DIST, dist, { recursive: true });
  noConfig(cwd, cache, path.join(dist, "cli.js"));
  const [old] = readdirSync(cache);
  // Same length, other bytes: V8 alone would take the old entry for this source.
  const bundle = path.join(dist, "slipway.cjs");
  const text = readFileSync(bundle, "utf8");
  const edited = text.replace("no slipway.toml here", "no slipway.toml HERE");
  assert.notEqual(edited, text);
  assert.equal(edited.length, text.length);
  writeFileSync(bundle, edited);
  const r = noConfig(cwd, cache, path.join(dist, "cli.js"));
  assert.match(r.stderr, /no slipway\.toml HERE/, "the edited bundle ran");
  const now = readdirSync(cache);
  assert.equal(now.length, 1, `${now}`);
  assert.notEqual(now[0], old);
});

test("code cache: off with SLIPWAY_CODE_CACHE=0, and a dir that cannot be made changes nothing", async () => {
  const cwd = await tmpDir("cc-app");
  const base = await tmpDir("cc");
  const off = slipway(["build"], { cwd, env: { ...process.env, SLIPWAY_CODE_CACHE: "0", SLIPWAY_CACHE_DIR: base } });
  assert.equal(off.code, 2);
  assert.deepEqual(readdirSync(base), [], "nothing written");
  const blocker = path.join(base, "a-file");
  writeFileSync(blocker, "");
  const blocked = noConfig(cwd, path.join(blocker, "code"));
  assert.equal(blocked.code, 2);
  assert.equal(blocked.stderr, off.stderr);
});
