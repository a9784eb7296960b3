// Round trips of a rollback, counted on real namespace hosts over ssh (issue 13, target 3: ≤ 3
// per host). Every host command goes through Transport.exec, each one frame of the host's
// shell session: the test wraps the real ssh transport and records each command it sends.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { appendFile } from "node:fs/promises";
import path from "node:path";
import { behindHaproxy, fleetApp, gunicornCommand, APP_PORT, type FleetApp } from "../support/fleet-app.js";
import { startHaproxy } from "../support/haproxy.js";
import { buildWith } from "../support/build-app.js";
import type { TestHost } from "../support/fleet.js";
import { deploy } from "../../src/commands/deploy.js";
import { rollback } from "../../src/commands/rollback.js";
import { defaultTransport, type TransportFactory } from "../../src/deploy/connect.js";
import { acquireLock, releaseLock } from "../../src/deploy/lock.js";
import type { SlipwayError } from "../../src/errors.js";
import type { SlipwayEvent } from "../../src/events.js";
import type { ExecOptions, Transport } from "../../src/transport/types.js";

let f: FleetApp;
before(async () => {
  f = await fleetApp(2);
  // A URL health check (expect_build): the rollback's one activation round trip must include it.
  await appendFile(path.join(f.ws.app, "slipway.toml"), `\n[targets.fleet.health]\nurl = "http://127.0.0.1:${APP_PORT}/health"\ntimeout = "10s"\n`);
  for (const id of ["b1", "b2"]) {
    const b = await buildWith(f.ws, id);
    await deploy({ cwd: f.ws.app, artifact: b.result.artifact, target: "fleet" });
    if (id === "b1") await appendFile(path.join(f.ws.app, "hello/app.py"), "\n# b2\n");
  }
});
after(async () => {
  await f?.stop();
});

/** What a host command is, from the host script it runs. */
function kind(argv: readonly string[]): string {
  const script = argv[2] ?? argv.join(" ");
  if (script.includes('acquire_lock "$root"') && script.includes("list_host")) return "preflight+lock";
  if (script.includes("slipway-step-")) return "switch+restart+health";
  if (script.includes("history.jsonl") && script.includes("release_lock")) return "finish";
  if (script.includes('release_lock "$1" "$2"')) return "unlock";
  if (script.includes("/.slipway/drained.tmp")) return "drained: record";
  if (script.includes("slipway-switched")) return "switch+restart";
  if (script.includes('exec "$py" -I -S -c')) return "health";
  if (script.startsWith('rm -f "$1/.slipway/drained"')) return "drained: clear";
  return `other: ${script.slice(0, 80)}`;
}

/** The real transport of each host, with every command sent to the host recorded (by host). */
function counting(): { factory: TransportFactory; calls: Map<string, string[]> } {
  const calls = new Map<string, string[]>();
  const factory: TransportFactory = (host, target) => {
    const real = defaultTransport(host, target);
    const mine: string[] = [];
    calls.set(host, mine);
    const t: Transport = {
      host: real.host,
      exec: (argv: readonly string[], opts?: ExecOptions) => {
        mine.push(kind(argv));
        return real.exec(argv, opts);
      },
      connect: real.connect ? () => real.connect!() : undefined,
      get shellStartupMs() {
        return real.shellStartupMs;
      },
      close: () => real.close(),
    };
    return t;
  };
  return { factory, calls };
}

const opts = () => ({ cwd: f.ws.app, target: "fleet" });
const hasLock = (h: TestHost) => h.exec(["sh", "-c", 'test -d "$1/.slipway/lock" && echo yes || echo no', "sh", f.ws.root]).then((s) => s.trim() === "yes");

test("a rollback without HAProxy: 3 round trips per host (preflight+lock, switch+restart+health, finish), every step still reported", async () => {
  const { factory, calls } = counting();
  const events: SlipwayEvent[] = [];
  const t0 = performance.now();
  const r = await rollback({ ...opts(), transport: factory, emit: (e) => events.push(e) });
  const took = events.flatMap((e) => (e.type === "host" && e.status === "done" ? [`${e.host.split("@").pop()} ${e.step} ${e.ms} ms`] : []));
  console.log(`rollback: ${Math.round(performance.now() - t0)} ms (${took.join(", ")})`);
  assert.deepEqual(
    r.hosts.map((h) => [h.result, h.from, h.to]),
    f.hosts.map(() => ["ok", "b2", "b1"]),
  );
  for (const h of f.hosts) {
    assert.deepEqual(calls.get(h.dest), ["preflight+lock", "switch+restart+health", "finish"], `${h.dest}: one command per round trip`);
    assert.equal((await f.health(h)).build_id, "b1");
    assert.equal(await f.link(h, "current"), "releases/b1");
    assert.equal(await f.link(h, "previous"), "releases/b2");
    assert.equal(await hasLock(h), false, "unlocked");
    assert.match(await f.read(h, ".slipway/history.jsonl"), /"action":"rollback".*"build_id":"b1".*"result":"ok"/);
    const steps = events.flatMap((e) => (e.type === "host" && e.host === h.dest && e.status !== "start" ? [`${e.step} ${e.status}`] : []));
    assert.deepEqual(
      steps,
      ["connect done", "preflight done", "drain done", "switch done", "restart done", "health done", "ready done", "finish done"],
      `${h.dest}: the steps as before, each reported`,
    );
    const health = events.find((e) => e.type === "host" && e.host === h.dest && e.step === "health" && e.status === "done");
    assert.match(health?.type === "host" && health.status === "done" ? (health.detail ?? "") : "", /^GET http:\/\/127\.0\.0\.1:8000\/health ok in \d+ ms/);
  }
});

