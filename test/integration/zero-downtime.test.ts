import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { appendFile, copyFile, readFile, writeFile } from "node:fs/promises";
import http from "node:http";
import path from "node:path";
import { behindHaproxy, fleetApp, gunicornCommand, APP_PORT, type FleetApp } from "../support/fleet-app.js";
import { buildWith } from "../support/build-app.js";
import { startHaproxy, type TestHaproxy } from "../support/haproxy.js";
import { percentile, startLoad, type Sample } from "../support/load.js";
import { deploy } from "../../src/commands/deploy.js";
import { rollback } from "../../src/commands/rollback.js";
import { SlipwayError } from "../../src/errors.js";

/*
 * The promise, under load through a real HAProxy: no failed request, and no request ever
 * answered by a release that failed its health check. Hosts run gunicorn (repacked from
 * Debian's package, installed in the artifact's venv) under supervisord.
 */

let f: FleetApp;
let lb: TestHaproxy;

before(async () => {
  f = await fleetApp(3, { command: gunicornCommand, target: { batch: "1", on_failure: '"rollback-all"' } });
  lb = await startHaproxy(
    f.ws.dir,
    f.hosts.map((h) => ({ name: h.name, addr: `${h.ip}:${APP_PORT}` })),
  );
  await behindHaproxy(f, lb.socket, { drainTimeout: "15s", healthTimeout: "6s" });
});
after(async () => {
  lb?.stop();
  await f?.stop();
});

const editApp = async (from: string | RegExp, to: string) => {
  const file = path.join(f.ws.app, "hello/app.py");
  const text = await readFile(file, "utf8");
  const next = text.replace(from, to);
  assert.notEqual(next, text, `edit ${String(from)} applied`);
  await writeFile(file, next);
};

function slow(port: number, seconds: number): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get(`http://127.0.0.1:${port}/slow?seconds=${seconds}`, (res) => {
        let body = "";
        res.on("data", (c) => (body += c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      })
      .on("error", reject);
  });
}

