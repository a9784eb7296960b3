import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdir, readdir, readFile, stat, symlink, writeFile } from "node:fs/promises";
import path from "node:path";
import { stageVenv, type StreamBounds } from "../../src/deploy/stage.js";
import { shJoin } from "../../src/transport/quote.js";
import { packLayer, type LayerEntry } from "../support/artifact-edit.js";
import { tmpDir } from "../support/tmp.js";

/*
 * The venv layer as a host receives it (src/deploy/stage.ts stageVenv): unpacked from stdin as
 * it arrives, hashed on the way, never written whole to the host's disk. Run as a host runs
 * it: the script through sh, real GNU tar, zstd, tee and sha256sum.
 */

const KEY = "0123456789abcdef";

async function host() {
  const root = path.join(await tmpDir("slw-streamvenv"), "srv", "app");
  await mkdir(path.join(root, "virtualenvs"), { recursive: true });
  await mkdir(path.join(root, ".slipway", "incoming"), { recursive: true });
  return root;
}

const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");
const f = (name: string, data: string | Buffer = "x", mode = 0o644): LayerEntry => ({ header: { name, type: "file", mode }, data: Buffer.from(data) });
const GOOD: LayerEntry[] = [
  { header: { name: "bin/", type: "directory", mode: 0o755 } },
  f("bin/activate", "# activate\n"),
  { header: { name: "lib/", type: "directory", mode: 0o755 } },
  // Bigger than a pipe's buffer many times over, so tar, tee and sha256sum really overlap.
  f("lib/big.bin", Buffer.alloc(4 << 20, 7)),
];

function stage(root: string, layer: Buffer, expected: string, over: Partial<StreamBounds> = {}, env?: NodeJS.ProcessEnv) {
  const file = path.join(root, ".slipway", "incoming", "b1-run-venv.tar.zst");
  const bounds = { bytes: layer.length, unpacked: 4 << 20, files: 8, ...over };
  const r = spawnSync("/bin/sh", ["-c", shJoin(stageVenv(root, KEY, file, expected, "zstd", [], bounds))], {
    input: layer,
    encoding: "utf8",
    maxBuffer: 1 << 20,
    ...(env ? { env } : {}),
  });
  return { file, r };
}

/**
 * A PATH with every program of /usr/bin but openssl, and as `openssl`: none, one that records its
 * calls (`logged`), or one that runs but hashes nothing (`broken`: a missing library, say).
 */
async function pathWithout(openssl: "none" | "logged" | "broken"): Promise<{ env: NodeJS.ProcessEnv; log: string }> {
  const dir = await tmpDir("slw-path");
  const bin = path.join(dir, "bin");
  await mkdir(bin);
  for (const name of await readdir("/usr/bin")) if (name !== "openssl") await symlink(path.join("/usr/bin", name), path.join(bin, name));
  const log = path.join(dir, "openssl.log");
  if (openssl === "broken")
    await writeFile(path.join(bin, "openssl"), "#!/bin/sh\necho 'openssl: error while loading shared libraries' >&2\nexit 127\n", { mode: 0o755 });
  if (openssl === "logged") await writeFile(path.join(bin, "openssl"), `#!/bin/sh\necho "$*" >> ${log}\nexec /usr/bin/openssl "$@"\n`, { mode: 0o755 });
  return { env: { PATH: bin }, log };
}

async function leftovers(root: string) {
  return { venvs: await readdir(path.join(root, "virtualenvs")), incoming: await readdir(path.join(root, ".slipway", "incoming")) };
}

test("stageVenv unpacks the layer from stdin and keeps no copy of it on the host", async () => {
  const root = await host();
  const layer = await packLayer(GOOD, "zstd");
  const { r } = stage(root, layer, sha(layer));
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.trim(), "unpacked");
  const venv = path.join(root, "virtualenvs", KEY);
  assert.equal((await stat(path.join(venv, "lib", "big.bin"))).size, 4 << 20);
  assert.equal(await readFile(path.join(venv, "bin", "activate"), "utf8"), "# activate\n");
  assert.ok((await stat(path.join(venv, ".slipway-complete"))).isFile());
  assert.deepEqual(await leftovers(root), { venvs: [KEY], incoming: [] }, "no layer file, fifo or hash file left");
  // Present now: the same command answers at once and leaves it alone.
  const again = stage(root, layer, sha(layer));
  assert.equal(again.r.status, 0, again.r.stderr);
  assert.equal(again.r.stdout.trim(), "present");
});

