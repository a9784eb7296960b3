import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { findServer, parseServersState, parseShowStat, setServerError, setServerState } from "../../src/lb/haproxy.js";
import { parseSocket, remoteRuntimeCommand } from "../../src/lb/runtime.js";
import { describeOutcome, healthCommand, parseHealth } from "../../src/health/check.js";

const fixture = (name: string) => readFileSync(new URL(`../fixtures/haproxy/${name}`, import.meta.url), "utf8");

test("runtime API commands: set server state, names checked so no second command can be smuggled in", () => {
  assert.equal(setServerState("app", "app1", "drain"), "set server app/app1 state drain");
  assert.equal(setServerState("app", "web-2.a", "ready"), "set server app/web-2.a state ready");
  assert.throws(() => setServerState("app", "app1; shutdown", "drain"), /invalid HAProxy server name/);
  assert.throws(() => setServerState("app\nshow", "x", "drain"), /invalid HAProxy backend name/);
  assert.equal(setServerError("\n"), undefined);
  assert.equal(setServerError("No such server.\n\n"), "No such server.");
});

test("show stat: real HAProxy 2.6 output (recorded) parses into rows with scur and status", () => {
  const rows = parseShowStat(fixture("show-stat.csv"));
  assert.deepEqual(rows.map((r) => `${r.pxname}/${r.svname}`), ["web/FRONTEND", "app/app1", "app/app2", "app/BACKEND"]);
  const app1 = findServer(rows, "app", "app1")!;
  assert.equal(app1.scur, 0);
  assert.equal(app1.status, "DOWN");
  assert.equal(findServer(rows, "app", "nope"), undefined);
  const drained = findServer(parseShowStat(fixture("show-stat-drain.csv")), "app", "app1")!;
  assert.match(drained.status, /DRAIN|MAINT|DOWN/);
  assert.throws(() => parseShowStat("Unknown command\n"), /unexpected "show stat" output/);
});

test("show servers state: recorded output parses", () => {
  const rows = parseServersState(fixture("show-servers-state.txt"));
  assert.deepEqual(rows.map((r) => [r.backend, r.server, r.address]), [["app", "app1", "127.0.0.1"], ["app", "app2", "127.0.0.1"]]);
  assert.equal(rows[0]!.adminState, 0);
});

test("runtime socket addresses and the remote command (constant script, socket and command as arguments)", () => {
  assert.deepEqual(parseSocket("/run/haproxy/admin.sock"), { path: "/run/haproxy/admin.sock" });
  assert.deepEqual(parseSocket("tcp:127.0.0.1:9999"), { host: "127.0.0.1", port: 9999 });
  assert.deepEqual(parseSocket("tcp:[::1]:9999"), { host: "::1", port: 9999 });
  const argv = remoteRuntimeCommand("/run/haproxy/admin.sock", "show stat");
  assert.equal(argv[0], "sh");
  assert.deepEqual(argv.slice(-2), ["/run/haproxy/admin.sock", "show stat"]);
  assert.ok(!argv[2]!.includes("admin.sock"), "values are never part of the script text");
});

test("health: the poll runs the release's own Python on the host; outcomes are described with what was seen", () => {
  const argv = healthCommand({ url: "http://127.0.0.1:8000/health", command: "", timeout: "5s" }, "/srv/a/current")!;
  assert.deepEqual(argv.slice(-5), ["/srv/a/current/virtualenv/bin/python", "url", "http://127.0.0.1:8000/health", "5000", "100"], "a URL is polled every 100 ms");
  const cmd = healthCommand({ url: "", command: "celery inspect ping", timeout: "2m" }, "/srv/a/current")!;
  assert.deepEqual(cmd.slice(-4), ["command", "celery inspect ping", "120000", "250"], "a command every 250 ms");
  assert.equal(healthCommand({ url: "", command: "", timeout: "30s" }, "/srv/a/current"), undefined);
  const o = parseHealth('noise\n{"ok": false, "ms": 5012, "attempts": 25, "status": 500, "body": "  Internal\\n error  "}\n')!;
  assert.equal(describeOutcome(o), "HTTP 500: Internal error (after 25 attempts in 5012 ms)");
  assert.equal(describeOutcome({ ok: false, ms: 30, attempts: 1, error: "URLError: <urlopen error [Errno 111] Connection refused>" }), "URLError: <urlopen error [Errno 111] Connection refused> (after 1 attempt in 30 ms)");
  assert.equal(describeOutcome({ ok: false, ms: 9, attempts: 3, status: 2, body: "no broker" }), "exit 2: no broker (after 3 attempts in 9 ms)");
  assert.equal(parseHealth("not json"), undefined);
});
