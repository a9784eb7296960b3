import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { generateKeyPairSync, randomBytes } from "node:crypto";
import { mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { verifyArtifact } from "../../src/artifact/verify.js";
import { openMember, readHead } from "../../src/artifact/read.js";
import { signManifest } from "../../src/artifact/signature.js";
import type { Manifest } from "../../src/artifact/manifest.js";
import { ArtifactError } from "../../src/errors.js";
import { manifestBytes, packLayer, sha256, totals, writeMembers, writeSidecar, type LayerEntry } from "../support/artifact-edit.js";
import { tmpDir } from "../support/tmp.js";

/* verifyArtifact on small artifacts made here (no build): members, order, signature, hashes, entries. */

const CODE: LayerEntry[] = [
  { header: { name: "app/", type: "directory", mode: 0o755 } },
  { header: { name: "app/main.py", type: "file", mode: 0o644 }, data: Buffer.from("print('hi')\n".repeat(200)) },
];
const VENV: LayerEntry[] = [
  { header: { name: "bin/", type: "directory", mode: 0o755 } },
  { header: { name: "bin/python3", type: "symlink", linkname: "/usr/bin/python3" } },
  { header: { name: "pyvenv.cfg", type: "file", mode: 0o644 }, data: Buffer.from("home = /usr/bin\n") },
  // Incompressible, so the layer is big enough for writes to be in flight when it is cut short.
  { header: { name: "lib/blob.so", type: "file", mode: 0o644 }, data: randomBytes(4 * 1024 * 1024) },
];

async function artifact(opts: { sign?: boolean; code?: LayerEntry[] } = {}) {
  const dir = await tmpDir("slw-verify");
  const code = await packLayer(opts.code ?? CODE, "zstd");
  const venv = await packLayer(VENV, "zstd");
  const layer = (name: "code" | "venv", data: Buffer, entries: LayerEntry[]) => ({
    name,
    member: `${name}.tar.zst`,
    compression: "zstd",
    sha256: sha256(data),
    size: data.length,
    ...totals(entries),
  });
  const m = {
    format: 1,
    app: "hello",
    build_id: "v1",
    created_at: "2026-01-01T00:00:00.000Z",
    git: null,
    root: "/srv/hello",
    env: {
      key: "0123456789abcdef",
      python: {
        executable: "/usr/bin/python3.11",
        configured: "/usr/bin/python3",
        implementation: "cpython",
        version: "3.11.2",
        abi: "cpython-311-x86_64-linux-gnu",
        platform: "linux-x86_64/glibc-2.36",
      },
      inputs: [],
    },
    layers: [layer("code", code, opts.code ?? CODE), layer("venv", venv, VENV)],
    builder: { slipway_version: "0.1.0", hostname: "t" },
  } as Manifest;
  const bytes = manifestBytes(m);
  const file = path.join(dir, "hello-v1.tar");
  const sig = opts.sign ? [{ name: "slipway.json.sig", data: signManifest(bytes, generateKeyPairSync("ed25519").privateKey) }] : [];
  await writeMembers(file, [{ name: "slipway.json", data: bytes }, ...sig, { name: "code.tar.zst", data: code }, { name: "venv.tar.zst", data: venv }]);
  await writeSidecar(file);
  return { dir, file, m };
}

const refused = (p: Promise<unknown>, message: RegExp) =>
  assert.rejects(p, (err: unknown) => err instanceof ArtifactError && message.test(err.message) && Boolean(err.hint));

describe("verifyArtifact", () => {
  test("a valid artifact: every layer hashed and entry-checked, the .sha256 matched", async () => {
    const { file } = await artifact();
    const r = await verifyArtifact(file);
    assert.equal(r.checksumFile, "matched");
    assert.deepEqual(
      r.layers.map((l) => [l.name, l.entries]),
      [
        ["code", 2],
        ["venv", 4],
      ],
    );
    assert.equal(r.signature, undefined);
  });

  test("a signed one reports the key; the layers asked for are extracted for sending", async () => {
    const { dir, file, m } = await artifact({ sign: true });
    const out = path.join(dir, "out");
    await mkdir(out);
    const r = await verifyArtifact(file, { extract: { dir: out, layers: ["code"] } });
    assert.match(r.signature?.key_id ?? "", /^[0-9a-f]{16}$/);
    assert.deepEqual((await readdir(out)).sort(), ["code.tar.zst"]);
    assert.equal(sha256(await readFile(path.join(out, "code.tar.zst"))), m.layers[0]!.sha256);
    // the venv layer, read from the artifact when a host needs it
    const chunks: Buffer[] = [];
    for await (const c of openMember(file, m.layers[1]!.member)) chunks.push(c as Buffer);
    assert.equal(sha256(Buffer.concat(chunks)), m.layers[1]!.sha256);
    await assert.rejects(async () => {
      for await (const _ of openMember(file, "nope.tar.zst")) void _;
    }, /has no member nope\.tar\.zst/);
  });

  test("truncated anywhere, extracting: an ArtifactError, never a crash", async () => {
    const { dir, file } = await artifact();
    const whole = await readFile(file);
    const out = path.join(dir, "out");
    await mkdir(out);
    for (const cut of [100, 600, 2000, Math.floor(whole.length / 2), whole.length - 1100, whole.length - 10]) {
      const t = path.join(dir, `t${cut}.tar`);
      await writeFile(t, whole.subarray(0, cut));
      await assert.rejects(
        verifyArtifact(t, { extract: { dir: out, layers: ["code", "venv"] } }),
        (err: unknown) => err instanceof ArtifactError,
        `cut at ${cut}`,
      );
    }
  });

  test("the manifest read first must be the one found when verifying (the file cannot change in between)", async () => {
    const a = await artifact();
    const head = await readHead(a.file);
    const b = await artifact({ code: [...CODE, { header: { name: "extra.py", type: "file" }, data: Buffer.from("x") }] });
    await refused(verifyArtifact(b.file, { head }), /slipway\.json changed while it was being verified/);
  });

  test("a layer entry that is not safe is named with the layer and the artifact", async () => {
    const { file } = await artifact({ code: [...CODE, { header: { name: "../../etc/x", type: "file" }, data: Buffer.from("x") }] });
    await refused(verifyArtifact(file), /hello-v1\.tar: layer code \(code\.tar\.zst\) entry "\.\.\/\.\.\/etc\/x" has a \.\. component/);
  });

  test("checked layers: a pass is recorded by content and rules; a recorded layer is only re-hashed, and any byte or rule change means a full check", async () => {
    const { CheckedLayers } = await import("../../src/artifact/checked-layers.js");
    const { rulesFor } = await import("../../src/artifact/entries.js");
    const { dir, file, m } = await artifact();
    const checked = new CheckedLayers(path.join(dir, "cache"));
    const first = await verifyArtifact(file, { checked });
    assert.deepEqual(
      first.layers.map((l) => [l.name, l.entries]),
      [
        ["code", 2],
        ["venv", 4],
      ],
    );
    for (const l of m.layers)
      assert.deepEqual(await checked.lookup(l.sha256, rulesFor(m, l)), { entries: l.name === "code" ? 2 : 4, bytes: l.unpacked_size }, `${l.name} recorded`);
    assert.deepEqual((await verifyArtifact(file, { checked })).layers, first.layers, "the same report from the memo");

    // A layer the entry checks refuse: refused without a record …
    const bad = await artifact({ code: [...CODE, { header: { name: "../../etc/x", type: "file" }, data: Buffer.from("x") }] });
    await refused(verifyArtifact(bad.file, { checked }), /has a \.\. component/);
    assert.equal(await checked.lookup(bad.m.layers[0]!.sha256, rulesFor(bad.m, bad.m.layers[0]!)), undefined, "a refused layer is never recorded");
    // … and a forged record for exactly those bytes and rules is what skips the unpacking (so the memo is really used):
    await checked.record(bad.m.layers[0]!.sha256, rulesFor(bad.m, bad.m.layers[0]!), { entries: 3, bytes: 1 });
    assert.equal((await verifyArtifact(bad.file, { checked })).layers[0]!.entries, 3);
    // The same bytes under other rules (another declared file count) get a full check again.
    const otherRules = { ...rulesFor(bad.m, bad.m.layers[0]!), files: 99 };
    assert.equal(await checked.lookup(bad.m.layers[0]!.sha256, otherRules), undefined);
    // Without the memo (inspect --verify), always the full check.
    await refused(verifyArtifact(bad.file), /has a \.\. component/);
  });
});
