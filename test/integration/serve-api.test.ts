// `slipway serve` end to end over real HTTP, deploying to 2 namespace hosts over ssh: tokens,
// push (content-addressed: the shared venv layer stored once), bad uploads refused leaving
// nothing, deploys queued FIFO behind a lock, cancel, SSE replay and resume, rollback, the
// route × role matrix, the audit log, no secret in the log, and a server killed mid-deploy
// marking it interrupted with each host's `current` read back.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createHmac } from "node:crypto";
import { createServer, request, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { appendFile, mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { fleetApp, type FleetApp } from "../support/fleet-app.js";
import { buildWith } from "../support/build-app.js";
import { startServer, type RunningServer } from "../../src/serve/server.js";
import { loadServerConfig } from "../../src/serve/config.js";
import { tokenCreate } from "../../src/serve/admin.js";
import { push } from "../../src/serve/push.js";
import { ROUTES } from "../../src/serve/api/openapi.js";

let f: FleetApp;
let server: RunningServer;
let dir: string;
let appName: string;
const logLines: string[] = [];
const tokens = {} as Record<"admin" | "ci" | "alice" | "watcher" | "other", string>;
const builds: Record<string, string> = {};
const HOOK_SECRET = "whsec-test-0123456789";
let hookServer: Server;
const hooks: { body: string; signature: string }[] = [];

async function call(method: string, url: string, token?: string, body?: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(`${server.url}${url}`, {
    method,
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body !== undefined ? { "content-type": "application/json" } : {}), ...headers },
    body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let json: Record<string, unknown> = {};
  try {
    json = text ? JSON.parse(text) : {};
  } catch {}
  return { status: res.status, json, text };
}

/** Read a deploy's SSE stream to its end: the events, and the final row. */
async function sse(id: number, token: string, lastEventId?: number) {
  const res = await fetch(`${server.url}/api/deploys/${id}/events`, {
    headers: { authorization: `Bearer ${token}`, ...(lastEventId ? { "last-event-id": String(lastEventId) } : {}) },
  });
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type") ?? "", /text\/event-stream/);
  const text = await res.text();
  const blocks = text.split("\n\n").filter((b) => b.includes("data:"));
  const events = blocks
    .filter((b) => /^event: event$/m.test(b))
    .map((b) => ({ id: Number(/^id: (\d+)$/m.exec(b)?.[1]), data: JSON.parse(/^data: (.*)$/m.exec(b)![1]!) }));
  const end = blocks.find((b) => /^event: end$/m.test(b));
  return { events, end: end ? JSON.parse(/^data: (.*)$/m.exec(end)![1]!) : undefined };
}

/** Read an SSE stream until its text matches `pattern`. */
async function untilEvent(url: string, token: string, pattern: RegExp): Promise<void> {
  const res = await fetch(url, { headers: { authorization: `Bearer ${token}` } });
  const reader = res.body!.getReader();
  let text = "";
  for (;;) {
    const { done, value } = await reader.read();
    if (done) throw new Error(`the stream ended without ${pattern}:\n${text.slice(-2000)}`);
    text += Buffer.from(value).toString("utf8");
    if (pattern.test(text)) break;
  }
  await reader.cancel();
}

async function until<T>(what: string, ms: number, probe: () => Promise<T | undefined>): Promise<T> {
  for (const deadline = Date.now() + ms; Date.now() < deadline; ) {
    const v = await probe();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out: ${what}`);
}

before(async () => {
  f = await fleetApp(2);
  dir = path.join(f.ws.dir, "server");
  await mkdir(dir, { recursive: true });
  builds.b1 = (await buildWith(f.ws, "b1")).result.artifact;
  await appendFile(path.join(f.ws.app, "hello/app.py"), "\n# code-only change\n");
  builds.b2 = (await buildWith(f.ws, "b2")).result.artifact;
  await appendFile(path.join(f.ws.app, "hello/app.py"), "\n# another\n");
  builds.b3 = (await buildWith(f.ws, "b3")).result.artifact;
  appName = /^name\s*=\s*"([^"]+)"/m.exec(await readFile(path.join(f.ws.app, "slipway.toml"), "utf8"))![1]!;
  // The app's webhook, received here: every POST with its body and signature.
  hookServer = createServer((req, res) => {
    let body = "";
    req.on("data", (d) => (body += d));
    req.on("end", () => {
      hooks.push({ body, signature: String(req.headers["x-slipway-signature"]) });
      res.end("ok");
    });
  });
  await new Promise<void>((r) => hookServer.listen(0, "127.0.0.1", r));
  process.env.SLW_TEST_HOOK_SECRET = HOOK_SECRET;
  await writeFile(
    path.join(dir, "slipway-server.toml"),
    `[server]\nlisten = "127.0.0.1:0"\ndata = "data"\n\n[apps.${appName}]\nconfig = "${path.join(f.ws.app, "slipway.toml")}"\n` +
      `[apps.${appName}.webhook]\nurl = "http://127.0.0.1:${(hookServer.address() as AddressInfo).port}/hook"\nsecret_env = "SLW_TEST_HOOK_SECRET"\n`,
  );
  const config = await loadServerConfig(path.join(dir, "slipway-server.toml"));
  for (const [name, role, app] of [
    ["admin", "admin", appName],
    ["ci", "deployer", appName],
    ["alice", "deployer", appName],
    ["watcher", "viewer", appName],
    ["other", "admin", "other-app"],
  ] as const) {
    tokens[name] = tokenCreate(config.dataDir, { name, role, app }).token;
  }
  server = await startServer({ server: config, log: (l) => logLines.push(l) });
});

after(async () => {
  hookServer?.close();
  await server?.close();
  await f?.stop();
});

test("serve: push stores layers by content, deploys queue FIFO behind a lock, SSE replays and resumes, rollback, cancel", { timeout: 300_000 }, async () => {
  // Push: stored, then "already stored"; the second build's venv layer is not stored again.
  const p1 = await push({ artifact: builds.b1!, server: server.url, token: tokens.ci });
  assert.equal(p1.status, "stored");
  assert.equal((await push({ artifact: builds.b1!, server: server.url, token: tokens.ci })).status, "already stored");
  await push({ artifact: builds.b2!, server: server.url, token: tokens.ci });
  await push({ artifact: builds.b3!, server: server.url, token: tokens.ci });
  const blobs = (await readdir(path.join(dir, "data", "blobs", "sha256"), { recursive: true, withFileTypes: true })).filter((e) => e.isFile());
  assert.equal(blobs.length, 4, "three code layers and one venv layer");
  const list = await call("GET", `/api/apps/${appName}/artifacts`, tokens.watcher);
  assert.deepEqual((list.json.artifacts as { build_id: string }[]).map((a) => a.build_id).sort(), ["b1", "b2", "b3"]);
  await assert.rejects(push({ artifact: builds.b1!, server: server.url, token: tokens.watcher }), /refused the upload \(403\)/);

  // Deploy b1, following it over SSE to the end.
  const d1 = await call("POST", `/api/apps/${appName}/targets/fleet/deploys`, tokens.ci, { build_id: "b1" });
  assert.equal(d1.status, 202, d1.text);
  const s1 = await sse(d1.json.id as number, tokens.watcher);
  assert.equal(s1.end.state, "succeeded", JSON.stringify(s1.end));
  assert.deepEqual(
    s1.events.map((e) => e.id),
    s1.events.map((_, i) => i + 1),
    "events numbered from 1, in order",
  );
  assert.ok(s1.events.some((e) => e.data.type === "host" && e.data.step === "switch" && e.data.status === "done"));
  for (const h of f.hosts) assert.equal((await f.health(h)).build_id, "b1");
  // The webhook: started and finished, each signed with the app's secret.
  const mine = await until("the webhook's two posts", 10_000, async () => {
    const m = hooks.filter((h) => JSON.parse(h.body).deploy.id === d1.json.id);
    return m.length >= 2 ? m : undefined;
  });
  assert.deepEqual(
    mine.map((h) => JSON.parse(h.body).event),
    ["deploy.started", "deploy.finished"],
  );
  for (const h of mine) assert.equal(h.signature, `sha256=${createHmac("sha256", HOOK_SECRET).update(h.body).digest("hex")}`);
  assert.equal(JSON.parse(mine[1]!.body).deploy.state, "succeeded");

  // Resume: after Last-Event-ID only the rest.
  const resumed = await sse(d1.json.id as number, tokens.watcher, 3);
  assert.equal(resumed.events[0]?.id, 4);
  assert.equal(resumed.events.length, s1.events.length - 3);

  // A lock queues deploys; the queue is FIFO with positions; a queued one can be cancelled.
  assert.equal((await call("POST", `/api/apps/${appName}/targets/fleet/lock`, tokens.alice, { reason: "db maintenance" })).status, 201);
  const q1 = await call("POST", `/api/apps/${appName}/targets/fleet/deploys`, tokens.ci, { build_id: "b2" });
  const q2 = await call("POST", `/api/apps/${appName}/targets/fleet/deploys`, tokens.ci, { build_id: "b3" });
  const q3 = await call("POST", `/api/apps/${appName}/targets/fleet/deploys`, tokens.ci, { build_id: "b3" });
  assert.deepEqual([q1.json.state, q1.json.position, q2.json.position, q3.json.position], ["queued", 1, 2, 3]);
  const status = await call("GET", `/api/apps/${appName}/targets/fleet`, tokens.watcher);
  assert.equal((status.json.lock as { user: string }).user, "alice");
  assert.equal((status.json.queue as unknown[]).length, 3);
  assert.equal((await call("POST", `/api/deploys/${q2.json.id}/cancel`, tokens.watcher)).status, 403, "a viewer cannot cancel");
  assert.equal((await call("POST", `/api/deploys/${q2.json.id}/cancel`, tokens.ci)).json.state, "cancelled");
  assert.equal((await call("GET", `/api/deploys/${q3.json.id}`, tokens.ci)).json.position, 2, "the queue closed up");
  // Someone else's lock: a deployer may not release it; an admin needs a reason.
  assert.equal((await call("DELETE", `/api/apps/${appName}/targets/fleet/lock`, tokens.ci)).status, 403);
  assert.equal((await call("DELETE", `/api/apps/${appName}/targets/fleet/lock`, tokens.admin)).status, 400);
  assert.equal((await call("GET", `/api/deploys/${q1.json.id}`, tokens.ci)).json.state, "queued", "still locked");
  assert.equal((await call("DELETE", `/api/apps/${appName}/targets/fleet/lock`, tokens.admin, { reason: "alice is away" })).status, 204);
  // A client that follows the deploy and disconnects mid-way stops nothing.
  await untilEvent(`${server.url}/api/deploys/${q1.json.id}/events`, tokens.ci, /"step":"preflight"/);
  const e1 = await sse(q1.json.id as number, tokens.ci);
  const e3 = await sse(q3.json.id as number, tokens.ci);
  assert.equal(e1.end.state, "succeeded");
  assert.equal(e3.end.state, "succeeded");
  assert.ok(Date.parse(e1.end.finished_at) <= Date.parse(e3.end.started_at), "FIFO: one at a time, in order");
  for (const h of f.hosts) assert.equal((await f.health(h)).build_id, "b3");

  // Warm connections: the server's later deploys pay no ssh handshake.
  const connectMs = (events: { data: Record<string, unknown> }[]) =>
    events.filter((e) => e.data.type === "host" && e.data.step === "connect" && e.data.status === "done").map((e) => e.data.ms as number);
  const cold = Math.max(...connectMs(s1.events));
  const warm = Math.max(...connectMs(e3.events));
  assert.ok(warm < cold, `connect: first deploy ${cold} ms, later ${warm} ms`);

  // A kept session that died while idle (its shell killed on the host: pkill fails when there
  // was none) is not lent again. The hosts share this machine's PID namespace: only the
  // drivers in this host's network namespace are killed, never another test's.
  await f.hosts[0]!.exec(["sh", "-c", "pkill --ns $$ --nslist net -f 'slipway-en[d]-'"]);
  await new Promise((r) => setTimeout(r, 300));

  // Rollback to b2 (the previous release).
  const rb = await call("POST", `/api/apps/${appName}/targets/fleet/rollback`, tokens.ci, {});
  assert.equal(rb.status, 202);
  assert.equal((await sse(rb.json.id as number, tokens.ci)).end.state, "succeeded");
  for (const h of f.hosts) assert.equal((await f.health(h)).build_id, "b2");

  // Live releases, history with filters, the audit log.
  const rel = await call("GET", `/api/apps/${appName}/targets/fleet/releases`, tokens.watcher);
  assert.ok((rel.json.hosts as { current: string }[]).every((h) => h.current === "b2"));
  const hist = await call("GET", `/api/history?app=${appName}&state=cancelled`, tokens.watcher);
  assert.deepEqual(
    (hist.json.deploys as { id: number }[]).map((d) => d.id),
    [q2.json.id],
  );
  const audit = server.db.prepare("SELECT action, user, via FROM audit ORDER BY id").all() as { action: string; user: string }[];
  for (const a of ["upload", "deploy", "lock", "cancel", "unlock", "rollback"])
    assert.ok(
      audit.some((r) => r.action === a),
      `audit has ${a}`,
    );
  assert.throws(() => server.db.prepare("DELETE FROM audit").run(), /append-only/);
  console.log(`serve: connect ${cold} ms cold, ${warm} ms warm; deploy b1 ${s1.end.duration_ms} ms, b3 ${e3.end.duration_ms} ms`);
});

test("serve: bad input gets a clear 4xx and leaves nothing behind", async () => {
  const tmp = path.join(dir, "data", "tmp");
  const before = (await readdir(tmp)).length;
  const garbage = await call("PUT", `/api/apps/${appName}/artifacts/g1`, tokens.ci, "this is not a tar", { "content-type": "application/x-tar" });
  assert.equal(garbage.status, 422, garbage.text);
  assert.match(garbage.json.error as string, /upload/);
  assert.ok(!(garbage.json.error as string).includes(tmp), "the server's temporary path is not shown");
  const wrongId = await fetch(`${server.url}/api/apps/${appName}/artifacts/b9`, {
    method: "PUT",
    headers: { authorization: `Bearer ${tokens.ci}` },
    body: await readFile(builds.b1!),
  });
  assert.equal(wrongId.status, 422);
  assert.match(((await wrongId.json()) as { error: string }).error, /is build b1, the URL says b9/);
  assert.equal((await call("PUT", `/api/apps/${appName}/artifacts/..%2Fx`, tokens.ci, "x")).status, 400);
  assert.equal((await call("PUT", `/api/apps/nope/artifacts/b1`, tokens.ci, "x")).status, 404);
  // Oversize: refused from its Content-Length, before a byte is stored.
  const oversize = await new Promise<number>((resolve, reject) => {
    const req = request(`${server.url}/api/apps/${appName}/artifacts/big1`, {
      method: "PUT",
      headers: { authorization: `Bearer ${tokens.ci}`, "content-length": String(8 * 1024 ** 3) },
    });
    req.on("response", (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
      req.destroy();
    });
    req.on("error", reject);
    req.write(Buffer.alloc(1024));
  });
  assert.equal(oversize, 413);
  assert.equal((await readdir(tmp)).length, before, "no temporary file left");
  assert.equal((server.db.prepare("SELECT count(*) AS n FROM artifacts WHERE build_id IN ('g1', 'b9')").get() as { n: number }).n, 0);

  const malformed = await call("POST", `/api/apps/${appName}/targets/fleet/deploys`, tokens.ci, "{not json");
  assert.equal(malformed.status, 400);
  assert.match(malformed.json.error as string, /not valid JSON/);
  const unknownKey = await call("POST", `/api/apps/${appName}/targets/fleet/deploys`, tokens.ci, { build_id: "b1", hosts: "x" });
  assert.equal(unknownKey.status, 400);
  assert.match(unknownKey.json.error as string, /hosts|unrecognized/i);
  assert.equal((await call("POST", `/api/apps/${appName}/targets/nope/deploys`, tokens.ci, { build_id: "b1" })).status, 404);
  assert.equal((await call("POST", `/api/apps/${appName}/targets/fleet/deploys`, tokens.ci, { build_id: "b404" })).status, 404);
  assert.equal((await call("GET", "/api/deploys/999999", tokens.ci)).status, 404);
  const none = await call("GET", "/api/apps");
  assert.equal(none.status, 401);
  assert.deepEqual(Object.keys(none.json).sort(), ["error", "hint"]);
});

test("serve: every route × every role", async () => {
  const d = (server.db.prepare("SELECT id FROM deploys ORDER BY id LIMIT 1").get() as { id: number }).id;
  const fill = (p: string) => p.replace("{app}", appName).replace("{target}", "fleet").replace("{build_id}", "zz9").replace("{id}", String(d));
  // Expected status per role for each route: viewer, deployer (ci), admin, other-app admin, no token.
  const expect: Record<string, [number[], number[], number[], number[], number]> = {
    "get /api/openapi.json": [[200], [200], [200], [200], 200],
    "get /api/apps": [[200], [200], [200], [200], 401],
    "get /api/apps/{app}/artifacts": [[200], [200], [200], [403], 401],
    "put /api/apps/{app}/artifacts/{build_id}": [[403], [422], [422], [403], 401],
    "get /api/apps/{app}/targets/{target}": [[200], [200], [200], [403], 401],
    "post /api/apps/{app}/targets/{target}/deploys": [[403], [404], [404], [403], 401],
    "post /api/apps/{app}/targets/{target}/rollback": [[403], [400], [400], [403], 401],
    "post /api/apps/{app}/targets/{target}/lock": [[403], [400], [400], [403], 401],
    "delete /api/apps/{app}/targets/{target}/lock": [[403], [409], [409], [403], 401],
    "get /api/apps/{app}/targets/{target}/releases": [[200], [200], [200], [403], 401],
    "get /api/history": [[200], [200], [200], [200], 401],
    "get /api/deploys/{id}": [[200], [200], [200], [404], 401],
    "post /api/deploys/{id}/cancel": [[403], [409], [409], [404], 401],
    "get /api/deploys/{id}/events": [[200], [200], [200], [404], 401],
  };
  const bodies: Record<string, unknown> = {
    "post /api/apps/{app}/targets/{target}/deploys": { build_id: "zz9" },
    "post /api/apps/{app}/targets/{target}/rollback": { to: "../x" },
    "post /api/apps/{app}/targets/{target}/lock": { reason: "" },
  };
  assert.deepEqual(Object.keys(expect).sort(), ROUTES.map((r) => `${r.method} ${r.path}`).sort(), "every documented route is in the matrix");
  const who = [tokens.watcher, tokens.ci, tokens.admin, tokens.other, undefined];
  const wrong: string[] = [];
  for (const [route, statuses] of Object.entries(expect)) {
    const [method, p] = route.split(" ") as [string, string];
    for (const [i, token] of who.entries()) {
      const body = method === "put" ? "not a tar" : bodies[route];
      const r = await call(method.toUpperCase(), fill(p), token, body);
      const ok = statuses[i] as number | number[];
      if (!(Array.isArray(ok) ? ok : [ok]).includes(r.status))
        wrong.push(`${route} as ${["viewer", "deployer", "admin", "other-app", "none"][i]}: ${r.status} ${r.text.slice(0, 120)}`);
    }
  }
  assert.deepEqual(wrong, []);
  const doc = (await call("GET", "/api/openapi.json")).json as { paths: Record<string, unknown> };
  assert.ok(doc.paths["/api/apps/{app}/targets/{target}/deploys"]);
});

test("serve: failed authentication is rate-limited, and no token reaches the log", async () => {
  let last = 0;
  for (let i = 0; i < 12; i++) last = (await call("GET", "/api/apps", `slw_${"x".repeat(43)}`)).status;
  assert.equal(last, 429);
  assert.equal((await call("GET", "/api/apps", tokens.watcher)).status, 429, "the address is blocked for the window, good token or not");
  const log = logLines.join("\n");
  for (const t of [...Object.values(tokens), HOOK_SECRET]) assert.ok(!log.includes(t), "a secret in the log");
  assert.ok(log.includes("POST /api/apps/"), "requests are logged");
});

test("serve: a server killed mid-deploy marks it interrupted with each host's current; the next deploy completes", { timeout: 300_000 }, async () => {
  const cli = path.resolve("dist/cli.js");
  const data = path.join(dir, "data2");
  const conf = path.join(dir, "slipway-server.toml");
  const ci = tokenCreate(data, { name: "ci2", role: "deployer", app: appName }).token;
  const start = async () => {
    const child = spawn(process.execPath, [cli, "--config", conf, "serve", "--data", data, "--listen", "127.0.0.1:0"], { stdio: ["ignore", "ignore", "pipe"] });
    let err = "";
    child.stderr.on("data", (d) => (err += d));
    const url = await until("the server listens", 20_000, async () => /listening on (http:\/\/\S+),/.exec(err)?.[1]);
    return { child, url, err: () => err };
  };
  const s1 = await start();
  const api = async (method: string, url: string, body?: unknown) => {
    const res = await fetch(`${s1.url}${url}`, {
      method,
      headers: { authorization: `Bearer ${ci}`, "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.status, json: (await res.json()) as Record<string, unknown> };
  };
  await push({ artifact: builds.b3!, server: s1.url, token: ci });
  const before = await Promise.all(f.hosts.map((h) => f.link(h, "current")));
  // A hook that holds the deploy before the switch, so that the kill lands mid-deploy.
  const configFile = path.join(f.ws.app, "slipway.toml");
  const config = await readFile(configFile, "utf8");
  await writeFile(configFile, `${config}\n[deploy.hooks]\nbefore_switch = ["sleep 30"]\n`);
  const d = await api("POST", `/api/apps/${appName}/targets/fleet/deploys`, { build_id: "b3" });
  await untilEvent(`${s1.url}/api/deploys/${d.json.id}/events`, ci, /"step":"hooks","status":"start"/);
  await writeFile(configFile, config);
  s1.child.kill("SIGKILL");
  await new Promise((r) => s1.child.once("exit", r));

  const s2 = await start();
  try {
    const row = await until("interrupted, with the hosts read back", 60_000, async () => {
      const r = (await (await fetch(`${s2.url}/api/deploys/${d.json.id}`, { headers: { authorization: `Bearer ${ci}` } })).json()) as Record<string, unknown>;
      return r.state === "interrupted" && r.interrupted && Object.keys((r.interrupted as { hosts: object }).hosts).length ? r : undefined;
    });
    const { hosts, lock } = row.interrupted as { hosts: Record<string, string | null>; lock?: string };
    assert.match(lock ?? "", /left on .*released at restart/, "the host locks the dead run left are named, and released");
    const now = await Promise.all(f.hosts.map((h) => f.link(h, "current")));
    assert.deepEqual(
      f.hosts.map((h) => hosts[h.dest]),
      now.map((l) => l.replace("releases/", "")),
      "the row records each host's current as read back",
    );
    assert.ok(
      now.every((l, i) => l === before[i] || l === "releases/b3"),
      "every host serves a whole release",
    );
    // The next deploy completes.
    const next = await fetch(`${s2.url}/api/apps/${appName}/targets/fleet/deploys`, {
      method: "POST",
      headers: { authorization: `Bearer ${ci}`, "content-type": "application/json" },
      body: JSON.stringify({ build_id: "b3" }),
    });
    const id = ((await next.json()) as { id: number }).id;
    const done = await until("the next deploy finished", 120_000, async () => {
      const r = (await (await fetch(`${s2.url}/api/deploys/${id}`, { headers: { authorization: `Bearer ${ci}` } })).json()) as Record<string, unknown>;
      return ["succeeded", "failed"].includes(r.state as string) ? r : undefined;
    });
    assert.equal(done.state, "succeeded", String(done.error));
    for (const h of f.hosts) assert.equal((await f.health(h)).build_id, "b3");
  } finally {
    s2.child.kill("SIGTERM");
    await new Promise((r) => s2.child.once("exit", r));
  }
});
