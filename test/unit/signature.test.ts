import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { generateKeyPairSync } from "node:crypto";
import { chmod, readFile, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import { keyId, parseSignature, signatureMatches, signManifest } from "../../src/artifact/signature.js";
import { loadPrivateKey, loadPublicKey, resolveKeyPath, writeKeyPair } from "../../src/artifact/keys.js";
import { checkSignature, checkTrust } from "../../src/artifact/trust.js";
import type { ArtifactHead } from "../../src/artifact/read.js";
import { ArtifactError, EnvironmentError, ExitCode, UsageError } from "../../src/errors.js";
import type { SlipwayEvent } from "../../src/events.js";
import { tmpDir } from "../support/tmp.js";

const MANIFEST = Buffer.from('{\n  "format": 1,\n  "app": "hello"\n}\n');
const head = (manifestBytes: Buffer, signature?: Buffer) => ({ manifest: {} as ArtifactHead["manifest"], manifestBytes, signature });

async function pair(name: string) {
  const dir = await tmpDir("slw-keys");
  const written = await writeKeyPair(path.join(dir, name), false);
  const events: SlipwayEvent[] = [];
  const priv = await loadPrivateKey(written.private_key, "--sign", (e) => events.push(e));
  const pub = await loadPublicKey(written.public_key, "deploy.trusted_keys[0]");
  return { dir, written, priv, pub, events };
}

describe("keygen files", () => {
  test("PREFIX.key is PKCS#8 PEM with mode 0600, PREFIX.pub SPKI PEM; both name the same key id", async () => {
    const { written, priv, pub, events } = await pair("ci");
    assert.equal((await stat(written.private_key)).mode & 0o777, 0o600);
    assert.match(await readFile(written.private_key, "utf8"), /^-----BEGIN PRIVATE KEY-----\n/);
    assert.match(await readFile(written.public_key, "utf8"), /^-----BEGIN PUBLIC KEY-----\n/);
    assert.match(written.key_id, /^[0-9a-f]{16}$/);
    assert.equal(priv.id, written.key_id);
    assert.equal(pub.id, written.key_id);
    assert.deepEqual(events, [], "a 0600 key draws no warning");
  });

  test("keygen refuses to overwrite a pair unless told to, and says how", async () => {
    const { dir, written } = await pair("ci");
    await assert.rejects(
      writeKeyPair(path.join(dir, "ci"), false),
      (err: unknown) => err instanceof UsageError && /ci\.key and .*ci\.pub already exist/.test(err.message) && /--yes/.test(err.hint ?? ""),
    );
    const again = await writeKeyPair(path.join(dir, "ci"), true);
    assert.notEqual(again.key_id, written.key_id);
    await assert.rejects(writeKeyPair(path.join(dir, "no", "such", "dir", "k"), false), /does not exist/);
  });

  test("a private key readable by group or others is a warning event, and still signs", async () => {
    const { written } = await pair("loose");
    for (const [mode, who] of [
      [0o640, "its group"],
      [0o604, "others"],
    ] as const) {
      await chmod(written.private_key, mode);
      const events: SlipwayEvent[] = [];
      await loadPrivateKey(written.private_key, "build.signing_key", (e) => events.push(e));
      assert.equal(events.length, 1);
      const e = events[0]!;
      assert.ok(e.type === "log" && e.level === "warn");
      assert.match(e.type === "log" ? e.message : "", new RegExp(`readable by ${who} \\(mode 0${mode.toString(8)}\\); run \`chmod 600 `));
    }
  });

  test("bad key files: missing, not PEM, not ed25519, a private key where a public one belongs (exit 2)", async () => {
    const dir = await tmpDir("slw-keys");
    const rsa = generateKeyPairSync("rsa", { modulusLength: 1024 });
    await writeFile(path.join(dir, "rsa.pub"), rsa.publicKey.export({ format: "pem", type: "spki" }));
    await writeFile(path.join(dir, "junk.pub"), "hello\n");
    const { written } = await pair("k");
    // Thunks, not promises: each is started only when awaited, so none rejects unobserved.
    const cases: [() => Promise<unknown>, RegExp][] = [
      [() => loadPublicKey(path.join(dir, "none.pub"), "deploy.trusted_keys[1]"), /^deploy\.trusted_keys\[1\]: cannot read .*none\.pub: ENOENT/],
      [() => loadPublicKey(path.join(dir, "junk.pub"), "deploy.trusted_keys[0]"), /junk\.pub is not a PEM public key/],
      [() => loadPublicKey(path.join(dir, "rsa.pub"), "deploy.trusted_keys[0]"), /rsa\.pub is an rsa key, not ed25519/],
      [() => loadPublicKey(written.private_key, "deploy.trusted_keys[0]"), /is a private key/],
      [() => loadPrivateKey(written.public_key, "--sign", () => {}), /^--sign: .*is not a PEM private key/],
    ];
    for (const [p, message] of cases) {
      await assert.rejects(p(), (err: unknown) => err instanceof EnvironmentError && err.exitCode === ExitCode.usage && message.test(err.message));
    }
  });

  test("keys made by openssl are accepted too (the documented format)", async (t) => {
    const dir = await tmpDir("slw-keys");
    const key = path.join(dir, "o.key");
    if (spawnSync("openssl", ["genpkey", "-algorithm", "ed25519", "-out", key]).status !== 0) return t.skip("no openssl");
    spawnSync("openssl", ["pkey", "-in", key, "-pubout", "-out", path.join(dir, "o.pub")]);
    await chmod(key, 0o600);
    const priv = await loadPrivateKey(key, "--sign", () => {});
    const pub = await loadPublicKey(path.join(dir, "o.pub"), "t");
    assert.equal(priv.id, pub.id);
  });

  test("resolveKeyPath: relative to the config's dir, ~/ is home", () => {
    assert.equal(resolveKeyPath("keys/ci.pub", "/app"), "/app/keys/ci.pub");
    assert.equal(resolveKeyPath("/etc/k.pub", "/app"), "/etc/k.pub");
    assert.match(resolveKeyPath("~/k.pub", "/app"), /\/k\.pub$/);
  });
});

describe("signature member", () => {
  test("sign, parse, verify; the member names and carries the signer's key", async () => {
    const { priv, pub } = await pair("s");
    const sig = signManifest(MANIFEST, priv.key);
    const info = parseSignature(sig);
    assert.ok(typeof info !== "string", String(info));
    assert.equal(info.key_id, pub.id);
    assert.equal(info.algorithm, "ed25519");
    assert.ok(signatureMatches(MANIFEST, info));
    assert.ok(signatureMatches(MANIFEST, info, pub.key));
    assert.equal(keyId(pub.key), keyId(priv.key));
  });

  test("one changed byte of the manifest, or a different key, does not verify", async () => {
    const a = await pair("a");
    const b = await pair("b");
    const info = parseSignature(signManifest(MANIFEST, a.priv.key));
    assert.ok(typeof info !== "string");
    const changed = Buffer.from(MANIFEST);
    changed[10]! ^= 1;
    assert.equal(signatureMatches(changed, info), false);
    assert.equal(signatureMatches(MANIFEST, info, b.pub.key), false);
  });

  test("malformed members are described, not thrown", () => {
    const good = JSON.parse(signManifest(MANIFEST, generateKeyPairSync("ed25519").privateKey).toString());
    const other = generateKeyPairSync("ed25519").publicKey;
    const cases: [unknown, RegExp][] = [
      ["not json", /^is not JSON$/],
      [{ ...good, algorithm: "rsa" }, /^is invalid at algorithm/],
      [{ ...good, extra: 1 }, /^is invalid at \(top\)/],
      [{ ...good, signature: "AAAA" }, /^is invalid at signature: must decode to 64 bytes/],
      [{ ...good, key_id: "zz" }, /^is invalid at key_id/],
      [{ ...good, key_id: keyId(other) }, /^names key [0-9a-f]{16} but carries the public key [0-9a-f]{16}$/],
      [{ ...good, pad: "x".repeat(5000) }, /^is larger than 4096 bytes/],
    ];
    for (const [value, message] of cases) {
      const bytes = Buffer.from(typeof value === "string" ? value : JSON.stringify(value));
      const r = parseSignature(bytes);
      assert.equal(typeof r, "string", JSON.stringify(value).slice(0, 80));
      assert.match(r as string, message);
    }
  });
});

describe("trust", () => {
  const expectRejected = (fn: () => unknown, message: RegExp) =>
    assert.throws(fn, (err: unknown) => err instanceof ArtifactError && err.exitCode === ExitCode.rejected && message.test(err.message));

  test("no trusted keys: unsigned is fine, a signature must still match what it signs", async () => {
    const { priv } = await pair("s");
    assert.equal(checkTrust("a.tar", head(MANIFEST), []), undefined);
    assert.deepEqual(checkTrust("a.tar", head(MANIFEST, signManifest(MANIFEST, priv.key)), []), { key_id: priv.id, trusted: false });
    const changed = Buffer.from(MANIFEST.toString().replace("hello", "hellp"));
    expectRejected(
      () => checkSignature("a.tar", head(changed, signManifest(MANIFEST, priv.key))),
      /^a\.tar: the signature in slipway\.json\.sig \(key [0-9a-f]{16}\) does not match slipway\.json/,
    );
  });

  test("trusted keys set: unsigned, untrusted signer and forged key ids are refused; a trusted signature passes", async () => {
    const a = await pair("a");
    const b = await pair("b");
    expectRejected(
      () => checkTrust("x.tar", head(MANIFEST), [a.pub]),
      new RegExp(`^x\\.tar is not signed, and deploy\\.trusted_keys requires a signature from one of: ${a.pub.id}`),
    );
    expectRejected(
      () => checkTrust("x.tar", head(MANIFEST, signManifest(MANIFEST, b.priv.key)), [a.pub]),
      new RegExp(`signed by key ${b.pub.id}, which is not in deploy\\.trusted_keys \\(${a.pub.id}\\)`),
    );
    // B's signature, relabelled as A's (key id and public key): it does not verify with A's key.
    const forged = JSON.parse(signManifest(MANIFEST, b.priv.key).toString());
    const real = JSON.parse(signManifest(MANIFEST, a.priv.key).toString());
    const relabelled = Buffer.from(JSON.stringify({ ...forged, key_id: real.key_id, public_key: real.public_key }));
    expectRejected(() => checkTrust("x.tar", head(MANIFEST, relabelled), [a.pub]), /does not match slipway\.json/);
    assert.deepEqual(checkTrust("x.tar", head(MANIFEST, signManifest(MANIFEST, a.priv.key)), [b.pub, a.pub]), { key_id: a.pub.id, trusted: true });
  });
});
