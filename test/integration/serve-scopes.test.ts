// Over real HTTP, with no host contacted (the targets' host is TEST-NET-1 and the target a
// deploy would run on is locked): a token created with `--app A --target staging` deploys to
// staging and gets 403 for prod; and `slipway push` of a build id the server already holds
// passes only for the very same file — another artifact under that id fails (exit 3) naming
// both sha256s, which the server's 409 gives.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { appendFile, copyFile, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { buildWith, exampleWorkspace, type Workspace } from "../support/build-app.js";
import { slipwayAsync } from "../support/cli-async.js";
import { startServer, type RunningServer } from "../../src/serve/server.js";
import { loadServerConfig } from "../../src/serve/config.js";
import { tokenCreate } from "../../src/serve/admin.js";
import { push, PushConflictError } from "../../src/serve/push.js";
import { ExitCode } from "../../src/errors.js";
import { sha256File } from "../../src/util/hash.js";

let ws: Workspace;
let server: RunningServer;
let app: string;
/** Two different artifacts, both built as b1. */
let first: string;
let other: string;
const tokens = {} as Record<"admin" | "staging" | "deployer", string>;

async function call(method: string, url: string, token: string, body?: unknown) {
  const res = await fetch(`${server.url}${url}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { "content-type": "application/json" } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, json: (text ? JSON.parse(text) : {}) as Record<string, unknown>, text };
}

before(async () => {
  ws = await exampleWorkspace("slipway-serve-scopes");
  const file = path.join(ws.app, "slipway.toml");
  app = /^name\s*=\s*"([^"]+)"/m.exec(await readFile(file, "utf8"))![1]!;
  first = path.join(ws.dir, "first.tar");
  other = path.join(ws.dir, "other.tar");
  await copyFile((await buildWith(ws, "b1")).result.artifact, first);
  await appendFile(path.join(ws.app, "hello/app.py"), "\n# another build, the same build id\n");
  await copyFile((await buildWith(ws, "b1")).result.artifact, other);
  const hosts = `hosts = ["deploy@192.0.2.1"]\nrestart = { manager = "none" }\n`;
  await writeFile(file, `${await readFile(file, "utf8")}\n[targets.staging]\n${hosts}\n[targets.prod]\n${hosts}`);
  const serverToml = path.join(ws.dir, "slipway-server.toml");
  await writeFile(serverToml, `[server]\nlisten = "127.0.0.1:0"\ndata = "data"\n[apps.${app}]\nconfig = "${file}"\n`);
  const config = await loadServerConfig(serverToml);
  tokens.admin = tokenCreate(config.dataDir, { name: "admin", role: "admin", app }).token;
  tokens.staging = tokenCreate(config.dataDir, { name: "ci-staging", role: "deployer", app, target: "staging" }).token;
  tokens.deployer = tokenCreate(config.dataDir, { name: "ci", role: "deployer", app }).token;
  server = await startServer({ server: config, log: () => {} });
});

after(async () => {
  await server?.close();
});

test("a token for --app A --target staging deploys to staging and gets 403 for prod of the same app", { timeout: 120_000 }, async () => {
  assert.notEqual(await sha256File(first), await sha256File(other));
  assert.equal((await push({ artifact: first, server: server.url, token: tokens.staging })).status, "stored", "a deployer of one target may upload");
  // Staging is locked, so the deploy queues and never reaches its host.
  assert.equal((await call("POST", `/api/apps/${app}/targets/staging/lock`, tokens.admin, { reason: "hold the queue" })).status, 201);

  const staging = await call("POST", `/api/apps/${app}/targets/staging/deploys`, tokens.staging, { build_id: "b1" });
  assert.equal(staging.status, 202, staging.text);
  assert.equal(staging.json.state, "queued");
  assert.equal(staging.json.user, "ci-staging");
  const prod = await call("POST", `/api/apps/${app}/targets/prod/deploys`, tokens.staging, { build_id: "b1" });
  assert.equal(prod.status, 403, prod.text);
  assert.match(prod.json.error as string, /ci-staging is not allowed on .*\/prod; this needs deployer/);
  assert.equal((await call("POST", `/api/apps/${app}/targets/prod/rollback`, tokens.staging, {})).status, 403);
  assert.equal((await call("POST", `/api/apps/${app}/targets/prod/lock`, tokens.staging, { reason: "x" })).status, 403);
  assert.equal((await call("GET", `/api/apps/${app}/targets/prod`, tokens.staging)).status, 403);
  assert.equal((await call("GET", `/api/apps/${app}/targets/staging`, tokens.staging)).status, 200);
  const apps = await call("GET", "/api/apps", tokens.staging);
  assert.deepEqual(apps.json.apps, [{ name: app, targets: ["staging"] }], "only staging is listed");
  // The same request with an app-wide deployer token is allowed (prod locked too: it only queues).
  assert.equal((await call("POST", `/api/apps/${app}/targets/prod/lock`, tokens.admin, { reason: "hold the queue" })).status, 201);
  const appWide = await call("POST", `/api/apps/${app}/targets/prod/deploys`, tokens.deployer, { build_id: "b1" });
  assert.equal(appWide.status, 202, appWide.text);
  for (const id of [staging.json.id, appWide.json.id]) assert.equal((await call("POST", `/api/deploys/${id}/cancel`, tokens.admin)).json.state, "cancelled");
  const rows = server.db.prepare("SELECT state FROM deploys").all() as { state: string }[];
  assert.deepEqual(
    rows.map((r) => r.state),
    ["cancelled", "cancelled"],
    "only the two allowed deploys were queued",
  );
});

test("push: the same file again is 'already stored'; another artifact under that build id fails naming both sha256s", { timeout: 120_000 }, async () => {
  const ours = await sha256File(first);
  const theirs = await sha256File(other);
  const again = await push({ artifact: first, server: server.url, token: tokens.deployer });
  assert.equal(again.status, "already stored");
  assert.equal(again.sha256, ours);

  // The server's 409 names what it holds (and OpenAPI documents it).
  const raw = await fetch(`${server.url}/api/apps/${app}/artifacts/b1`, {
    method: "PUT",
    headers: { authorization: `Bearer ${tokens.deployer}`, "content-type": "application/x-tar" },
    body: await readFile(other),
  });
  assert.equal(raw.status, 409);
  assert.deepEqual(await raw.json(), {
    error: `artifact ${app}/b1 is already stored`,
    hint: "a build id names one artifact: build again to get a new one",
    build_id: "b1",
    sha256: ours,
  });
  const doc = (await (await fetch(`${server.url}/api/openapi.json`)).json()) as {
    paths: Record<string, Record<string, { responses: Record<string, { content: { "application/json": { schema: { properties: object } } } }> }>>;
  };
  const conflict = doc.paths["/api/apps/{app}/artifacts/{build_id}"]!.put!.responses["409"]!;
  assert.ok("sha256" in conflict.content["application/json"].schema.properties);

  await assert.rejects(push({ artifact: other, server: server.url, token: tokens.deployer }), (err: unknown) => {
    assert.ok(err instanceof PushConflictError, String(err));
    assert.equal(err.exitCode, ExitCode.rejected);
    assert.match(err.message, new RegExp(`different artifact as ${app} b1: sha256 ${ours} there, ${theirs} in `));
    assert.match(err.hint ?? "", /new --build-id/);
    return true;
  });

  // The CLI: exit 3 with the message, and nothing printed as success.
  const cli = await slipwayAsync(["push", other, "--server", server.url], { cwd: ws.dir, env: { ...process.env, SLIPWAY_TOKEN: tokens.deployer } });
  assert.equal(cli.code, ExitCode.rejected, cli.stderr);
  assert.match(cli.stderr, /already holds a different artifact/);
  assert.doesNotMatch(cli.stdout, /already stored/);
  const same = await slipwayAsync(["push", first, "--server", server.url], { cwd: ws.dir, env: { ...process.env, SLIPWAY_TOKEN: tokens.deployer } });
  assert.equal(same.code, 0, same.stderr);
  assert.match(same.stdout, /b1: already stored/);
  assert.equal(
    (server.db.prepare("SELECT sha256 FROM artifacts WHERE build_id = 'b1'").get() as { sha256: string }).sha256,
    ours,
    "the stored one is unchanged",
  );
});
