// `slipway push --to s3://`: an S3 store is OpenStack Swift's s3api middleware (Debian's swift
// packages) started here (test/support/swift-s3.ts). Layers land by content, a second push sends
// none of them (counted in Swift's access log), and bad input fails naming what and where,
// with nothing secret in the output.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { copyFile, mkdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { promisify } from "node:util";
import { CreateBucketCommand, GetObjectCommand, HeadObjectCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";
import { build } from "../../src/commands/build.js";
import { readHead } from "../../src/artifact/read.js";
import { buildWith, exampleWorkspace, type Workspace } from "../support/build-app.js";
import { slipway, type CliRun } from "../support/cli.js";
import { tmpDir } from "../support/tmp.js";
import { startSwiftS3, type SwiftS3 } from "../support/swift-s3.js";

const exec = promisify(execFile);
let swift: SwiftS3;
let ws: Workspace;
let b1: string;
let b2: string;

before(async () => {
  swift = await startSwiftS3(await tmpDir("slipway-s3"));
  ws = await exampleWorkspace("slipway-s3-push");
  b1 = (await buildWith(ws, "b1")).result.artifact;
  await writeFile(path.join(ws.app, "hello", "app.py"), `${await readFile(path.join(ws.app, "hello", "app.py"), "utf8")}\n# code-only change\n`);
  b2 = (await buildWith(ws, "b2")).result.artifact;
  await client(swift).send(new CreateBucketCommand({ Bucket: "artifacts" }));
});

after(async () => {
  await swift?.stop();
});

function client(s: SwiftS3, secret = s.secretAccessKey): S3Client {
  return new S3Client({
    endpoint: s.endpoint,
    region: s.region,
    forcePathStyle: true,
    credentials: { accessKeyId: s.accessKeyId, secretAccessKey: secret },
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
  });
}

test("swift s3api: the AWS SDK creates a bucket, puts, heads and gets an object; curl reads a presigned GET URL", { timeout: 60_000 }, async () => {
  const s3 = client(swift);
  await s3.send(new CreateBucketCommand({ Bucket: "probe" }));
  await s3.send(new PutObjectCommand({ Bucket: "probe", Key: "a/b.txt", Body: "hello swift\n" }));
  const head = await s3.send(new HeadObjectCommand({ Bucket: "probe", Key: "a/b.txt" }));
  assert.equal(head.ContentLength, 12);
  const got = await s3.send(new GetObjectCommand({ Bucket: "probe", Key: "a/b.txt" }));
  assert.equal(await got.Body!.transformToString(), "hello swift\n");
  const url = await getSignedUrl(s3, new GetObjectCommand({ Bucket: "probe", Key: "a/b.txt" }), { expiresIn: 60 });
  const { stdout } = await exec("curl", ["-fsS", url]);
  assert.equal(stdout, "hello swift\n");
  // A tampered signature is refused: the URL's signature is what grants the read.
  const bad = url.replace(/X-Amz-Signature=([0-9a-f])/, (_, c: string) => `X-Amz-Signature=${c === "0" ? "1" : "0"}`);
  await assert.rejects(exec("curl", ["-fsS", bad]));
  await assert.rejects(client(swift, "wrong-secret").send(new HeadObjectCommand({ Bucket: "probe", Key: "a/b.txt" })));
  const seen = await swift.requests();
  assert.ok(
    seen.some((r) => r.method === "PUT" && r.path === "/probe/a/b.txt" && r.status === 200),
    JSON.stringify(seen),
  );
});

/** The CLI with the store's endpoint and credentials in the AWS SDK's standard variables (and nothing from ~/.aws). */
function push(artifact: string, to: string, over: NodeJS.ProcessEnv = {}, json = true): CliRun {
  const env: NodeJS.ProcessEnv = {
    PATH: process.env["PATH"],
    HOME: path.join(ws.dir, "home"),
    AWS_EC2_METADATA_DISABLED: "true",
    AWS_ENDPOINT_URL_S3: swift.endpoint,
    AWS_ACCESS_KEY_ID: swift.accessKeyId,
    AWS_SECRET_ACCESS_KEY: swift.secretAccessKey,
    ...over,
  };
  for (const [k, v] of Object.entries(env)) if (v === undefined) delete env[k];
  return slipway(["push", artifact, "--to", to, ...(json ? ["--json"] : [])], { cwd: ws.app, env });
}

const puts = async (from: number) => (await swift.requests()).slice(from).filter((r) => r.method === "PUT");

function assertNoSecret(r: CliRun): void {
  const all = r.stdout + r.stderr;
  assert.ok(!all.includes(swift.secretAccessKey), "the secret key is in the output");
  assert.ok(!/X-Amz-Signature=[0-9a-f]/i.test(all), "a request signature is in the output");
}

async function objectBytes(key: string): Promise<Buffer> {
  const got = await client(swift).send(new GetObjectCommand({ Bucket: "artifacts", Key: key }));
  return Buffer.from(await got.Body!.transformToByteArray());
}

test("push --to s3://: layers by content, manifest by build id; a second push sends no layer, a code-only build only the code", {
  timeout: 300_000,
}, async () => {
  await mkdir(path.join(ws.dir, "home"), { recursive: true });
  const head = await readHead(b1);
  let mark = (await swift.requests()).length;
  const r1 = push(b1, "s3://artifacts/team/hello/");
  assert.equal(r1.code, 0, r1.stderr);
  assertNoSecret(r1);
  const result = r1.json().at(-1) as unknown as { blobs: { name: string; key: string; sha256: string; skipped: boolean }[]; manifest: string };
  assert.equal(result.manifest, "team/hello/manifests/b1.json");
  for (const layer of head.manifest.layers) {
    const key = `team/hello/blobs/sha256/${layer.sha256}`;
    const b = result.blobs.find((x) => x.name === layer.name)!;
    assert.deepEqual([b.key, b.skipped], [key, false]);
    const bytes = await objectBytes(key);
    assert.equal(bytes.length, layer.size);
    assert.equal(createHash("sha256").update(bytes).digest("hex"), layer.sha256, `${key} holds other bytes`);
  }
  assert.deepEqual(await objectBytes("team/hello/manifests/b1.json"), head.manifestBytes);
  assert.deepEqual(
    (await puts(mark)).map((p) => p.path).sort(),
    [...head.manifest.layers.map((l) => `/artifacts/team/hello/blobs/sha256/${l.sha256}`), "/artifacts/team/hello/manifests/b1.json"].sort(),
  );

  // The same artifact again: HEADs, and only the manifest is written.
  mark = (await swift.requests()).length;
  const again = push(b1, "s3://artifacts/team/hello");
  assert.equal(again.code, 0, again.stderr);
  assert.deepEqual(
    (await puts(mark)).map((p) => p.path),
    ["/artifacts/team/hello/manifests/b1.json"],
  );
  assert.ok((again.json().at(-1) as unknown as typeof result).blobs.every((b) => b.skipped));

  // A code-only build: the venv layer (same venv key) is already there.
  const h2 = await readHead(b2);
  const code2 = h2.manifest.layers.find((l) => l.name === "code")!;
  assert.equal(h2.manifest.layers.find((l) => l.name === "venv")!.sha256, head.manifest.layers.find((l) => l.name === "venv")!.sha256);
  mark = (await swift.requests()).length;
  const r2 = push(b2, "s3://artifacts/team/hello");
  assert.equal(r2.code, 0, r2.stderr);
  assert.deepEqual(
    (await puts(mark)).map((p) => p.path),
    [`/artifacts/team/hello/blobs/sha256/${code2.sha256}`, "/artifacts/team/hello/manifests/b2.json"],
  );
});

test("push --to s3://: a signed artifact's signature lands beside its manifest", { timeout: 300_000 }, async () => {
  const keys = path.join(ws.dir, "signing");
  const kg = slipway(["keygen", "--out", keys], { cwd: ws.app });
  assert.equal(kg.code, 0, kg.stderr);
  const signed = (await build({ cwd: ws.app, env: ws.env, buildId: "b3", sign: `${keys}.key` })).artifact;
  const head = await readHead(signed);
  assert.ok(head.signature);
  const r = push(signed, "s3://artifacts/signed");
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(await objectBytes("signed/manifests/b3.json.sig"), head.signature);
  assert.deepEqual(await objectBytes("signed/manifests/b3.json"), head.manifestBytes);
});

test("push --to s3://: bad URL, missing bucket, bad credentials, no credentials, no store: clear errors, exit codes, nothing secret", {
  timeout: 300_000,
}, async () => {
  await mkdir(path.join(ws.dir, "home"), { recursive: true });
  const mark = (await swift.requests()).length;

  const badUrl = push(b1, "s3://Not_A_Bucket/x", {}, false);
  assert.equal(badUrl.code, 2, badUrl.stderr);
  assert.match(badUrl.stderr, /"Not_A_Bucket" is not a bucket name/);
  const dots = push(b1, "s3://artifacts/a/../b", {}, false);
  assert.equal(dots.code, 2, dots.stderr);
  assert.match(dots.stderr, /is not a key prefix/);

  const missing = push(b1, "s3://no-such-bucket/x", {}, false);
  assert.equal(missing.code, 1, missing.stderr);
  assert.match(missing.stderr, /s3:\/\/no-such-bucket\/x at http:\/\/127\.0\.0\.1:\d+: check the bucket failed \(HTTP 404\): the bucket does not exist/);

  const wrong = push(b1, "s3://artifacts/x", { AWS_SECRET_ACCESS_KEY: "not-the-secret-0123456789" }, false);
  assert.equal(wrong.code, 1, wrong.stderr);
  assert.match(wrong.stderr, /s3:\/\/artifacts\/x at http:\/\/127\.0\.0\.1:\d+: check the bucket failed \(HTTP 403\)/);
  assert.match(wrong.stderr, /AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY/);
  assert.ok(!wrong.stderr.includes("not-the-secret-0123456789"));
  assertNoSecret(wrong);

  const none = push(b1, "s3://artifacts/x", { AWS_ACCESS_KEY_ID: undefined, AWS_SECRET_ACCESS_KEY: undefined }, false);
  assert.equal(none.code, 2, none.stderr);
  assert.match(none.stderr, /no AWS credentials found/);

  const down = push(b1, "s3://artifacts/x", { AWS_ENDPOINT_URL_S3: "http://127.0.0.1:9", AWS_MAX_ATTEMPTS: "1" }, false);
  assert.equal(down.code, 1, down.stderr);
  assert.match(down.stderr, /s3:\/\/artifacts\/x at http:\/\/127\.0\.0\.1:9: check the bucket failed: cannot reach the store \(ECONNREFUSED\)/);
  assertNoSecret(down);

  const badEndpoint = push(b1, "s3://artifacts/x", { AWS_ENDPOINT_URL_S3: "ftp://127.0.0.1:9" }, false);
  assert.equal(badEndpoint.code, 2, badEndpoint.stderr);
  assert.match(badEndpoint.stderr, /AWS_ENDPOINT_URL_S3: ftp: is not http: or https:/);

  assert.deepEqual(await puts(mark), [], "nothing was written");
});

test("push --to s3://: a tampered artifact is refused (exit 3) before anything is written", { timeout: 300_000 }, async () => {
  const bad = path.join(ws.dir, "tampered.tar");
  await copyFile(b1, bad);
  const bytes = await readFile(bad);
  bytes[bytes.length >> 1] = bytes[bytes.length >> 1]! ^ 0xff;
  await writeFile(bad, bytes);
  const mark = (await swift.requests()).length;
  const r = push(bad, "s3://artifacts/tampered");
  assert.equal(r.code, 3, r.stderr);
  assert.deepEqual(await puts(mark), []);
});

test("s3 URLs and keys; redaction of signatures and secrets; SDK errors mapped to what, where and exit code", async () => {
  const { parseS3Url, blobKey, manifestKey } = await import("../../src/s3/url.js");
  const { redact, fromSdk } = await import("../../src/s3/errors.js");
  assert.deepEqual(parseS3Url("s3://artifacts"), { bucket: "artifacts", prefix: "" });
  assert.deepEqual(parseS3Url("s3://artifacts/a/b/"), { bucket: "artifacts", prefix: "a/b" });
  assert.equal(blobKey({ bucket: "x", prefix: "" }, "a".repeat(64)), `blobs/sha256/${"a".repeat(64)}`);
  assert.equal(manifestKey({ bucket: "x", prefix: "p/q" }, "42"), "p/q/manifests/42.json");
  for (const bad of ["s3:/x", "https://x/y", "s3://ab", "s3://user:pw@bucket/x", "s3://bucket//x", "s3://bucket/a/./b", "s3://192.168.1.1/x"])
    assert.throws(
      () => parseS3Url(bad),
      (e: { exitCode?: number }) => e.exitCode === 2,
      bad,
    );
  const url = "http://h/b/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIA%2F1&X-Amz-Signature=abcdef0123&X-Amz-SignedHeaders=host";
  const out = redact(`${url} Authorization: AWS4-HMAC-SHA256 Credential=AKIA/x, Signature=deadbeef sekrit-value`, ["sekrit-value"]);
  assert.doesNotMatch(out, /abcdef0123|deadbeef|sekrit-value|AKIA/);
  assert.match(out, /X-Amz-Signature=REDACTED/);
  const denied = fromSdk({ name: "SignatureDoesNotMatch", message: "no", $metadata: { httpStatusCode: 403 } }, "s3://b/k at http://h", "upload a blob");
  assert.equal(denied.exitCode, 1);
  assert.match(denied.message, /^s3:\/\/b\/k at http:\/\/h: upload a blob failed \(HTTP 403\): SignatureDoesNotMatch: no$/);
  assert.equal(fromSdk({ name: "CredentialsProviderError", message: "x" }, "s3://b at AWS S3", "check the bucket").exitCode, 2);
  assert.match(
    fromSdk({ name: "Error", cause: { code: "ECONNREFUSED" } }, "s3://b at http://h", "check the bucket").message,
    /cannot reach the store \(ECONNREFUSED\)/,
  );
});
