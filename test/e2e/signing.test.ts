import { test } from "node:test";
import assert from "node:assert/strict";
import { chmod, readFile, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import { slipway } from "../support/cli.js";
import { exampleWorkspace } from "../support/build-app.js";

test("cli: keygen, build --sign and build.signing_key, inspect names the key; trusted_keys decides", async () => {
  const ws = await exampleWorkspace("slipway-e2e");
  const prefix = path.join(ws.dir, "ci");
  const k = slipway(["keygen", "--out", prefix, "--json"], { cwd: ws.dir });
  assert.equal(k.code, 0, k.stderr);
  const pair = k.json().at(-1)! as { key_id: string; private_key: string; public_key: string };
  assert.match(pair.key_id, /^[0-9a-f]{16}$/);
  assert.equal((await stat(`${prefix}.key`)).mode & 0o777, 0o600);
  assert.equal(slipway(["keygen", "--out", prefix], { cwd: ws.dir }).code, 2, "no silent overwrite");
  assert.equal(slipway(["keygen"], { cwd: ws.dir }).code, 2, "--out is required");

  const signed = slipway(["build", "--build-id", "sg1", "--sign", `${prefix}.key`], { cwd: ws.app, env: ws.env });
  assert.equal(signed.code, 0, signed.stderr);
  assert.match(signed.stdout, new RegExp(`signed   by key ${pair.key_id}`));
  const artifact = path.join(ws.app, "dist", "hello-sg1.tar");
  assert.match(slipway(["inspect", artifact], { cwd: ws.dir }).stdout, new RegExp(`signed     yes, by key ${pair.key_id} \\(not verified: use --verify\\)`));
  const verified = slipway(["inspect", artifact, "--verify"], { cwd: ws.dir });
  assert.equal(verified.code, 0, verified.stderr);
  assert.match(verified.stdout, new RegExp(`signed     yes, by key ${pair.key_id} \\(signature verified\\)`));

  // build.signing_key, relative to the config; a key others can read is used after a warning.
  await chmod(`${prefix}.key`, 0o644);
  const config = path.join(ws.app, "slipway.toml");
  const text = await readFile(config, "utf8");
  await writeFile(config, text.replace(/^\[build\]$/m, `[build]\nsigning_key = "../ci.key"`));
  const viaConfig = slipway(["build", "--build-id", "sg2"], { cwd: ws.app, env: ws.env });
  assert.equal(viaConfig.code, 0, viaConfig.stderr);
  assert.match(viaConfig.stderr, /warning: .*ci\.key: the signing key is readable by others \(mode 0644\); run `chmod 600 /);
  assert.match(viaConfig.stdout, /signed {3}by key/);

  // trusted_keys in the config: inspect --verify in the app dir says whether this config would deploy it.
  await writeFile(config, text.replace(/^\[deploy\]$/m, `[deploy]\ntrusted_keys = ["../ci.pub"]`));
  const ok = slipway(["inspect", artifact, "--verify"], { cwd: ws.app });
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, new RegExp(`accepted by slipway\\.toml: app, root and interpreter match; signed by trusted key ${pair.key_id}`));
  const unsigned = slipway(["build", "--build-id", "us1"], { cwd: ws.app, env: ws.env });
  assert.equal(unsigned.code, 0, unsigned.stderr);
  const refused = slipway(["inspect", path.join(ws.app, "dist", "hello-us1.tar"), "--verify"], { cwd: ws.app });
  assert.equal(refused.code, 3);
  assert.match(refused.stderr, /is not signed, and deploy\.trusted_keys requires a signature from one of/);

  const missing = slipway(["build", "--build-id", "sg3", "--sign", "nope.key"], { cwd: ws.app, env: ws.env });
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /--sign: cannot read .*nope\.key: ENOENT/);
  assert.doesNotMatch(missing.stderr, /\n\s+at /);
});