test("stageVenv: bytes spoiled in transit are refused by their hash (exit 3), and nothing is left", async () => {
  const root = await host();
  const layer = await packLayer(GOOD, "zstd");
  const spoiled = Buffer.from(layer);
  spoiled[Math.floor(spoiled.length / 2)]! ^= 0xff;
  const { r } = stage(root, spoiled, sha(layer));
  assert.equal(r.status, 3, r.stderr);
  assert.match(r.stderr, /sha256 mismatch for b1-run-venv\.tar\.zst: got [0-9a-f]{64}, expected/);
  assert.deepEqual(await leftovers(root), { venvs: [], incoming: [] });
  // Cut short (a deployer killed mid-send): the same.
  const cut = stage(root, layer.subarray(0, layer.length >> 1), sha(layer));
  assert.equal(cut.r.status, 3, cut.r.stderr);
  assert.match(cut.r.stderr, /sha256 mismatch/);
  assert.deepEqual(await leftovers(root), { venvs: [], incoming: [] });
});

test("stageVenv: a layer whose hash matches but that tar or the host check refuses is refused as such", async () => {
  const root = await host();
  const notTar = Buffer.from("this is not a zstd stream at all\n".repeat(4000));
  const bad = stage(root, notTar, sha(notTar));
  assert.equal(bad.r.status, 3, bad.r.stderr);
  assert.match(bad.r.stderr, /refused the venv layer after unpacking it: tar refused it/);
  assert.deepEqual(await leftovers(root), { venvs: [], incoming: [] });

  const reserved = await packLayer([...GOOD, f(".slipway-complete")], "zstd");
  const s = stage(root, reserved, sha(reserved));
  assert.equal(s.r.status, 3, s.r.stderr);
  assert.match(s.r.stderr, /refused the venv layer after unpacking it: it has \.slipway-complete/);
  assert.deepEqual(await leftovers(root), { venvs: [], incoming: [] });
});

test("stageVenv: no more than the layer's size is read, nor more tar unpacked than its files and framing allow", async () => {
  const root = await host();
  const layer = await packLayer(GOOD, "zstd");
  // A layer that decompresses to more than the manifest promised (16 MiB of zeros where 1,000
  // bytes were declared: a bomb under its own hash): tar gets a cut stream and refuses it.
  const zeros = await packLayer([f("lib/zeros", Buffer.alloc(16 << 20))], "zstd");
  const bomb = stage(root, zeros, sha(zeros), { unpacked: 1000, files: 1 });
  assert.equal(bomb.r.status, 3, bomb.r.stderr);
  assert.match(bomb.r.stderr, /refused the venv layer after unpacking it: tar refused it/);
  assert.deepEqual(await leftovers(root), { venvs: [], incoming: [] });
  // More bytes than the layer's size: only its size is read, and those do not hash to it.
  const longer = Buffer.concat([layer, Buffer.alloc(4096, 1)]);
  const long = stage(root, longer, sha(longer), { bytes: layer.length });
  assert.equal(long.r.status, 3, long.r.stderr);
  assert.match(long.r.stderr, /sha256 mismatch/);
  assert.deepEqual(await leftovers(root), { venvs: [], incoming: [] });
  // The bounds as the manifest gives them: it unpacks.
  const ok = stage(root, layer, sha(layer));
  assert.equal(ok.r.status, 0, ok.r.stderr);
});

test("stageVenv hashes with OpenSSL where the host has one that works, with sha256sum where not, and both refuse a spoiled layer", async () => {
  const layer = await packLayer(GOOD, "zstd");
  const spoiled = Buffer.from(layer);
  spoiled[spoiled.length >> 1]! ^= 0x01;
  for (const openssl of ["logged", "none", "broken"] as const) {
    const { env, log } = await pathWithout(openssl);
    const root = await host();
    const ok = stage(root, layer, sha(layer), {}, env);
    assert.equal(ok.r.status, 0, `${openssl}: ${ok.r.stderr}`);
    assert.equal(ok.r.stdout.trim(), "unpacked");
    const bad = stage(await host(), spoiled, sha(layer), {}, env);
    assert.equal(bad.r.status, 3, `${openssl}: ${bad.r.stderr}`);
    assert.match(bad.r.stderr, /sha256 mismatch for b1-run-venv\.tar\.zst: got [0-9a-f]{64}, expected/);
    const calls = await readFile(log, "utf8").catch(() => "");
    // Each hash: a check that openssl works (it hashes nothing), then the hash.
    assert.equal(calls, openssl === "logged" ? "dgst -sha256 -r\n".repeat(4) : "", openssl);
  }
});
