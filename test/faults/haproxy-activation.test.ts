import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { copyFile, mkdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { behindHaproxy, fleetApp, gunicornCommand, APP_PORT, type FleetApp } from "../support/fleet-app.js";
import { buildWith } from "../support/build-app.js";
import { startHaproxy, type TestHaproxy } from "../support/haproxy.js";
import { startLoad, type Sample } from "../support/load.js";
import { deploy } from "../../src/commands/deploy.js";
import type { SlipwayError } from "../../src/errors.js";
import type { SlipwayEvent } from "../../src/events.js";
import { localRuntime } from "../../src/lb/runtime.js";
import { adminState, parseServersState, parseShowStat } from "../../src/lb/haproxy.js";

/*
 * Faults around activation, on four namespace hosts running gunicorn under supervisord behind
 * a real HAProxy, under load (issue 14, defects 2, 3, 4, 5 and 9): a switch that fails, a
 * second load balancer that refuses after the first drained, an operator's MAINT, a failure on
 * the last host with rollback-all and batch = 1, and a neighbour failing HAProxy's checks
 * while the next host is due to drain. In every case: no failed request.
 */

let f: FleetApp;
let lb: TestHaproxy;
let config: string;
let original: string;
const ids: Record<string, string> = {};

const api = () => localRuntime(lb.socket);
const admin = async (server: string) => adminState(parseServersState(await api().send("show servers state app")).find((r) => r.server === server)!.adminState);
const statusOf = async (server: string) => parseShowStat(await api().send("show stat")).find((r) => r.pxname === "app" && r.svname === server)!.status;
const links = (i: number) => Promise.all([f.link(f.hosts[i]!, "current"), f.link(f.hosts[i]!, "previous")]);

async function waitUntil(what: string, ok: () => Promise<boolean>, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Every 50 ms, what HAProxy says of each server of the backend (status), until stopped. */
function sampleStats(): { stop(): Promise<Map<string, string>[]> } {
  const samples: Map<string, string>[] = [];
  let running = true;
  const loop = (async () => {
    const deadline = Date.now() + 240_000;
    while (running && Date.now() < deadline) {
      const rows = parseShowStat(await api().send("show stat")).filter((r) => r.pxname === "app" && r.svname !== "BACKEND");
      samples.push(new Map(rows.map((r) => [r.svname, r.status])));
      await new Promise((r) => setTimeout(r, 50));
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      return samples;
    },
  };
}

const outOfRotation = (s: Map<string, string>) => [...s].filter(([, st]) => /^(DRAIN|MAINT)/.test(st)).map(([n]) => n);

/** A deploy under load; returns its error (if any), the requests, and the events. */
async function deployUnderLoad(artifact: string): Promise<{ error?: SlipwayError; samples: Sample[]; events: SlipwayEvent[] }> {
  const events: SlipwayEvent[] = [];
  const load = startLoad(`http://127.0.0.1:${lb.port}/`, { concurrency: 4, maxMs: 200_000 });
  await new Promise((r) => setTimeout(r, 500));
  let error: SlipwayError | undefined;
  try {
    await deploy({ cwd: f.ws.app, artifact, target: "fleet", emit: (e) => events.push(e) });
  } catch (e) {
    error = e as SlipwayError;
  }
  await new Promise((r) => setTimeout(r, 500));
  return { error, samples: await load.stop(), events };
}

const failedRequests = (samples: Sample[]) => samples.filter((s) => s.error || s.status < 200 || s.status >= 300);

async function buildApp(id: string, edit?: (text: string) => string): Promise<string> {
  const file = path.join(f.ws.app, "hello/app.py");
  await copyFile(new URL("../../examples/hello/hello/app.py", import.meta.url), file);
  const text = await readFile(file, "utf8");
  await writeFile(file, `${edit ? edit(text) : text}\n# ${id}\n`);
  return (await buildWith(f.ws, id)).result.artifact;
}

before(async () => {
  f = await fleetApp(4, { command: gunicornCommand, target: { batch: "1", on_failure: '"rollback-all"' } });
  lb = await startHaproxy(
    f.ws.dir,
    f.hosts.map((h) => ({ name: h.name, addr: `${h.ip}:${APP_PORT}` })),
  );
  await behindHaproxy(f, lb.socket, { drainTimeout: "15s", healthTimeout: "8s" });
  config = path.join(f.ws.app, "slipway.toml");
  original = await readFile(config, "utf8");
  for (const id of ["A", "B", "F", "G", "H"]) ids[id] = await buildApp(id);
  // E is healthy everywhere but on the last host (hostnames are h1..h4).
  const last = f.hosts.at(-1)!.name;
  ids["E"] = await buildApp("E", (t) =>
    t.replace(
      "def application(environ, start_response):",
      `def application(environ, start_response):\n    import socket\n    if environ.get("PATH_INFO") == "/health" and socket.gethostname() == "${last}":\n        return _json(start_response, "503 Service Unavailable", {"status": "not on ${last}"})`,
    ),
  );
  await deploy({ cwd: f.ws.app, artifact: ids["A"]!, target: "fleet" });
  await deploy({ cwd: f.ws.app, artifact: ids["B"]!, target: "fleet" });
  for (const i of f.hosts.keys()) assert.deepEqual(await links(i), ["releases/B", "releases/A"]);
  await waitUntil("every server UP", async () => (await Promise.all(f.hosts.map((h) => statusOf(h.name)))).every((s) => s === "UP"));
});

after(async () => {
  lb?.stop();
  await f?.stop();
});

test("rollback-all with batch = 1 switches back one host at a time, and every host keeps previous = A (not the broken E)", { timeout: 300_000 }, async () => {
  const sampler = sampleStats();
  const { error, samples } = await deployUnderLoad(ids["E"]!);
  const stats = await sampler.stop();
  const most = Math.max(...stats.map((s) => outOfRotation(s).length));
  const worst = stats.find((s) => outOfRotation(s).length === most);
  assert.ok(stats.length > 50, `sampled HAProxy ${stats.length} times`);
  assert.equal(most, 1, `at most one server out of rotation at a time (batch = 1); worst sample: ${JSON.stringify([...(worst ?? [])])}`);
  assert.ok(error, "deploying E fails on the last host");
  assert.match(error.message, /h4|10\.201\.\d+\.14/);
  assert.match(error.message, /rolled back \(on_failure = "rollback-all"\): /);
  for (const i of f.hosts.keys()) assert.deepEqual(await links(i), ["releases/B", "releases/A"], `${f.hosts[i]!.name}: current B, previous A`);
  assert.deepEqual(failedRequests(samples), []);
  assert.ok(samples.length > 500, `a real load: ${samples.length} requests`);
});

test("a switch that fails (mv cannot replace current) puts the server back in rotation and changes neither link", { timeout: 300_000 }, async () => {
  const h3 = f.hosts[2]!;
  const tmp = `${f.ws.root}/.current.tmp`;
  await h3.exec(["mkdir", "-p", `${tmp}/in-the-way`]); // `mv -T` of a directory over the `current` symlink fails
  try {
    const { error, samples } = await deployUnderLoad(ids["F"]!);
    assert.equal(await admin(h3.name), "ready", "h3 is not left drained");
    assert.ok(error, "the deploy fails");
    assert.match(error.message, new RegExp(`${h3.dest.replace(/\./g, "\\.")}: switch failed`));
    assert.match(error.message, /current was not switched: still on the release it had and back in rotation/);
    await waitUntil("h3 UP", async () => (await statusOf(h3.name)) === "UP", 5_000);
    for (const i of f.hosts.keys()) assert.deepEqual(await links(i), ["releases/B", "releases/A"], `${f.hosts[i]!.name}: current B, previous A`);
    for (const h of f.hosts) assert.equal(await admin(h.name), "ready");
    assert.deepEqual(failedRequests(samples), []);
  } finally {
    await h3.exec(["rm", "-rf", tmp]);
  }
});

test("a second load balancer that refuses `set server` after the first drained: the first is put back, nothing switched", { timeout: 300_000 }, async () => {
  const dir = path.join(f.ws.dir, "lb2");
  await mkdir(dir, { recursive: true });
  const socket = path.join(dir, "operator.sock");
  const cfg = path.join(dir, "haproxy.cfg");
  const pidfile = path.join(dir, "haproxy.pid");
  // A real HAProxy whose stats socket is `level operator`: it answers `show stat`, so preflight
  // passes, and refuses `set server … state` with "Permission denied".
  await writeFile(
    cfg,
    [
      "global",
      `  stats socket ${socket} mode 600 level operator`,
      "defaults",
      "  mode http",
      "  timeout connect 1s",
      "  timeout client 5s",
      "  timeout server 5s",
      "backend app",
      ...f.hosts.map((h) => `  server ${h.name} ${h.ip}:${APP_PORT}`),
      "",
    ].join("\n"),
  );
  execFileSync("haproxy", ["-f", cfg, "-D", "-p", pidfile]);
  const servers = f.hosts.map((h) => `"${h.dest}" = "${h.name}"`).join(", ");
  await writeFile(
    config,
    original.replace("[targets.fleet.haproxy]", "[[targets.fleet.haproxy]]") +
      `\n[[targets.fleet.haproxy]]\nsocket = "${socket}"\nhost = "local"\nbackend = "app"\nservers = { ${servers} }\ndrain_timeout = "15s"\n`,
  );
  try {
    const { error, samples } = await deployUnderLoad(ids["F"]!);
    const h1 = f.hosts[0]!;
    assert.equal(await admin(h1.name), "ready", "the first balancer's drain was undone");
    assert.ok(error, "the deploy fails");
    assert.match(error.message, /drain failed: .*set server app\/h1 state drain: Permission denied/);
    assert.match(error.message, /put back as it was; nothing was switched/);
    assert.match(error.hint ?? "", /level admin/);
    for (const h of f.hosts) assert.equal(await admin(h.name), "ready");
    for (const i of f.hosts.keys()) assert.deepEqual(await links(i), ["releases/B", "releases/A"]);
    assert.deepEqual(failedRequests(samples), []);
  } finally {
    await writeFile(config, original);
    process.kill(Number(readFileSync(pidfile, "utf8").trim()), "SIGTERM");
  }
});

test("a server the operator put in MAINT is deployed but stays in MAINT, and the output says so", { timeout: 300_000 }, async () => {
  const h2 = f.hosts[1]!;
  assert.equal((await api().send("set server app/h2 state maint")).trim(), "");
  try {
    const { error, samples, events } = await deployUnderLoad(ids["F"]!);
    assert.equal(error, undefined, String(error));
    for (const i of f.hosts.keys()) assert.deepEqual(await links(i), ["releases/F", "releases/B"], `${f.hosts[i]!.name} has F`);
    assert.equal(await admin(h2.name), "maint", "still MAINT after the deploy");
    assert.match(await statusOf(h2.name), /^MAINT/);
    const warned = events.filter((e) => e.type === "log" && e.level === "warn").map((e) => (e as { message: string }).message);
    assert.ok(
      warned.some((m) => m.includes(h2.dest) && /app\/h2 .* was in MAINT before this run: it gets the release but stays in MAINT/.test(m)),
      `warnings: ${JSON.stringify(warned)}`,
    );
    for (const h of f.hosts.filter((x) => x !== h2)) assert.equal(await admin(h.name), "ready");
    assert.deepEqual(failedRequests(samples), []);
  } finally {
    await api().send("set server app/h2 state ready");
    await waitUntil("h2 UP", async () => (await statusOf(h2.name)) === "UP");
  }
});

test("capacity guard: a neighbour failing HAProxy's checks after its restart delays the next drain; the backend never empties", {
  timeout: 300_000,
}, async () => {
  // Only h1 and h2 in rotation (h3, h4 in MAINT): if h2 were drained while h1 is DOWN, HAProxy
  // would have no server and answer 503.
  await api().send("set server app/h3 state maint");
  await api().send("set server app/h4 state maint");
  // A pause after each host, so h1 can be failed between its `ready` and h2's drain.
  await writeFile(config, `${original}\n[deploy.hooks]\nafter_switch = ["sleep 2"]\n`);
  let downAt = 0;
  let upAgainAt = 0;
  const flap = async () => {
    await api().send("disable health app/h1");
    await api().send("set server app/h1 health down");
    downAt = Date.now();
    await new Promise((r) => setTimeout(r, 4000));
    await api().send("enable health app/h1");
    await waitUntil("h1 UP again", async () => (await statusOf("h1")) === "UP");
    upAgainAt = Date.now();
  };
  let flapping: Promise<void> | undefined;
  let h2DrainedAt = 0;
  const events: SlipwayEvent[] = [];
  const load = startLoad(`http://127.0.0.1:${lb.port}/`, { concurrency: 4, maxMs: 200_000 });
  try {
    await deploy({
      cwd: f.ws.app,
      artifact: ids["G"]!,
      target: "fleet",
      emit: (e) => {
        events.push(e);
        if (e.type === "host" && e.host === f.hosts[0]!.dest && e.step === "ready" && e.status === "done") flapping = flap();
        if (e.type === "host" && e.host === f.hosts[1]!.dest && e.step === "drain" && e.status === "done") h2DrainedAt = Date.now();
      },
    });
    await flapping;
    const samples = await load.stop();
    const failed = failedRequests(samples);
    assert.equal(failed.length, 0, `failed requests (503 = no server): ${failed.length}, ${JSON.stringify(failed.slice(0, 3))}`);
    assert.ok(downAt > 0 && upAgainAt > downAt, "h1 was failed and came back");
    assert.ok(h2DrainedAt >= upAgainAt - 1000, `h2 was drained only once h1 was UP again (${h2DrainedAt - upAgainAt} ms after)`);
    const warned = events.filter((e) => e.type === "log").map((e) => (e as { message: string }).message);
    assert.ok(
      warned.some((m) => /waiting for app\/h1 \((DOWN|UP 1\/2)[^)]*\) .* to be UP before draining app\/h2/.test(m)),
      `the wait is reported: ${JSON.stringify(warned)}`,
    );
    const drainDone = events.find((e) => e.type === "host" && e.host === f.hosts[1]!.dest && e.step === "drain" && e.status === "done");
    assert.match((drainDone as { detail?: string }).detail ?? "", /first waited \d+ ms for app\/h1/);
    for (const i of f.hosts.keys()) assert.deepEqual(await links(i), ["releases/G", "releases/F"]);
  } finally {
    await load.stop();
    await flapping?.catch(() => undefined);
    await writeFile(config, original);
    await api().send("enable health app/h1");
    await api().send("set server app/h3 state ready");
    await api().send("set server app/h4 state ready");
  }
});

test("capacity guard, bounded: a neighbour still DOWN after capacity_timeout fails the deploy with the next host untouched", { timeout: 300_000 }, async () => {
  const [h1, h2] = [f.hosts[0]!, f.hosts[1]!];
  await api().send("set server app/h3 state maint");
  await api().send("set server app/h4 state maint");
  const withTimeout = original.replace(/^drain_timeout = "15s"$/m, 'drain_timeout = "15s"\ncapacity_timeout = "2s"');
  assert.notEqual(withTimeout, original);
  await writeFile(config, `${withTimeout}\n[deploy.hooks]\nafter_switch = ["sleep 2"]\n`);
  const before = await Promise.all(f.hosts.map((_, i) => links(i)));
  let injected: Promise<unknown> | undefined;
  let healed: Promise<unknown> | undefined;
  const load = startLoad(`http://127.0.0.1:${lb.port}/`, { concurrency: 4, maxMs: 200_000 });
  try {
    const error = await deploy({
      cwd: f.ws.app,
      artifact: ids["H"]!,
      target: "fleet",
      emit: (e) => {
        if (e.type !== "host") return;
        if (e.host === h1.dest && e.step === "ready" && e.status === "done") {
          injected = api()
            .send("disable health app/h1")
            .then(() => api().send("set server app/h1 health down"));
        }
        // h1 comes back once h2 was given up on, so switching h1 back can end UP.
        if (e.host === h2.dest && e.step === "drain" && e.status === "failed") healed = api().send("enable health app/h1");
      },
    }).then(
      () => undefined,
      (err: SlipwayError) => err,
    );
    const samples = await load.stop();
    const failed = failedRequests(samples);
    assert.equal(failed.length, 0, `failed requests (503 = no server): ${failed.length}, ${JSON.stringify(failed.slice(0, 3))}`);
    assert.ok(injected && healed, "h1 was failed while h2 was due, and healed after");
    assert.ok(error, "the deploy fails");
    assert.match(
      error.message,
      new RegExp(`${h2.dest.replace(/\./g, "\\.")}: not drained: on local .*, app/h1 \\(DOWN[^)]*\\) is still not UP after capacity_timeout \\(2s\\)`),
    );
    assert.match(error.message, /was not touched/);
    assert.deepEqual(await links(1), before[1], "h2 untouched");
    assert.equal(await admin(h2.name), "ready");
    assert.deepEqual(await Promise.all(f.hosts.map((_, i) => links(i))), before, "h1 switched back (rollback-all), with its previous");
  } finally {
    await load.stop();
    await writeFile(config, original);
    await api().send("enable health app/h1");
    await api().send("set server app/h3 state ready");
    await api().send("set server app/h4 state ready");
  }
});