test("zero downtime under load: deploy B, deploy C, roll back to B, a broken D is rolled back everywhere", { timeout: 300_000 }, async () => {
  const ws = f.ws;
  const build = async (id: string) => (await buildWith(ws, id)).result.artifact;
  const A = await build("A");
  await deploy({ cwd: ws.app, artifact: A, target: "fleet" });
  await editApp(/$/, "\n# B\n");
  const B = await build("B");
  await editApp(/$/, "\n# C\n");
  const C = await build("C");
  await editApp(`"status": "ok",`, `"status": "broken",`);
  await editApp(
    "def application(environ, start_response):",
    'def application(environ, start_response):\n    if environ.get("PATH_INFO") == "/health":\n        return _json(start_response, "500 Internal Server Error", {"status": "broken"})',
  );
  const D = await build("D");

  const load = startLoad(`http://127.0.0.1:${lb.port}/`, { concurrency: 8 });
  const marks: { label: string; at: number; expect: string }[] = [];
  const step = async (label: string, expect: string, body: () => Promise<unknown>) => {
    load.phase(label);
    await body();
    marks.push({ label, at: performance.now(), expect });
    load.phase(`after ${label}`);
    await new Promise((r) => setTimeout(r, 1500));
  };
  await new Promise((r) => setTimeout(r, 3000)); // steady state on A

  // Slow requests in flight when the drains start must complete (drain waits for them).
  const slowStart = performance.now();
  const slowOnes = Array.from({ length: 3 }, () => slow(lb.port, 6));
  await new Promise((r) => setTimeout(r, 200));
  const drains: number[] = [];
  const drainStarts: number[] = [];
  await step("deploy B", "B", () =>
    deploy({
      cwd: ws.app,
      artifact: B,
      target: "fleet",
      emit: (e) => {
        if (e.type === "host" && e.step === "drain" && e.status === "start") drainStarts.push(Math.round(performance.now() - slowStart));
        if (e.type === "host" && e.step === "drain" && e.status === "done") drains.push(e.ms);
      },
    }),
  );
  await step("deploy C", "C", () => deploy({ cwd: ws.app, artifact: C, target: "fleet" }));
  await step("rollback to B", "B", () => rollback({ cwd: ws.app, target: "fleet", to: "B" }));
  let failure: unknown;
  await step("deploy broken D", "B", async () => {
    failure = await deploy({ cwd: ws.app, artifact: D, target: "fleet" }).then(
      () => undefined,
      (e: unknown) => e,
    );
  });
  const samples = await load.stop();
  const slowResults = await Promise.all(slowOnes);

  // The broken deploy failed on the first host, was switched back, and said what it saw.
  assert.ok(failure instanceof SlipwayError, "deploying D fails");
  assert.match(
    failure.message,
    new RegExp(`${f.hosts[0]!.dest.replace(/\./g, "\\.")}: health check GET http://127\\.0\\.0\\.1:${APP_PORT}/health failed: HTTP 500`),
  );
  assert.match(failure.message, /broken/);
  assert.match(failure.message, /switched back to B, restarted, healthy and back in rotation/);
  for (const h of f.hosts) {
    assert.equal(await f.link(h, "current"), "releases/B");
    assert.equal((await f.health(h)).build_id, "B");
  }
  const history = (await f.read(f.hosts[0]!, ".slipway/history.jsonl"))
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l));
  assert.equal(history.at(-1).build_id, "D");
  assert.equal(history.at(-1).result, "failed");

  // The promise.
  const failed = samples.filter((s) => s.error || s.status < 200 || s.status >= 300);
  assert.equal(failed.length, 0, `failed requests: ${JSON.stringify(failed.slice(0, 5))}`);
  assert.equal(samples.filter((s) => s.build === "D").length, 0, "no response from the release that failed its health check");
  for (const m of marks) {
    const window = samples.filter((s) => s.phase === `after ${m.label}`);
    assert.ok(window.length > 0, `requests after ${m.label}`);
    const wrong = window.filter((s) => s.build !== m.expect);
    assert.equal(wrong.length, 0, `after ${m.label}: ${wrong.length} of ${window.length} responses not from ${m.expect}`);
  }
  assert.ok(
    slowResults.every((r) => r.status === 200),
    `slow requests across the drain: ${JSON.stringify(slowResults)}`,
  );
  assert.ok(
    Math.max(...drains) >= 1000,
    `a drain waited for a slow request in flight (drain times ${drains.join(", ")} ms, starting ${drainStarts.join(", ")} ms after the slow requests)`,
  );

  report(samples);
  assert.ok(samples.length >= 10_000, `a real load: ${samples.length} requests`);
});

test("on_failure: rollback-all switches earlier batches back; stop leaves them; no request fails either way", { timeout: 300_000 }, async () => {
  const ws = f.ws;
  const config = path.join(ws.app, "slipway.toml");
  const original = await readFile(config, "utf8");
  // E is the example's code, healthy everywhere but on the last host (hostnames are h1, h2, h3).
  await copyFile(new URL("../../examples/hello/hello/app.py", import.meta.url), path.join(ws.app, "hello/app.py"));
  const last = f.hosts.at(-1)!;
  await editApp(
    "def application(environ, start_response):",
    `def application(environ, start_response):\n    import socket\n    if environ.get("PATH_INFO") == "/health" and socket.gethostname() == "${last.name}":\n        return _json(start_response, "503 Service Unavailable", {"status": "not on ${last.name}"})`,
  );
  const E = (await buildWith(ws, "E")).result.artifact;
  const currentBefore = await Promise.all(f.hosts.map((h) => f.link(h, "current")));
  const before = currentBefore[0]!.replace("releases/", "");
  assert.ok(
    currentBefore.every((c) => c === currentBefore[0]),
    "the fleet starts on one release",
  );

  const load = startLoad(`http://127.0.0.1:${lb.port}/`, { concurrency: 8 });
  try {
    const rolled = await deploy({ cwd: ws.app, artifact: E, target: "fleet" }).then(
      () => undefined,
      (e: Error) => e,
    );
    assert.ok(rolled, "deploying E fails on the last host");
    assert.match(rolled.message, new RegExp(`${last.dest.replace(/\./g, "\\.")}: health check .* failed: HTTP 503`));
    assert.match(rolled.message, /rolled back \(on_failure = "rollback-all"\): /);
    for (const h of f.hosts) assert.equal(await f.link(h, "current"), `releases/${before}`, `${h.name} is back on ${before}`);
    const h1history = (await f.read(f.hosts[0]!, ".slipway/history.jsonl"))
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    assert.equal(h1history.at(-1).result, "rolled-back");

    await writeFile(config, original.replace('on_failure = "rollback-all"', 'on_failure = "stop"'));
    const stopped = await deploy({ cwd: ws.app, artifact: E, target: "fleet" }).then(
      () => undefined,
      (e: Error) => e,
    );
    assert.ok(stopped);
    assert.match(stopped.message, /still on E \(on_failure = "stop"\)/);
    const now = await Promise.all(f.hosts.map((h) => f.link(h, "current")));
    assert.deepEqual(now, [...f.hosts.slice(0, -1).map(() => "releases/E"), `releases/${before}`]);
  } finally {
    await writeFile(config, original);
    const samples = await load.stop();
    const failed = samples.filter((x) => x.error || x.status < 200 || x.status >= 300);
    assert.equal(failed.length, 0, `failed requests: ${JSON.stringify(failed.slice(0, 5))}`);
    assert.ok(samples.length > 1000);
  }
  await rollback({
    cwd: ws.app,
    target: "fleet",
    to: before,
    hosts: f.hosts
      .slice(0, -1)
      .map((h) => h.dest)
      .join(","),
  });
});

