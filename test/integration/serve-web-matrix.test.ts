// The dashboard's routes × roles, on the real server (no remote host is contacted: every action
// here is refused, or finds nothing to do, before a deploy would start): logged out, viewer,
// deployer, admin, and an admin of another app; plus a cross-origin POST with a good session.
// Then: no token or session cookie in the server's log, nor in the events and audit tables; and
// the audit rows of logins, logouts and the restart step that interrupts a deploy a dead server
// left running (on a local target, whose host lock it releases).
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import Database from "better-sqlite3";
import { copyExampleApp, tmpDir } from "../support/tmp.js";
import { startServer, type RunningServer } from "../../src/serve/server.js";
import { loadServerConfig } from "../../src/serve/config.js";
import { tokenCreate } from "../../src/serve/admin.js";
import { openDb } from "../../src/serve/db.js";

let server: RunningServer;
let dbFile: string;
let root: string;
const cookies: Record<string, string> = {};
const tokens: string[] = [];
const logLines: string[] = [];
let deployId = 0;
let leftRunning = 0;

before(async () => {
  const dir = await tmpDir("slipway-web-matrix");
  root = path.join(dir, "root");
  const app = await copyExampleApp("hello", path.join(dir, "app"), { root, pipArgs: [] });
  const file = path.join(app, "slipway.toml");
  // A target whose host is never contacted (TEST-NET-1). The example's target `local` is this
  // machine (no ssh), under `root`.
  await writeFile(file, `${await readFile(file, "utf8")}\n[targets.t]\nhosts = ["deploy@192.0.2.1"]\nrestart = { manager = "none" }\n`);
  await writeFile(path.join(dir, "slipway-server.toml"), `[server]\nlisten = "127.0.0.1:0"\ndata = "data"\n[apps.hello]\nconfig = "${file}"\n`);
  const config = await loadServerConfig(path.join(dir, "slipway-server.toml"));
  dbFile = path.join(config.dataDir, "slipway.db");
  for (const [name, role, appName] of [
    ["viewer", "viewer", "hello"],
    ["deployer", "deployer", "hello"],
    ["admin", "admin", "hello"],
    ["other", "admin", "other"],
  ] as const) {
    tokens.push(tokenCreate(config.dataDir, { name, role, app: appName }).token);
  }
  // What a server killed mid-deploy leaves: the deploy "running" (by this machine, a dead pid)
  // and the host lock that run took on the local target.
  const runner = { from: os.hostname(), pid: 2 ** 22 + 7 };
  const db = openDb(dbFile);
  leftRunning = Number(
    db
      .prepare(
        "INSERT INTO deploys (app, target, kind, build_id, state, user, via, created_at, started_at, runner) VALUES ('hello', 'local', 'deploy', 'b0', 'running', 'ci', 'api', ?, ?, ?)",
      )
      .run(new Date().toISOString(), new Date().toISOString(), JSON.stringify(runner)).lastInsertRowid,
  );
  db.close();
  await mkdir(path.join(root, ".slipway", "lock"), { recursive: true });
  const info = { token: "run-0", user: "ci", ...runner, action: "deploy", target: "local", build_id: "b0", since: new Date().toISOString() };
  await writeFile(path.join(root, ".slipway", "lock", "info"), `${JSON.stringify(info)}\n`);
  server = await startServer({ server: config, log: (l) => logLines.push(l) });
  // A finished deploy to look at.
  deployId = Number(
    server.db
      .prepare(
        "INSERT INTO deploys (app, target, kind, build_id, state, user, via, created_at, finished_at, duration_ms) VALUES ('hello', 't', 'deploy', 'b1', 'failed', 'ci', 'api', ?, ?, 5)",
      )
      .run(new Date().toISOString(), new Date().toISOString()).lastInsertRowid,
  );
  for (const [i, name] of (["viewer", "deployer", "admin", "other"] as const).entries()) {
    const token = tokens[i]!;
    const res = await fetch(`${server.url}/login`, {
      method: "POST",
      headers: { origin: server.url, "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ token }),
      redirect: "manual",
    });
    assert.equal(res.status, 303, `${name} logs in`);
    const cookie = res.headers.get("set-cookie") ?? "";
    assert.match(cookie, /HttpOnly/i);
    assert.match(cookie, /SameSite=Lax/i);
    assert.ok(!cookie.includes(token), "the cookie is not the token");
    cookies[name] = cookie.split(";")[0]!;
  }
});

after(async () => {
  await server?.close();
});

test("dashboard: every route × every role, and cross-origin POSTs refused", async () => {
  const who = ["none", "viewer", "deployer", "admin", "other"] as const;
  // Expected status for: logged out, viewer, deployer, admin, other app's admin.
  const routes: [string, string, Record<string, string> | undefined, number[]][] = [
    ["GET", "/", undefined, [303, 200, 200, 200, 200]],
    ["GET", "/apps/hello/artifacts", undefined, [303, 200, 200, 200, 404]],
    ["GET", "/history", undefined, [303, 200, 200, 200, 200]],
    ["GET", `/deploys/${deployId}`, undefined, [303, 200, 200, 200, 404]],
    ["GET", `/deploys/${deployId}/live`, undefined, [303, 200, 200, 200, 404]],
    ["POST", "/apps/hello/targets/t/deploys", { build_id: "zz9", confirmed: "1" }, [303, 403, 404, 404, 404]],
    ["POST", "/apps/hello/targets/t/rollback", { to: "../x", confirmed: "1" }, [303, 403, 400, 400, 404]],
    ["POST", "/apps/hello/targets/t/lock", { reason: "" }, [303, 403, 400, 400, 404]],
    ["POST", "/apps/hello/targets/t/unlock", {}, [303, 403, 409, 409, 404]],
    ["POST", `/deploys/${deployId}/cancel`, {}, [303, 403, 409, 409, 404]],
  ];
  const wrong: string[] = [];
  for (const [method, url, form, expect] of routes) {
    for (const [i, role] of who.entries()) {
      const res = await fetch(`${server.url}${url}`, {
        method,
        redirect: "manual",
        headers: {
          ...(role === "none" ? {} : { cookie: cookies[role]! }),
          ...(method === "POST" ? { origin: server.url, "content-type": "application/x-www-form-urlencoded" } : {}),
        },
        body: form ? new URLSearchParams(form) : undefined,
      });
      await res.arrayBuffer();
      if (res.status !== expect[i]) wrong.push(`${method} ${url} as ${role}: ${res.status}, expected ${expect[i]}`);
    }
  }
  assert.deepEqual(wrong, []);

  // With a good session, a POST from another origin (or none at all) changes nothing.
  for (const headers of [{ origin: "http://evil.example" }, { referer: "http://evil.example/page" }, {}] as Record<string, string>[]) {
    const res = await fetch(`${server.url}/apps/hello/targets/t/lock`, {
      method: "POST",
      redirect: "manual",
      headers: { cookie: cookies.admin!, "content-type": "application/x-www-form-urlencoded", ...headers },
      body: new URLSearchParams({ reason: "csrf" }),
    });
    assert.equal(res.status, 403, JSON.stringify(headers));
  }
  assert.equal((server.db.prepare("SELECT count(*) AS n FROM locks").get() as { n: number }).n, 0, "no lock was taken");
  // Logging out ends the session.
  const out = await fetch(`${server.url}/logout`, { method: "POST", redirect: "manual", headers: { cookie: cookies.viewer!, origin: server.url } });
  assert.equal(out.status, 303);
  assert.equal((await fetch(`${server.url}/`, { redirect: "manual", headers: { cookie: cookies.viewer! } })).status, 303);
});

test("no token or session cookie in the server's log, events or audit; logins, logouts and the restart step are audited", async () => {
  // A dashboard lock and unlock: state changes whose audit rows carry a request.
  for (const action of ["lock", "unlock"]) {
    const res = await fetch(`${server.url}/apps/hello/targets/t/${action}`, {
      method: "POST",
      redirect: "manual",
      headers: { cookie: cookies.admin!, origin: server.url, "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ reason: "maintenance window" }),
    });
    assert.equal(res.status, 303, action);
  }
  const out = await fetch(`${server.url}/logout`, { method: "POST", redirect: "manual", headers: { cookie: cookies.deployer!, origin: server.url } });
  assert.equal(out.status, 303);

  const db = new Database(dbFile, { readonly: true });
  let audit: { user: string; via: string; action: string; app: string | null; target: string | null; request: string; outcome: string }[];
  let events: { deploy_id: number; event: string }[];
  try {
    audit = db.prepare("SELECT user, via, action, app, target, request, outcome FROM audit ORDER BY id").all() as typeof audit;
    events = db.prepare("SELECT deploy_id, event FROM events ORDER BY deploy_id, seq").all() as typeof events;
  } finally {
    db.close();
  }
  // The rows this run must have written (else the secret check below would pass on nothing).
  const has = (action: string, user: string, via: string) => audit.some((r) => r.action === action && r.user === user && r.via === via);
  for (const user of ["viewer", "deployer", "admin", "other"]) assert.ok(has("login", user, "dashboard"), `login of ${user} audited`);
  for (const user of ["viewer", "deployer"]) assert.ok(has("logout", user, "dashboard"), `logout of ${user} audited`);
  assert.ok(has("lock", "admin", "dashboard") && has("unlock", "admin", "dashboard"));
  assert.equal(audit.filter((r) => r.action.startsWith("token-")).length, 4, "token create audited");
  const interrupt = audit.find((r) => r.action === "interrupt");
  assert.deepEqual(interrupt && [interrupt.user, interrupt.via, interrupt.app, interrupt.target, JSON.parse(interrupt.request)], [
    "server",
    "restart",
    "hello",
    "local",
    { id: leftRunning },
  ]);
  const unlocked = audit.find((r) => r.action === "host-unlock");
  assert.ok(unlocked, `the host lock's release is audited: ${JSON.stringify(audit.map((r) => r.action))}`);
  assert.deepEqual([unlocked.user, unlocked.via, JSON.parse(unlocked.request).hosts], ["server", "restart", ["localhost"]]);
  assert.ok(!existsSync(path.join(root, ".slipway", "lock")), "the dead run's host lock was released");
  const row = (await (await fetch(`${server.url}/deploys/${leftRunning}`, { headers: { cookie: cookies.admin! } })).text()).toLowerCase();
  assert.match(row, /interrupted/);
  assert.ok(
    events.some((e) => e.deploy_id === leftRunning && JSON.parse(e.event).state === "interrupted"),
    "the events table has the interrupted deploy's event",
  );

  const log = logLines.join("\n");
  assert.match(log, /POST \/login 303/, "the server's log was kept");
  const secrets = [...tokens, ...Object.values(cookies).map((c) => c.slice(c.indexOf("=") + 1))];
  assert.equal(secrets.length, 8);
  for (const s of secrets) assert.ok(s.length >= 43, "a token or a session id");
  const where = { log, events: JSON.stringify(events), audit: JSON.stringify(audit) };
  const leaks = Object.entries(where).flatMap(([name, text]) => secrets.filter((s) => text.includes(s)).map((s) => `${name}: ${s.slice(0, 8)}…`));
  assert.deepEqual(leaks, []);
});
