// `slipway push --to oci://`: the artifact's OCI image pushed to Debian's docker-registry
// (distribution 2.8) started here: blobs the registry has are skipped (HEAD, then nothing sent),
// chunked and monolithic uploads, skopeo copies it back with the same digests, and Basic and
// Bearer-token auth (a token server here, signing RS256 JWTs with a self-signed certificate).
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { createHash, createSign, randomBytes, timingSafeEqual } from "node:crypto";
import { existsSync } from "node:fs";
import { appendFile, mkdir, readFile, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import path from "node:path";
import { promisify } from "node:util";
import { buildWith, exampleWorkspace, type Workspace } from "../support/build-app.js";
import { slipway } from "../support/cli.js";
import { freePort } from "../support/supervisor.js";
import type { SlipwayEvent } from "../../src/events.js";
import { pushImage } from "../../src/oci/push.js";
import { RegistryError } from "../../src/oci/registry.js";

const exec = promisify(execFile);
const REPO = "team/hello";
let ws: Workspace;
let b1: string;
let b2: string;
const running: ChildProcess[] = [];

before(async () => {
  ws = await exampleWorkspace("slipway-oci-push");
  b1 = (await buildWith(ws, "b1")).result.artifact;
  await appendFile(path.join(ws.app, "hello", "app.py"), "\n# code-only change\n");
  b2 = (await buildWith(ws, "b2")).result.artifact;
});

after(() => {
  for (const p of running) if (p.exitCode === null) p.kill("SIGKILL");
});

interface Registry {
  port: number;
  dir: string;
  pid: number;
  /** The registry's request log: one entry per response. */
  requests: () => Promise<{ method: string; uri: string; status: number }[]>;
  stop: () => Promise<void>;
}

/** docker-registry with its own config: storage in a temp dir, http on 127.0.0.1:<free port>. */
async function startRegistry(name: string, auth = ""): Promise<Registry> {
  const dir = path.join(ws.dir, name);
  await mkdir(dir, { recursive: true });
  const port = await freePort();
  const config = path.join(dir, "config.yml");
  await writeFile(
    config,
    `version: 0.1\nlog:\n  level: info\n  formatter: json\nstorage:\n  filesystem:\n    rootdirectory: ${dir}/data\nhttp:\n  addr: 127.0.0.1:${port}\n${auth}`,
  );
  const logFile = path.join(dir, "registry.log");
  let log = "";
  const child = spawn("docker-registry", ["serve", config], { stdio: ["ignore", "pipe", "pipe"] });
  running.push(child);
  child.stdout!.on("data", (c: Buffer) => (log += c.toString()));
  child.stderr!.on("data", (c: Buffer) => (log += c.toString()));
  const exited = new Promise<void>((resolve) => child.on("exit", () => resolve()));
  for (let i = 0; ; i++) {
    const r = await fetch(`http://127.0.0.1:${port}/v2/`).catch(() => undefined);
    if (r && (r.status === 200 || r.status === 401)) break;
    if (i > 100 || child.exitCode !== null) throw new Error(`docker-registry did not start:\n${log}`);
    await new Promise((res) => setTimeout(res, 100));
  }
  return {
    port,
    dir,
    pid: child.pid!,
    requests: async () => {
      await writeFile(logFile, log);
      return log
        .split("\n")
        .filter((l) => l.startsWith("{") && l.includes('"http.response.status"'))
        .map((l) => JSON.parse(l) as Record<string, unknown>)
        .map((e) => ({ method: e["http.request.method"] as string, uri: e["http.request.uri"] as string, status: e["http.response.status"] as number }));
    },
    stop: async () => {
      process.kill(child.pid!, "SIGTERM");
      await exited;
    },
  };
}

/** The registry's own copy of a blob (filesystem driver layout). */
function storedBlob(reg: Registry, digest: string): string {
  const hex = digest.slice(7);
  return path.join(reg.dir, "data", "docker", "registry", "v2", "blobs", "sha256", hex.slice(0, 2), hex, "data");
}

async function layoutManifest(layout: string, ref: string): Promise<{ digest: string; bytes: Buffer; json: { layers: { digest: string }[] } }> {
  const index = JSON.parse(await readFile(path.join(layout, "index.json"), "utf8")) as {
    manifests: { digest: string; annotations: Record<string, string> }[];
  };
  const d = index.manifests.find((m) => m.annotations["org.opencontainers.image.ref.name"] === ref)!;
  const bytes = await readFile(path.join(layout, "blobs", "sha256", d.digest.slice(7)));
  return { digest: d.digest, bytes, json: JSON.parse(bytes.toString("utf8")) };
}

/** An environment with no registry credentials anywhere (no env vars, an empty docker config). */
async function noCredentials(): Promise<NodeJS.ProcessEnv> {
  const home = path.join(ws.dir, "empty-home");
  await mkdir(home, { recursive: true });
  return { HOME: home };
}

test("push: HEAD before upload skips the shared venv layer; chunked and monolithic uploads; skopeo copies it back with the same digests", {
  timeout: 300_000,
}, async () => {
  const reg = await startRegistry("plain");
  try {
    const to = `oci+http://127.0.0.1:${reg.port}/${REPO}`;
    const layout = path.join(ws.dir, "push.oci");
    const events: SlipwayEvent[] = [];
    const emit = (e: SlipwayEvent) => events.push(e);

    // b1 in 256 KiB chunks: the venv layer goes up in PATCHes.
    const r1 = await pushImage({ cwd: ws.app, artifact: b1, to, layout, chunkSize: 256 * 1024, emit, env: await noCredentials() });
    const m1 = await layoutManifest(layout, "b1");
    assert.equal(r1.ref, `127.0.0.1:${reg.port}/${REPO}:b1`);
    assert.equal(r1.digest, m1.digest);
    assert.equal(r1.blobs.length, 3);
    assert.ok(
      r1.blobs.every((b) => !b.skipped),
      "a new registry has nothing",
    );
    const venv = r1.blobs[0]!;
    assert.equal(venv.digest, m1.json.layers[0]!.digest);
    assert.ok(venv.size > 256 * 1024, `the venv layer (${venv.size} bytes) is above the chunk size`);
    const venvProgress = events.filter((e) => e.type === "transfer" && e.layer === "venv");
    assert.equal(venvProgress.length, 1 + Math.ceil(venv.size / (256 * 1024)), "one progress event per chunk");
    const reqs1 = await reg.requests();
    assert.equal(reqs1.filter((r) => r.method === "PATCH" && r.status === 202).length, Math.ceil(venv.size / (256 * 1024)));
    for (const b of r1.blobs) assert.equal((await readFile(storedBlob(reg, b.digest))).length, b.size, `${b.digest} stored whole`);

    // b2, a code-only change: the venv blob is HEADed (200) and not sent again.
    const before2 = reqs1.length;
    const r2 = await pushImage({ cwd: ws.app, artifact: b2, to, layout, emit, env: await noCredentials() });
    const m2 = await layoutManifest(layout, "b2");
    assert.equal(r2.digest, m2.digest);
    assert.deepEqual(
      r2.blobs.map((b) => b.skipped),
      [true, false, false],
      "venv skipped; code layer and config sent",
    );
    assert.equal(r2.blobs[0]!.digest, venv.digest);
    const reqs2 = (await reg.requests()).slice(before2);
    const short = (u: string) => u.replace(/\?.*$/, "?…").replace(/sha256:(\w{12})\w+/, "sha256:$1…");
    console.log(`registry log, push of b2 (venv ${short(venv.digest)}): ${reqs2.map((r) => `${r.method} ${short(r.uri)} ${r.status}`).join("; ")}`);
    const venvUri = `/v2/${REPO}/blobs/${venv.digest}`;
    assert.deepEqual(
      reqs2.filter((r) => r.uri === venvUri).map((r) => [r.method, r.status]),
      [["HEAD", 200]],
      "the venv blob: one HEAD, nothing else",
    );
    assert.equal(reqs2.filter((r) => r.uri.includes(`digest=${encodeURIComponent(venv.digest)}`) || r.uri.includes(`digest=${venv.digest}`)).length, 0);
    assert.equal(reqs2.filter((r) => r.method === "PATCH").length, 0, "small blobs go up monolithic");
    assert.equal(reqs2.filter((r) => r.method === "PUT" && r.uri.includes("/blobs/uploads/") && r.status === 201).length, 2);
    assert.ok(reqs2.some((r) => r.method === "PUT" && r.uri === `/v2/${REPO}/manifests/b2` && r.status === 201));

    // skopeo copies b2 back into a layout: the same manifest, byte for byte, and the same layers.
    const copy = path.join(ws.dir, "copy.oci");
    const beforeCopy = (await reg.requests()).length;
    await exec("skopeo", ["copy", "--src-tls-verify=false", `docker://127.0.0.1:${reg.port}/${REPO}:b2`, `oci:${copy}:b2`]);
    const c = await layoutManifest(copy, "b2");
    assert.equal(c.digest, r2.digest);
    assert.deepEqual(c.bytes, m2.bytes);
    assert.deepEqual(
      c.json.layers.map((l) => l.digest),
      m2.json.layers.map((l) => l.digest),
    );
    for (const l of c.json.layers) {
      const bytes = await readFile(path.join(copy, "blobs", "sha256", l.digest.slice(7)));
      assert.equal(`sha256:${createHash("sha256").update(bytes).digest("hex")}`, l.digest);
    }
    const served = (await reg.requests()).slice(beforeCopy).filter((r) => r.method === "GET" && r.status === 200);
    console.log(`registry served to skopeo: ${served.map((r) => short(r.uri)).join(", ")}`);

    // The CLI: --to pushes (everything already there, the same digest); exactly one of --server and --to.
    const cli = slipway(["--json", "push", b2, "--to", to], { cwd: ws.app, env: { ...ws.env, ...(await noCredentials()) } });
    assert.equal(cli.code, 0, cli.stderr);
    const result = cli.json().at(-1) as { result?: { digest: string; blobs: { skipped: boolean }[] } } & { digest?: string; blobs?: { skipped: boolean }[] };
    const res = result.result ?? result;
    assert.equal(res.digest, r2.digest);
    assert.ok(res.blobs!.every((b) => b.skipped));
    for (const args of [
      ["push", b2],
      ["push", b2, "--to", to, "--server", "http://127.0.0.1:1"],
      ["push", b2, "--to", `docker://127.0.0.1:${reg.port}/${REPO}`],
      ["push", b2, "--to", `oci+http://127.0.0.1:${reg.port}/Team/Hello`],
    ]) {
      const u = slipway(args, { cwd: ws.app, env: ws.env });
      assert.equal(u.code, 2, `${args.join(" ")}: ${u.stderr}`);
      assert.match(u.stderr, /--to|--server/);
    }
  } finally {
    await reg.stop();
  }
});

test("push: Basic auth (htpasswd): no credentials is a clear 401; SLIPWAY_REGISTRY_* or ~/.docker/config.json work; secrets never reach events or errors", {
  timeout: 300_000,
}, async () => {
  const password = `pw-${randomBytes(8).toString("hex")}`;
  const htpasswd = path.join(ws.dir, "htpasswd");
  await writeFile(htpasswd, (await exec("htpasswd", ["-Bbn", "ci", password])).stdout);
  const reg = await startRegistry("basic", `auth:\n  htpasswd:\n    realm: slipway-test\n    path: ${htpasswd}\n`);
  try {
    const to = `oci+http://127.0.0.1:${reg.port}/${REPO}`;
    const events: SlipwayEvent[] = [];
    const emit = (e: SlipwayEvent) => events.push(e);
    const err = await pushImage({ cwd: ws.app, artifact: b1, to, emit, env: await noCredentials() }).then(
      () => assert.fail("pushed without credentials"),
      (e: unknown) => e,
    );
    assert.ok(err instanceof RegistryError, String(err));
    assert.equal(err.status, 401);
    assert.equal(err.registry, `127.0.0.1:${reg.port}`);
    assert.equal(err.step, "check blob");
    assert.match(err.message, /Basic/);
    assert.match(err.hint ?? "", /SLIPWAY_REGISTRY_USER/);

    const wrong = await pushImage({
      cwd: ws.app,
      artifact: b1,
      to,
      emit,
      env: { SLIPWAY_REGISTRY_USER: "ci", SLIPWAY_REGISTRY_PASSWORD: "nope-not-it" },
    }).catch((e: unknown) => e);
    assert.ok(wrong instanceof RegistryError);
    assert.match(wrong.message, /"ci" were refused/);
    assert.doesNotMatch(`${wrong.message} ${wrong.hint}`, /nope-not-it/);

    const r = await pushImage({ cwd: ws.app, artifact: b1, to, emit, env: { SLIPWAY_REGISTRY_USER: "ci", SLIPWAY_REGISTRY_PASSWORD: password } });
    assert.ok(r.blobs.every((b) => !b.skipped));
    assert.ok(existsSync(storedBlob(reg, r.digest)));

    // From a docker config (DOCKER_CONFIG/config.json, auths keyed by host:port).
    const dockerDir = path.join(ws.dir, "docker-config");
    await mkdir(dockerDir, { recursive: true });
    await writeFile(
      path.join(dockerDir, "config.json"),
      JSON.stringify({ auths: { [`127.0.0.1:${reg.port}`]: { auth: Buffer.from(`ci:${password}`).toString("base64") } } }),
    );
    const r2 = await pushImage({ cwd: ws.app, artifact: b2, to, emit, env: { DOCKER_CONFIG: dockerDir } });
    assert.deepEqual(
      r2.blobs.map((b) => b.skipped),
      [true, false, false],
    );
    const basic = Buffer.from(`ci:${password}`).toString("base64");
    assert.doesNotMatch(JSON.stringify(events), new RegExp(`${password}|${basic}`));
  } finally {
    await reg.stop();
  }
});

test("push: Bearer token auth: a token from the realm (with Basic credentials), cached per scope; refused without credentials", {
  timeout: 300_000,
}, async () => {
  // The token server's key and self-signed certificate; the certificate is the registry's rootcertbundle.
  const dir = path.join(ws.dir, "token");
  await mkdir(dir, { recursive: true });
  await exec("openssl", [
    "req",
    "-x509",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-keyout",
    `${dir}/key.pem`,
    "-out",
    `${dir}/cert.pem`,
    "-days",
    "1",
    "-subj",
    "/CN=slipway-test-token",
  ]);
  const key = await readFile(`${dir}/key.pem`, "utf8");
  const certDer = (await readFile(`${dir}/cert.pem`, "utf8")).replace(/-----[^-]+-----|\s/g, "");
  const password = `pw-${randomBytes(8).toString("hex")}`;
  const want = createHash("sha256").update(`ci:${password}`).digest();
  const issued: string[] = [];
  const asked: string[] = [];
  const b64url = (v: object) => Buffer.from(JSON.stringify(v)).toString("base64url");
  const tokenServer: Server = createServer((req, res) => {
    const u = new URL(req.url ?? "/", "http://x");
    const auth = req.headers.authorization ?? "";
    const given = createHash("sha256")
      .update(auth.startsWith("Basic ") ? Buffer.from(auth.slice(6), "base64").toString("utf8") : "")
      .digest();
    if (!timingSafeEqual(given, want)) {
      res.writeHead(401, { "content-type": "application/json" }).end('{"details":"who are you"}');
      return;
    }
    const scope = u.searchParams.get("scope") ?? "";
    asked.push(scope);
    const [type, name, actions] = scope.split(":");
    const now = Math.floor(Date.now() / 1000);
    const head = b64url({ alg: "RS256", typ: "JWT", x5c: [certDer] });
    const claims = b64url({
      iss: "slipway-test-issuer",
      sub: "ci",
      aud: u.searchParams.get("service"),
      exp: now + 300,
      nbf: now - 10,
      iat: now,
      jti: randomBytes(8).toString("hex"),
      access: type ? [{ type, name, actions: (actions ?? "").split(",") }] : [],
    });
    const token = `${head}.${claims}.${createSign("RSA-SHA256").update(`${head}.${claims}`).sign(key, "base64url")}`;
    issued.push(token);
    res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ token, expires_in: 300 }));
  });
  const tport = await freePort();
  await new Promise<void>((resolve) => tokenServer.listen(tport, "127.0.0.1", resolve));
  const reg = await startRegistry(
    "bearer",
    `auth:\n  token:\n    realm: http://127.0.0.1:${tport}/token\n    service: slipway-test\n    issuer: slipway-test-issuer\n    rootcertbundle: ${dir}/cert.pem\n`,
  );
  try {
    const to = `oci+http://127.0.0.1:${reg.port}/${REPO}`;
    const events: SlipwayEvent[] = [];
    const emit = (e: SlipwayEvent) => events.push(e);
    const err = await pushImage({ cwd: ws.app, artifact: b1, to, emit, env: await noCredentials() }).catch((e: unknown) => e);
    assert.ok(err instanceof RegistryError, String(err));
    assert.equal(err.step, "get token");
    assert.equal(err.status, 401);
    assert.match(err.message, /token server .* refused an anonymous request for scope "repository:team\/hello:pull"/);

    const env = { SLIPWAY_REGISTRY_USER: "ci", SLIPWAY_REGISTRY_PASSWORD: password };
    const r1 = await pushImage({ cwd: ws.app, artifact: b1, to, emit, env });
    assert.ok(r1.blobs.every((b) => !b.skipped));
    // One token per scope: pull (HEAD), then pull,push (uploads and the manifest) — not one per request.
    // (distribution lists the actions of a scope in no fixed order.)
    const scopes = () => asked.map((a) => a.replace(/:([a-z,]+)$/, (_, acts: string) => `:${acts.split(",").sort().join(",")}`));
    assert.deepEqual(scopes(), [`repository:${REPO}:pull`, `repository:${REPO}:pull,push`]);
    const r2 = await pushImage({ cwd: ws.app, artifact: b2, to, emit, env });
    assert.deepEqual(
      r2.blobs.map((b) => b.skipped),
      [true, false, false],
    );
    assert.equal(asked.length, 4, "a new push (a new client) asks again");
    const leaks = JSON.stringify(events);
    for (const t of issued) assert.ok(!leaks.includes(t), "a token reached an event");
    assert.ok(!leaks.includes(password));
    // What was pushed reads back through the same auth.
    const inspect = JSON.parse(
      (await exec("skopeo", ["inspect", "--tls-verify=false", "--creds", `ci:${password}`, `docker://127.0.0.1:${reg.port}/${REPO}:b2`])).stdout,
    );
    assert.equal(inspect.Digest, r2.digest);
  } finally {
    await reg.stop();
    tokenServer.close();
  }
});
