import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import {
  adminState,
  findServer,
  inFlight,
  isUp,
  parseServersState,
  parseShowStat,
  setServerError,
  setServerState,
  showServersState,
} from "../../src/lb/haproxy.js";
import { fullDrains, refuseFullDrain } from "../../src/lb/full-drain.js";
import { parseConfig } from "../../src/config/load.js";
import { ConfigError, UsageError } from "../../src/errors.js";
import type { HaproxyConfig } from "../../src/config/schema.js";

/** A haproxy table with the defaults the config loader gives it. */
const haproxySchemaForTest = (table: Pick<HaproxyConfig, "socket" | "backend" | "servers">): HaproxyConfig => ({
  host: "local",
  drain_timeout: "35s",
  capacity_timeout: "60s",
  allow_full_drain: false,
  ...table,
});
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
  assert.deepEqual(
    rows.map((r) => `${r.pxname}/${r.svname}`),
    ["web/FRONTEND", "app/app1", "app/app2", "app/BACKEND"],
  );
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
  assert.deepEqual(
    rows.map((r) => [r.backend, r.server, r.address]),
    [
      ["app", "app1", "127.0.0.1"],
      ["app", "app2", "127.0.0.1"],
    ],
  );
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
  const r7 = { build: "7", dir: "/srv/a/releases/7" };
  const argv = healthCommand({ url: "http://127.0.0.1:8000/health", command: "", timeout: "5s", expect_build: true }, "/srv/a/current", r7)!;
  assert.deepEqual(
    argv.slice(-8),
    ["/srv/a/current/virtualenv/bin/python", "url", "http://127.0.0.1:8000/health", "5000", "100", "7", "/srv/a/releases/7", "1"],
    "a URL is polled every 100 ms",
  );
  const cmd = healthCommand({ url: "", command: "celery inspect ping", timeout: "2m", expect_build: true }, "/srv/a/current", r7)!;
  assert.deepEqual(cmd.slice(-7), ["command", "celery inspect ping", "120000", "250", "7", "/srv/a/releases/7", "1"], "a command every 250 ms");
  assert.equal(healthCommand({ url: "", command: "", timeout: "30s", expect_build: true }, "/srv/a/current", r7), undefined);
  const o = parseHealth('noise\n{"ok": false, "ms": 5012, "attempts": 25, "status": 500, "body": "  Internal\\n error  "}\n')!;
  assert.equal(describeOutcome(o), "HTTP 500: Internal error (after 25 attempts in 5012 ms)");
  assert.equal(
    describeOutcome({ ok: false, ms: 30, attempts: 1, error: "URLError: <urlopen error [Errno 111] Connection refused>" }),
    "URLError: <urlopen error [Errno 111] Connection refused> (after 1 attempt in 30 ms)",
  );
  assert.equal(describeOutcome({ ok: false, ms: 9, attempts: 3, status: 2, body: "no broker" }), "exit 2: no broker (after 3 attempts in 9 ms)");
  assert.equal(parseHealth("not json"), undefined);
});

test("show stat: qcur is read too, and a drain waits for queued requests as well as those in flight", () => {
  const rows = parseShowStat(fixture("show-stat.csv"));
  assert.equal(findServer(rows, "app", "app1")!.qcur, 0);
  const header = "# pxname,svname,qcur,qmax,scur,smax,status\n";
  const [queued] = parseShowStat(`${header}app,app1,3,5,0,2,DRAIN\n`);
  assert.deepEqual([queued!.scur, queued!.qcur], [0, 3]);
  assert.equal(inFlight(queued), 3, "nothing in flight, 3 queued: not drained yet");
  assert.equal(inFlight(undefined), 0);
});

test("show servers state: the admin state an operator (or the configuration) set, from recorded HAProxy 2.6 output", () => {
  // s1: `set server app/s1 state drain`; s2: `disabled` in haproxy.cfg; s3: untouched.
  const rows = parseServersState(fixture("show-servers-state-admin.txt"));
  assert.deepEqual(
    rows.map((r) => [r.server, r.adminState, adminState(r.adminState)]),
    [
      ["s1", 8, "drain"],
      ["s2", 5, "maint"],
      ["s3", 0, "ready"],
    ],
  );
  assert.equal(adminState(0x01), "maint", "forced maint (`state maint`)");
  assert.equal(adminState(0x02), "ready", "maint inherited from a tracked server is nobody's choice for this one");
  assert.equal(adminState(0x10), "ready");
  assert.equal(showServersState("app"), "show servers state app");
  assert.throws(() => showServersState("app; shutdown"), /invalid HAProxy backend name/);
  assert.ok(isUp("UP") && isUp("no check"));
  assert.ok(!isUp("UP 1/2") && !isUp("DOWN 1/2") && !isUp("DOWN") && !isUp("MAINT") && !isUp("DRAIN"));
});

test("full drain: a batch that takes every mapped server of a backend out at once is refused (exit 2), unless allow_full_drain", () => {
  const lb = haproxySchemaForTest({ socket: "/s", backend: "app", servers: { h1: "app1", h2: "app2" } });
  assert.deepEqual(fullDrains([["h1"], ["h2"]], [lb]), []);
  assert.deepEqual(fullDrains([["h1", "h2"]], [lb]), ["a batch of 2 (h1, h2) drains every server of backend app (app1, app2) at once"]);
  assert.deepEqual(fullDrains([["h1", "h2"]], [{ ...lb, allow_full_drain: true }]), []);
  assert.deepEqual(fullDrains([["h1"]], [haproxySchemaForTest({ socket: "/s", backend: "app", servers: {} })]), [], "no server mapped: nothing is drained");
  assert.deepEqual(fullDrains([["h1"]], [lb]), [], "deploying h1 alone (--hosts) leaves h2 in rotation");
  const err = (() => {
    try {
      refuseFullDrain([["h1", "h2"]], [lb]);
    } catch (e) {
      return e;
    }
  })();
  assert.ok(err instanceof UsageError);
  assert.equal(err.exitCode, 2);
  assert.match(err.hint ?? "", /allow_full_drain = true/);

  const config = (extra: string) =>
    `[app]\nname = "acc"\nroot = "/srv/acc"\n[targets.s]\nhosts = ["a", "b"]\nbatch = "100%"\n[targets.s.restart]\nmanager = "none"\n[targets.s.haproxy]\nsocket = "/s"\nbackend = "app"\nservers = { "a" = "a1", "b" = "b1" }\n${extra}`;
  const refused = (() => {
    try {
      parseConfig(config(""), "slipway.toml");
    } catch (e) {
      return e;
    }
  })();
  assert.ok(refused instanceof ConfigError, "refused when the config is read");
  assert.match(refused.message, /slipway\.toml:6: targets\.s\.batch: a batch of 2 \(a, b\) drains every server of backend app \(a1, b1\) at once/);
  assert.equal(parseConfig(config("allow_full_drain = true\n"), "slipway.toml").targets["s"]!.batch, "100%");
});