test("a refused rollback (--to a release not kept): preflight+lock, then unlock; no lock left, nothing switched", async () => {
  const { factory, calls } = counting();
  await assert.rejects(rollback({ ...opts(), to: "b9", transport: factory }), (e: SlipwayError) => {
    assert.equal(e.exitCode, 1);
    assert.match(e.message, /release b9 is not on this host — nothing was changed/);
    return true;
  });
  for (const h of f.hosts) {
    assert.deepEqual(calls.get(h.dest), ["preflight+lock", "unlock"]);
    assert.equal(await hasLock(h), false, "the lock this run took is released");
    assert.equal(await f.link(h, "current"), "releases/b1");
  }
});

test("a rollback while another run holds one host's lock: exit 4 naming it; that lock is kept, the lock taken on the other host released", async () => {
  const [h1, h2] = f.hosts as [TestHost, TestHost];
  const theirs = {
    token: "their-token",
    user: "ops",
    from: "laptop",
    action: "deploy",
    target: "fleet",
    build_id: "b7",
    since: "2026-12-01T00:00:00Z",
    pid: 7,
  };
  const lock = acquireLock(f.ws.root, theirs);
  await h2.exec(lock);
  try {
    const { factory, calls } = counting();
    await assert.rejects(rollback({ ...opts(), to: "b2", transport: factory }), (e: SlipwayError) => {
      assert.equal(e.exitCode, 4);
      assert.match(e.message, /target fleet is locked — nothing was changed/);
      assert.match(e.message, new RegExp(`${h2.dest.replace(/\./g, "\\.")}: locked by ops@laptop since 2026-12-01T00:00:00Z \\(deploy of b7, pid 7\\)`));
      return true;
    });
    assert.deepEqual(calls.get(h1.dest), ["preflight+lock", "unlock"]);
    assert.deepEqual(calls.get(h2.dest), ["preflight+lock"], "another run's lock is not touched");
    assert.equal(await hasLock(h1), false);
    assert.match(await f.read(h2, ".slipway/lock/info"), /"token":"their-token"/);
    for (const h of f.hosts) assert.equal(await f.link(h, "current"), "releases/b1");
  } finally {
    await h2.exec(releaseLock(f.ws.root, "their-token"));
  }
});

test("a rollback whose release fails its health check: the chain stops there; the host is switched back, previous restored, and the batch after it untouched", async () => {
  const [h1, h2] = f.hosts as [TestHost, TestHost];
  const app = `${f.ws.root}/releases/b2/hello/app.py`;
  const original = await h1.exec(["cat", app]);
  // b2 on h1 answers as another build (its __pycache__ removed: hash-based .pyc files are used without reading the source)
  await h1.exec(["sh", "-c", 'printf "\\nBUILD_ID = \\"stale\\"\\n" >> "$1" && rm -rf "$2"', "sh", app, `${path.dirname(app)}/__pycache__`]);
  try {
    const { factory, calls } = counting();
    const events: SlipwayEvent[] = [];
    await assert.rejects(rollback({ ...opts(), transport: factory, emit: (e) => events.push(e) }), (e: SlipwayError) => {
      assert.equal(e.exitCode, 1);
      assert.match(e.message, /health check GET http:\/\/127\.0\.0\.1:8000\/health failed: HTTP 200 from build stale, expected build b2/);
      assert.match(e.message, /switched back to b1, restarted, healthy/);
      return true;
    });
    assert.deepEqual(calls.get(h1.dest), ["preflight+lock", "switch+restart+health", "switch+restart", "health", "finish"], "the switch back as in a deploy");
    assert.deepEqual(calls.get(h2.dest), ["preflight+lock", "finish"], "the next batch is not started");
    const h1Steps = events.flatMap((e) => (e.type === "host" && e.host === h1.dest && e.status !== "start" ? [`${e.step} ${e.status}`] : []));
    assert.deepEqual(h1Steps.slice(2), [
      "drain done",
      "switch done",
      "restart done",
      "health failed",
      "switch done",
      "restart done",
      "health done",
      "rollback done",
      "ready done",
      "finish done",
    ]);
    for (const h of f.hosts) {
      assert.deepEqual([await f.link(h, "current"), await f.link(h, "previous")], ["releases/b1", "releases/b2"]);
      assert.equal((await f.health(h)).build_id, "b1");
      assert.equal(await hasLock(h), false);
    }
  } finally {
    await h1.exec(["sh", "-c", 'printf "%s" "$2" > "$1"', "sh", app, original]);
  }
});

test("behind HAProxy: 5 round trips per host — the drained servers recorded before the drain and cleared after the ready, as in a deploy", {
  timeout: 300_000,
}, async () => {
  const g = await fleetApp(2, { command: gunicornCommand });
  const lb = await startHaproxy(
    g.ws.dir,
    g.hosts.map((h) => ({ name: h.name, addr: `${h.ip}:${APP_PORT}` })),
  );
  try {
    await behindHaproxy(g, lb.socket, { drainTimeout: "5s", healthTimeout: "10s" });
    for (const id of ["h1", "h2"]) {
      await appendFile(path.join(g.ws.app, "hello/app.py"), `\n# ${id}\n`);
      await deploy({ cwd: g.ws.app, artifact: (await buildWith(g.ws, id)).result.artifact, target: "fleet" });
    }
    const { factory, calls } = counting();
    const r = await rollback({ cwd: g.ws.app, target: "fleet", transport: factory });
    assert.ok(r.hosts.every((h) => h.result === "ok" && h.to === "h1"));
    for (const h of g.hosts) {
      assert.deepEqual(calls.get(h.dest), ["preflight+lock", "drained: record", "switch+restart+health", "drained: clear", "finish"]);
      assert.equal((await g.health(h)).build_id, "h1");
    }
  } finally {
    lb.stop();
    await g.stop();
  }
});