test("a server name HAProxy does not know is a preflight error (exit 2) before any host is touched; a health command works too", async () => {
  const ws = f.ws;
  const config = path.join(ws.app, "slipway.toml");
  const original = await readFile(config, "utf8");
  await copyFile(new URL("../../examples/hello/hello/app.py", import.meta.url), path.join(ws.app, "hello/app.py"));
  await appendFile(path.join(ws.app, "hello/app.py"), "\n# F\n");
  const artifact = (await buildWith(ws, "F")).result.artifact;
  const current = await Promise.all(f.hosts.map((h) => f.link(h, "current")));
  try {
    await writeFile(config, original.replace(`"${f.hosts[1]!.dest}" = "${f.hosts[1]!.name}"`, `"${f.hosts[1]!.dest}" = "nosuch"`));
    const err = await deploy({ cwd: ws.app, artifact, target: "fleet" }).then(
      () => undefined,
      (e: SlipwayError) => e,
    );
    assert.ok(err);
    assert.equal(err.exitCode, 2);
    assert.match(err.message, /backend app has no server nosuch \(for root@/);
    assert.deepEqual(await Promise.all(f.hosts.map((h) => f.link(h, "current"))), current);
    assert.equal((await f.hosts[0]!.exec(["sh", "-c", `ls ${ws.root}/releases 2>/dev/null || true`])).includes("F"), false, "nothing was sent");

    await writeFile(
      config,
      original.replace(
        /\[targets\.fleet\.health\]\nurl = .*$/m,
        '[targets.fleet.health]\ncommand = "python -c \\"import urllib.request; urllib.request.urlopen(\'http://127.0.0.1:8000/health\')\\""',
      ),
    );
    const events: string[] = [];
    await deploy({
      cwd: ws.app,
      artifact,
      target: "fleet",
      emit: (e) => {
        if (e.type === "host" && e.step === "health" && e.status === "done") events.push(e.detail ?? "");
      },
    });
    assert.equal(events.length, 3);
    assert.match(events[0]!, /^`python -c .*` ok in \d+ ms/);
    for (const h of f.hosts) assert.equal((await f.health(h)).build_id, "F");
  } finally {
    await writeFile(config, original);
  }
});

function report(samples: Sample[]): void {
  const lat = (xs: Sample[]) => xs.map((s) => s.end - s.start);
  const steady = samples.filter((s) => s.phase === "steady" || s.phase.startsWith("after"));
  const deploying = samples.filter((s) => !(s.phase === "steady" || s.phase.startsWith("after")));
  const line = (name: string, xs: Sample[]) =>
    `${name.padEnd(10)} ${String(xs.length).padStart(7)} requests  p50 ${percentile(lat(xs), 50).toFixed(1)} ms  p99 ${percentile(lat(xs), 99).toFixed(1)} ms`;
  console.log(`zero-downtime: ${samples.length} requests, 0 failed, 0 from D`);
  console.log(line("steady", steady));
  console.log(line("deploying", deploying));
}
