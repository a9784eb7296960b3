// Zero-downtime benchmark: what a rolling deploy costs the clients of a live fleet, and where
// its wall time goes.
//
//   cd /work/main && npm run build && npx tsx bench/zero-downtime.ts      (needs root)
//
// Setup (as test/integration/zero-downtime.test.ts): 3 namespace hosts from
// test/support/fleet-app.ts running gunicorn (2 workers x 4 threads) under supervisord, a real
// HAProxy in the root namespace (bench/zero-downtime-haproxy.ts: the test's settings plus a
// header that pins one request to a server, used only for the slow requests below), slipway
// configured with health.url, haproxy (drain_timeout 15s) and batch = 1. Release A is deployed
// first (untimed); B and C are code-only changes (a comment appended to hello/app.py: same
// venv key), built before the load starts.
//
// One load (test/support/load.ts: concurrency 8, keep-alive, GET / through HAProxy, every
// response recorded; bounded by LOAD_MAX_MS and LOAD_MAX_REQUESTS) runs through:
//   warm-up (1 s, not reported)
//   steady    ~5 s, nothing deploying
//   deploy B  `node dist/cli.js deploy B.tar --target fleet --batch 1 --json`
//   settle    1.5 s (every response must come from B)
//   deploy C  the same, but each host gets a /slow?seconds=2 request pinned to it just before
//             its drain starts (fired when the previous host's health check is done — its ready
//             step follows; for the first host at the "plan" event, before staging), so its
//             drain has to wait for it
//   settle    1 s
// Per phase: requests, errors (non-2xx + socket errors), p50/p99/max latency, req/s, which
// builds answered. Per deploy: the wall time split into drain / restart / health / ready /
// our overhead, per host (step ms from the "host" events) and in total (on the wall clock:
// the time the CLI ran while a drain, restart, health or ready step was running, the time
// only other host steps ran, and the gap when no host step ran — CLI start, config, local
// artifact verify, ssh connects, exit).
//
// Prints tables, writes bench/results/zero-downtime-<timestamp>.json, exits 0 (it reports,
// it does not gate; exit 1 only if the bench itself broke). HAProxy and the fleet are always
// stopped, by PID.
import { spawn, type ChildProcess } from "node:child_process";
import { execFileSync } from "node:child_process";
import http from "node:http";
import { appendFile, mkdir, writeFile } from "node:fs/promises";
import os from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { behindHaproxy, fleetApp, gunicornCommand, APP_PORT, type FleetApp } from "../test/support/fleet-app.js";
import { percentile, startLoad, type Sample } from "../test/support/load.js";
import { startBenchHaproxy, type BenchHaproxy } from "./zero-downtime-haproxy.js";

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const CLI = join(REPO, "dist", "cli.js");
const RESULTS_DIR = join(REPO, "bench", "results");

const HOSTS = 3;
const CONCURRENCY = 8;
const WARMUP_MS = 1000;
const STEADY_MS = 5000;
const SETTLE_MS = 1500;
const SLOW_SECONDS = 2;
const LOAD_MAX_MS = 150_000;
const LOAD_MAX_REQUESTS = 600_000;
/** The whole run must stay under 5 minutes: past this, stop everything and exit 1. */
const BUDGET_MS = 285_000;
const DRAIN_TIMEOUT = "15s";

type Json = Record<string, any>;

// --- the CLI ---------------------------------------------------------------------------------

interface CliEvent extends Json {
  /** performance.now() when the line arrived (same clock as the load's samples). */
  at: number;
}

interface CliRun {
  args: string[];
  code: number | null;
  /** performance.now() at spawn and at exit. */
  start: number;
  end: number;
  wall_ms: number;
  events: CliEvent[];
  result: Json | undefined;
  stderr: string;
}

const children = new Set<ChildProcess>();

/** Run `node dist/cli.js <args> --json` in the app dir; `onEvent` sees each line as it arrives. */
function cli(f: FleetApp, args: string[], onEvent?: (e: CliEvent) => void): Promise<CliRun> {
  return new Promise((resolveRun, reject) => {
    const start = performance.now();
    const child = spawn(process.execPath, [CLI, ...args, "--json"], { cwd: f.ws.app, env: f.ws.env, stdio: ["ignore", "pipe", "pipe"] });
    children.add(child);
    const events: CliEvent[] = [];
    let partial = "";
    let stderr = "";
    let bad: Error | undefined;
    const line = (text: string, at: number) => {
      if (!text.trim()) return;
      let e: CliEvent;
      try {
        e = { ...(JSON.parse(text) as Json), at };
      } catch {
        bad ??= new Error(`slipway ${args[0]}: stdout line is not JSON: ${text.slice(0, 300)}`);
        return;
      }
      events.push(e);
      try {
        onEvent?.(e);
      } catch (err) {
        bad ??= err as Error;
      }
    };
    child.stdout!.on("data", (c: Buffer) => {
      const at = performance.now();
      partial += c.toString();
      let i: number;
      while ((i = partial.indexOf("\n")) >= 0) {
        line(partial.slice(0, i), at);
        partial = partial.slice(i + 1);
      }
    });
    child.stderr!.on("data", (c: Buffer) => (stderr += c.toString()));
    child.on("error", reject);
    child.on("close", (code) => {
      children.delete(child);
      const end = performance.now();
      if (partial) line(partial, end);
      if (bad) return reject(bad);
      resolveRun({ args, code, start, end, wall_ms: end - start, events, result: events.findLast((e) => e["type"] === "result"), stderr });
    });
  });
}

function mustOk(run: CliRun): Json {
  if (run.code !== 0 || !run.result?.["ok"]) {
    const why = run.result?.["error"] ? JSON.stringify(run.result["error"]) : run.stderr.trim().slice(-2000) || `exit ${run.code}`;
    throw new Error(`slipway ${run.args.join(" ")} failed (exit ${run.code}): ${why}`);
  }
  return run.result;
}

async function build(f: FleetApp, id: string): Promise<{ artifact: string; venv_key: string; seconds: number }> {
  const run = await cli(f, ["build", "--build-id", id]);
  const r = mustOk(run);
  return { artifact: String(r["artifact"]), venv_key: String(r["venv"]?.["key"]), seconds: run.wall_ms / 1000 };
}

let changes = 0;
const codeChange = (f: FleetApp, tag: string) => appendFile(join(f.ws.app, "hello", "app.py"), `# zero-downtime bench change ${++changes} ${tag}\n`);

// --- HAProxy ---------------------------------------------------------------------------------

async function waitAllUp(lb: BenchHaproxy, names: string[], timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = "";
  for (;;) {
    const rows = (await lb.stats()).filter((r) => r.pxname === "app" && names.includes(r.svname));
    last = rows.map((r) => `${r.svname}=${r.status}`).join(" ");
    if (rows.length === names.length && rows.every((r) => r.status === "UP")) return;
    if (Date.now() > deadline) throw new Error(`HAProxy does not see every server UP after ${timeoutMs} ms: ${last}`);
    await sleep(100);
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// --- slow requests pinned to one server --------------------------------------------------------

interface SlowRequest {
  server: string;
  start: number;
  end: number;
  status: number;
  served_by?: string;
  build?: string;
  body: string;
  error?: string;
}

function slowRequest(lb: BenchHaproxy, server: string, seconds: number): Promise<SlowRequest> {
  return new Promise((done) => {
    const r: SlowRequest = { server, start: performance.now(), end: 0, status: 0, body: "" };
    const req = http.get(
      `http://127.0.0.1:${lb.port}/slow?seconds=${seconds}`,
      { agent: false, timeout: 30_000, headers: { [lb.pinHeader]: server } },
      (res) => {
        r.status = res.statusCode ?? 0;
        r.served_by = res.headers["x-served-by"] as string | undefined;
        r.build = res.headers["x-build-id"] as string | undefined;
        res.on("data", (c: Buffer) => (r.body += c.toString()));
        res.on("end", () => {
          r.end = performance.now();
          done(r);
        });
      },
    );
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", (err) => {
      r.end = performance.now();
      r.error = err.message;
      done(r);
    });
  });
}

// --- figures ---------------------------------------------------------------------------------

const failedSample = (s: Sample) => Boolean(s.error) || s.status < 200 || s.status >= 300;

interface LoadFigures {
  label: string;
  seconds: number;
  requests: number;
  rps: number;
  errors: number;
  non_2xx: number;
  socket_errors: number;
  error_examples: { status: number; error?: string; build?: string; at_ms: number }[];
  p50_ms: number;
  p90_ms: number;
  p99_ms: number;
  max_ms: number;
  builds: Record<string, number>;
}

function loadFigures(label: string, xs: Sample[], seconds: number, t0: number): LoadFigures {
  const lat = xs.map((s) => s.end - s.start);
  const failed = xs.filter(failedSample);
  const builds: Record<string, number> = {};
  for (const s of xs) if (!failedSample(s)) builds[s.build ?? "?"] = (builds[s.build ?? "?"] ?? 0) + 1;
  return {
    label,
    seconds,
    requests: xs.length,
    rps: seconds > 0 ? xs.length / seconds : 0,
    errors: failed.length,
    non_2xx: failed.filter((s) => !s.error).length,
    socket_errors: failed.filter((s) => s.error).length,
    error_examples: failed.slice(0, 10).map((s) => ({ status: s.status, error: s.error, build: s.build, at_ms: Math.round(s.start - t0) })),
    p50_ms: round1(percentile(lat, 50)),
    p90_ms: round1(percentile(lat, 90)),
    p99_ms: round1(percentile(lat, 99)),
    max_ms: round1(lat.reduce((m, x) => Math.max(m, x), 0)),
    builds,
  };
}

const round1 = (x: number) => Math.round(x * 10) / 10;

const ACTIVATION = ["drain", "restart", "health", "ready"] as const;
type Activation = (typeof ACTIVATION)[number];

interface HostSplit {
  host: string; // h1
  dest: string;
  drain_ms: number;
  restart_ms: number;
  health_ms: number;
  ready_ms: number;
  /** Sum of this host's other steps (lock, preflight, clean, send, unpack, migrate, switch, record, prune, unlock, …). */
  overhead_ms: number;
  /** Every step's ms (summed when a step ran more than once). */
  steps_ms: Record<string, number>;
  /** Sum of all its steps. */
  steps_total_ms: number;
  /** slipway's result hosts[].durations_ms.activate (drain … ready and after-hooks). */
  activate_ms?: number;
  /** The "detail" of its drain and ready steps. */
  drain_detail?: string;
  ready_detail?: string;
  /** performance.now() of the drain "start" event. */
  drain_start_at?: number;
}

interface DeploySplit {
  wall_ms: number;
  hosts: HostSplit[];
  total: {
    /** Sums over hosts of the step ms (batch 1: one host at a time). */
    drain_ms: number;
    restart_ms: number;
    health_ms: number;
    ready_ms: number;
    /** wall − drain − restart − health − ready. */
    overhead_ms: number;
    /** On the wall clock, while no activation step ran: time some other host step ran … */
    overhead_in_host_steps_ms: number;
    /** … time the local artifact verify ran (no host step running) … */
    overhead_verify_ms: number;
    /** … and the rest: no host step running (CLI start, config, ssh connects, HAProxy preflight, between steps, exit). */
    overhead_gap_ms: number;
    /** The gap, by where it falls: spawn → first event (node start, config, artifact head); after verify → first host step (HAProxy preflight, ssh connects, lock peek); last host step → exit; everything else between steps. */
    gap_parts_ms: { cli_start: number; before_first_host_step: number; after_last_host_step: number; between_steps: number };
    /** Sum of every host step's ms over all hosts (parallel steps counted once per host). */
    sum_of_host_steps_ms: number;
    /** wall − sum_of_host_steps_ms (negative when parallel steps overlap more than the gaps). */
    wall_minus_sum_of_host_steps_ms: number;
    /** Wall-clock time when activation steps of two hosts overlapped (0 with batch 1). */
    activation_overlap_ms: number;
  };
  timings_ms?: Record<string, number>;
  steps_seen: string[];
}

function deploySplit(run: CliRun, f: FleetApp): DeploySplit {
  const hostEvents = run.events.filter((e) => e["type"] === "host");
  const ended = hostEvents.filter((e) => e["status"] !== "start" && typeof e["ms"] === "number");
  const outcomes = (run.result?.["hosts"] as Json[] | undefined) ?? [];
  const hosts: HostSplit[] = f.hosts.map((h) => {
    const mine = ended.filter((e) => e["host"] === h.dest);
    const steps: Record<string, number> = {};
    for (const e of mine) steps[e["step"]] = (steps[e["step"]] ?? 0) + Number(e["ms"]);
    const get = (s: string) => steps[s] ?? 0;
    const total = Object.values(steps).reduce((a, b) => a + b, 0);
    const act = ACTIVATION.reduce((a, s) => a + get(s), 0);
    return {
      host: h.name,
      dest: h.dest,
      drain_ms: get("drain"),
      restart_ms: get("restart"),
      health_ms: get("health"),
      ready_ms: get("ready"),
      overhead_ms: total - act,
      steps_ms: steps,
      steps_total_ms: total,
      activate_ms: outcomes.find((o) => o["host"] === h.dest)?.["durations_ms"]?.["activate"],
      drain_detail: mine.find((e) => e["step"] === "drain")?.["detail"],
      ready_detail: mine.find((e) => e["step"] === "ready")?.["detail"],
      drain_start_at: hostEvents.find((e) => e["host"] === h.dest && e["step"] === "drain" && e["status"] === "start")?.at,
    };
  });

  // The wall clock, segment by segment: which kind of step ran then (an interval is [arrival − ms, arrival]).
  type Kind = "activation" | "other" | "verify";
  const intervals: { a: number; b: number; kind: Kind; host?: string }[] = ended.map((e) => ({
    a: Math.max(run.start, e.at - Number(e["ms"])),
    b: e.at,
    kind: (ACTIVATION as readonly string[]).includes(e["step"]) ? "activation" : "other",
    host: e["host"],
  }));
  for (const e of run.events) {
    if (e["type"] === "phase" && e["phase"] === "verify" && e["status"] === "done")
      intervals.push({ a: Math.max(run.start, e.at - Number(e["ms"])), b: e.at, kind: "verify" });
  }
  const points = [...new Set([run.start, run.end, ...intervals.flatMap((i) => [i.a, i.b])])]
    .filter((p) => p >= run.start && p <= run.end)
    .sort((x, y) => x - y);
  const cover = { activation: 0, other: 0, verify: 0, none: 0, overlap: 0 };
  const firstEvent = run.events[0]?.at ?? run.end;
  const hostIv = intervals.filter((x) => x.kind !== "verify");
  const firstHostStep = hostIv.length ? Math.min(...hostIv.map((x) => x.a)) : run.end;
  const lastHostStep = hostIv.length ? Math.max(...hostIv.map((x) => x.b)) : run.end;
  const gap = { cli_start: 0, before_first_host_step: 0, after_last_host_step: 0, between_steps: 0 };
  for (let i = 0; i + 1 < points.length; i++) {
    const [p, q] = [points[i]!, points[i + 1]!];
    const mid = (p + q) / 2;
    const on = intervals.filter((x) => x.a <= mid && mid < x.b);
    const acts = new Set(on.filter((x) => x.kind === "activation").map((x) => x.host));
    if (acts.size > 1) cover.overlap += q - p;
    const kind = acts.size ? "activation" : on.some((x) => x.kind === "other") ? "other" : on.some((x) => x.kind === "verify") ? "verify" : "none";
    cover[kind] += q - p;
    if (kind === "none") {
      const part =
        mid < firstEvent ? "cli_start" : mid < firstHostStep ? "before_first_host_step" : mid >= lastHostStep ? "after_last_host_step" : "between_steps";
      gap[part] += q - p;
    }
  }
  const sum = (k: keyof HostSplit) => hosts.reduce((a, h) => a + Number(h[k] ?? 0), 0);
  const act = ACTIVATION.reduce((a, s) => a + sum(`${s}_ms` as keyof HostSplit), 0);
  const allSteps = sum("steps_total_ms");
  return {
    wall_ms: Math.round(run.wall_ms),
    hosts,
    total: {
      drain_ms: sum("drain_ms"),
      restart_ms: sum("restart_ms"),
      health_ms: sum("health_ms"),
      ready_ms: sum("ready_ms"),
      overhead_ms: Math.round(run.wall_ms - act),
      overhead_in_host_steps_ms: Math.round(cover.other),
      overhead_verify_ms: Math.round(cover.verify),
      overhead_gap_ms: Math.round(cover.none),
      gap_parts_ms: {
        cli_start: Math.round(gap.cli_start),
        before_first_host_step: Math.round(gap.before_first_host_step),
        after_last_host_step: Math.round(gap.after_last_host_step),
        between_steps: Math.round(gap.between_steps),
      },
      sum_of_host_steps_ms: allSteps,
      wall_minus_sum_of_host_steps_ms: Math.round(run.wall_ms - allSteps),
      activation_overlap_ms: Math.round(cover.overlap),
    },
    timings_ms: run.result?.["timings_ms"] as Record<string, number> | undefined,
    steps_seen: [...new Set(ended.map((e) => String(e["step"])))],
  };
}

// --- printing --------------------------------------------------------------------------------

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? "").length)));
  return rows
    .map((r, i) => {
      const line = r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join("  ");
      return i === 0 ? `${line}\n${widths.map((w) => "-".repeat(w)).join("  ")}` : line;
    })
    .join("\n");
}

const ms = (x: number | undefined) => (x === undefined ? "-" : String(Math.round(x)));
const pctOf = (x: number, of: number) => (of > 0 ? `${((x / of) * 100).toFixed(0)}%` : "-");
const log = (s = "") => console.log(s);

function loadRow(l: LoadFigures): string[] {
  return [
    l.label,
    l.seconds.toFixed(1),
    String(l.requests),
    l.rps.toFixed(0),
    String(l.errors),
    String(l.non_2xx),
    String(l.socket_errors),
    l.p50_ms.toFixed(1),
    l.p90_ms.toFixed(1),
    l.p99_ms.toFixed(1),
    l.max_ms.toFixed(1),
    Object.entries(l.builds)
      .map(([b, n]) => `${b}:${n}`)
      .join(" "),
  ];
}
const LOAD_HEADER = ["phase", "s", "requests", "req/s", "errors", "non-2xx", "socket", "p50 ms", "p90 ms", "p99 ms", "max ms", "answered by build"];

function splitTable(d: DeploySplit): string {
  const t = d.total;
  const rows = [
    ["host", "drain", "restart", "health", "ready", "overhead (other steps)", "all steps", "activate (result)"],
    ...d.hosts.map((h) => [
      h.host,
      ms(h.drain_ms),
      ms(h.restart_ms),
      ms(h.health_ms),
      ms(h.ready_ms),
      ms(h.overhead_ms),
      ms(h.steps_total_ms),
      ms(h.activate_ms),
    ]),
    [
      "total (sum over hosts)",
      ms(t.drain_ms),
      ms(t.restart_ms),
      ms(t.health_ms),
      ms(t.ready_ms),
      `${ms(t.overhead_ms)} = wall − drain − restart − health − ready`,
      ms(t.sum_of_host_steps_ms),
      "-",
    ],
    [
      "share of wall",
      pctOf(t.drain_ms, d.wall_ms),
      pctOf(t.restart_ms, d.wall_ms),
      pctOf(t.health_ms, d.wall_ms),
      pctOf(t.ready_ms, d.wall_ms),
      pctOf(t.overhead_ms, d.wall_ms),
      "-",
      "-",
    ],
  ];
  const other = [...new Set(d.hosts.flatMap((h) => Object.keys(h.steps_ms)))].filter((s) => !(ACTIVATION as readonly string[]).includes(s));
  const stepRows = [["host", ...other], ...d.hosts.map((h) => [h.host, ...other.map((s) => ms(h.steps_ms[s]))])];
  return [
    `wall ${ms(d.wall_ms)} ms (CLI spawn to exit); ms per step from the "host" events:`,
    "",
    table(rows),
    "",
    `our overhead on the wall clock: ${ms(t.overhead_ms)} ms = ${ms(t.overhead_in_host_steps_ms)} ms in other host steps (no drain/restart/health/ready running)` +
      ` + ${ms(t.overhead_verify_ms)} ms local artifact verify + ${ms(t.overhead_gap_ms)} ms with no step running`,
    `  no step running: ${ms(t.gap_parts_ms.cli_start)} ms CLI start (spawn → first event: node, config, artifact head) + ${ms(t.gap_parts_ms.before_first_host_step)} ms after verify, before the first host step (HAProxy preflight, ssh connects, lock peek)` +
      ` + ${ms(t.gap_parts_ms.between_steps)} ms between steps + ${ms(t.gap_parts_ms.after_last_host_step)} ms after the last host step (result, exit)`,
    `wall − Σ all host steps of all hosts = ${ms(d.wall_ms)} − ${ms(t.sum_of_host_steps_ms)} = ${ms(t.wall_minus_sum_of_host_steps_ms)} ms (lock/preflight/send/unpack/record/prune/unlock run on all hosts at once, so they count 3x in the sum)`,
    `activation steps of two hosts overlapping on the wall clock: ${ms(t.activation_overlap_ms)} ms (batch 1 ⇒ 0 but for a few ms of event-arrival jitter); result timings_ms ${JSON.stringify(d.timings_ms ?? {})}`,
    "",
    "overhead steps per host (ms):",
    "",
    table(stepRows),
  ].join("\n");
}

// --- main ------------------------------------------------------------------------------------

async function gitCommit(): Promise<string> {
  try {
    const head = execFileSync("git", ["rev-parse", "HEAD"], { cwd: REPO, encoding: "utf8" }).trim();
    const dirty = execFileSync("git", ["status", "--porcelain", "--", "src"], { cwd: REPO, encoding: "utf8" }).trim() ? "+dirty src" : "";
    return head + dirty;
  } catch {
    return "unknown";
  }
}

async function main(): Promise<void> {
  const started = new Date();
  const T0 = performance.now();
  const since = () => `${((performance.now() - T0) / 1000).toFixed(1)}s`;
  const warnings: string[] = [];
  const warn = (w: string) => {
    warnings.push(w);
    log(`  ! ${w}`);
  };
  try {
    log(`zero-downtime bench: ${HOSTS} hosts, gunicorn under supervisord, HAProxy, load concurrency ${CONCURRENCY}`);
    const fa = (f = await fleetApp(HOSTS, { command: gunicornCommand, target: { batch: "1", on_failure: '"rollback-all"' } }));
    const balancer = (lb = await startBenchHaproxy(
      fa.ws.dir,
      fa.hosts.map((h) => ({ name: h.name, addr: `${h.ip}:${APP_PORT}` })),
    ));
    await behindHaproxy(fa, balancer.socket, { drainTimeout: DRAIN_TIMEOUT, healthTimeout: "6s" });
    log(`[${since()}] fleet ${fa.hosts.map((h) => `${h.name}=${h.ip}`).join(" ")}; HAProxy on 127.0.0.1:${balancer.port}`);

    const A = await build(fa, "A");
    log(`[${since()}] built A in ${A.seconds.toFixed(1)} s (venv ${A.venv_key.slice(0, 12)})`);
    const first = await cli(fa, ["deploy", A.artifact, "--target", "fleet"]);
    mustOk(first);
    await waitAllUp(
      balancer,
      fa.hosts.map((h) => h.name),
    );
    log(`[${since()}] deployed A (first deploy, venv sent) in ${(first.wall_ms / 1000).toFixed(1)} s; HAProxy sees all servers UP`);
    await codeChange(fa, "B");
    const B = await build(fa, "B");
    await codeChange(fa, "C");
    const C = await build(fa, "C");
    if (B.venv_key !== A.venv_key || C.venv_key !== A.venv_key) warn(`B/C are not code-only changes: venv keys ${A.venv_key} ${B.venv_key} ${C.venv_key}`);
    log(`[${since()}] built B (${B.seconds.toFixed(1)} s) and C (${C.seconds.toFixed(1)} s): code-only (same venv key)`);

    // --- under load ---
    const load = startLoad(`http://127.0.0.1:${balancer.port}/`, { concurrency: CONCURRENCY, maxMs: LOAD_MAX_MS, maxRequests: LOAD_MAX_REQUESTS });
    const marks: Record<string, { start: number; end: number }> = {};
    const phase = async <T>(label: string, body: () => Promise<T>): Promise<T> => {
      load.phase(label);
      const start = performance.now();
      try {
        return await body();
      } finally {
        marks[label] = { start, end: performance.now() };
      }
    };
    const deployArgs = (artifact: string) => ["deploy", artifact, "--target", "fleet", "--batch", "1"];
    let samples: Sample[] = [];
    let runB: CliRun | undefined;
    let runC: CliRun | undefined;
    const slow: Promise<SlowRequest>[] = [];
    const slowFired: { server: string; dest: string; trigger: string; at: number }[] = [];
    try {
      await phase("warmup", () => sleep(WARMUP_MS));
      await phase("steady", () => sleep(STEADY_MS));
      log(`[${since()}] steady state measured; deploying B (code-only, batch 1) through the CLI`);
      runB = await phase("deploy B", () => cli(fa, deployArgs(B.artifact)));
      await phase("after B", () => sleep(SETTLE_MS));
      log(`[${since()}] deploy B done (exit ${runB.code}); deploying C with a ${SLOW_SECONDS} s request in flight on each host as its drain starts`);

      // Deploy C: pin a slow request to each host just before its drain.
      const byDest = new Map(fa.hosts.map((h) => [h.dest, h]));
      let order: string[] = [];
      const fire = (dest: string, trigger: string, at: number) => {
        if (slowFired.some((s) => s.dest === dest)) return;
        const h = byDest.get(dest);
        if (!h) return;
        slowFired.push({ server: h.name, dest, trigger, at });
        slow.push(slowRequest(balancer, h.name, SLOW_SECONDS));
      };
      runC = await phase("deploy C (slow requests)", () =>
        cli(fa, deployArgs(C.artifact), (e) => {
          // The first host: at the plan (then clean, send, unpack and the migrations check run: ~0.3–0.5 s of a code-only deploy).
          if (e["type"] === "plan") {
            order = ((e["plan"]?.["batches"] ?? []) as string[][]).flat();
            if (order[0]) fire(order[0], "plan (before staging)", e.at);
          }
          if (e["type"] === "host" && e["step"] === "health" && e["status"] === "done") {
            const next = order[order.indexOf(e["host"]) + 1];
            if (next) fire(next, `${byDest.get(e["host"])?.name} health done`, e.at);
          }
          // Fallback (too late to be in flight before the drain; reported as such).
          if (e["type"] === "batch") for (const h of e["hosts"] as string[]) fire(h, "batch start (fallback)", e.at);
        }),
      );
      await phase("after C", () => sleep(1000));
    } finally {
      samples = await load.stop();
    }
    const slowResults = await Promise.all(slow);
    log(`[${since()}] deploy C done (exit ${runC?.code}); load stopped: ${samples.length} requests recorded`);

    if (!runB || !runC) throw new Error("a deploy did not run");
    const okB = runB.code === 0 && runB.result?.["ok"] === true;
    const okC = runC.code === 0 && runC.result?.["ok"] === true;
    if (!okB) warn(`deploy B failed (exit ${runB.code}): ${JSON.stringify(runB.result?.["error"] ?? runB.stderr.slice(-500))}`);
    if (!okC) warn(`deploy C failed (exit ${runC.code}): ${JSON.stringify(runC.result?.["error"] ?? runC.stderr.slice(-500))}`);
    const lastSampleEnd = samples.reduce((m, s) => Math.max(m, s.end), 0);
    if (samples.length >= LOAD_MAX_REQUESTS || lastSampleEnd < marks["after C"]!.start) {
      warn(
        `the load hit its bounds (${samples.length} requests, last at ${((lastSampleEnd - T0) / 1000).toFixed(1)} s) before the run ended: later phases are not fully covered`,
      );
    }

    // --- figures ---
    const fig = (label: string) => {
      const m = marks[label]!;
      return loadFigures(
        label,
        samples.filter((s) => s.phase === label),
        (m.end - m.start) / 1000,
        T0,
      );
    };
    const phases = ["steady", "deploy B", "after B", "deploy C (slow requests)", "after C"].map(fig);
    const [steady, duringB, afterB, duringC, afterC] = phases as [LoadFigures, LoadFigures, LoadFigures, LoadFigures, LoadFigures];
    const allFailed = samples.filter(failedSample);
    const splitB = deploySplit(runB, fa);
    const splitC = deploySplit(runC, fa);
    const p99Ratio = steady.p99_ms > 0 ? duringB.p99_ms / steady.p99_ms : NaN;
    const p99RatioC = steady.p99_ms > 0 ? duringC.p99_ms / steady.p99_ms : NaN;
    const p50Ratio = steady.p50_ms > 0 ? duringB.p50_ms / steady.p50_ms : NaN;

    // Wrong build after a deploy: after B every answer must be B, after C every answer C.
    const wrongAfter = (l: LoadFigures, want: string) =>
      Object.entries(l.builds)
        .filter(([b]) => b !== want)
        .reduce((a, [, n]) => a + n, 0);
    const wrongAfterB = wrongAfter(afterB, "B");
    const wrongAfterC = wrongAfter(afterC, "C");
    if (wrongAfterB) warn(`${wrongAfterB} responses after deploy B were not from B`);
    if (wrongAfterC) warn(`${wrongAfterC} responses after deploy C were not from C`);

    // The slow requests against the drains of deploy C.
    const slowRows = fa.hosts.map((h) => {
      const hs = splitC.hosts.find((x) => x.dest === h.dest)!;
      const fired = slowFired.find((s) => s.dest === h.dest);
      const r = slowResults.find((s) => s.server === h.name);
      const drainStart = hs.drain_start_at;
      const inFlight = Boolean(r && drainStart !== undefined && r.start < drainStart && r.end > drainStart);
      const mustWait = r && drainStart !== undefined ? r.end - drainStart : undefined;
      return {
        host: h.name,
        trigger: fired?.trigger ?? "not fired",
        fired_before_drain_ms: r && drainStart !== undefined ? Math.round(drainStart - r.start) : undefined,
        in_flight_at_drain_start: inFlight,
        status: r?.status ?? 0,
        error: r?.error,
        served_by: r?.served_by,
        answered_by_build: r?.build,
        latency_ms: r ? Math.round(r.end - r.start) : undefined,
        /** From the drain's start to the slow response's end: the least a drain that waits for it takes. */
        remaining_at_drain_start_ms: mustWait === undefined ? undefined : Math.round(mustWait),
        drain_ms: hs.drain_ms,
        drain_detail: hs.drain_detail,
        /** drain_ms ≥ remaining − 150 ms (event arrival jitter, 100 ms poll). */
        drain_waited: mustWait !== undefined && hs.drain_ms >= mustWait - 150,
      };
    });
    const slowFailed = slowRows.filter((r) => r.status !== 200 || r.error || r.served_by !== r.host);
    const slowNotInFlight = slowRows.filter((r) => !r.in_flight_at_drain_start);
    const slowNotWaited = slowRows.filter((r) => r.in_flight_at_drain_start && !r.drain_waited);
    if (slowNotInFlight.length)
      warn(`slow request not in flight when the drain started on ${slowNotInFlight.map((r) => r.host).join(", ")} (the trigger came too late or too early)`);

    // --- print ---
    log(`\n== load through HAProxy (concurrency ${CONCURRENCY}; errors = non-2xx + socket errors; latency of every request started in the phase) ==\n`);
    log(table([LOAD_HEADER, ...phases.map(loadRow)]));
    log(
      `\np99 during deploy B / steady = ${duringB.p99_ms.toFixed(1)} / ${steady.p99_ms.toFixed(1)} ms = ${p99Ratio.toFixed(2)}x   (p50 ${p50Ratio.toFixed(2)}x; deploy C with slow requests: p99 ${p99RatioC.toFixed(2)}x)`,
    );
    log(`\n== deploy B: code-only change, 3 hosts, --batch 1, through the CLI (--json) ==\n`);
    log(splitTable(splitB));
    log(`\ndrain / ready details: ${splitB.hosts.map((h) => `${h.host}: drain "${h.drain_detail}", ready "${h.ready_detail}"`).join("; ")}`);
    log(
      `\n== deploy C: the same, with a ${SLOW_SECONDS} s request (/slow?seconds=${SLOW_SECONDS}, pinned to the host in HAProxy) in flight on each host as its drain starts ==\n`,
    );
    log(
      table([
        [
          "host",
          "fired on",
          "fired before drain ms",
          "in flight at drain start",
          "left at drain start ms",
          "drain ms",
          "drain waited",
          "status",
          "served by",
          "build",
          "latency ms",
        ],
        ...slowRows.map((r) => [
          r.host,
          r.trigger,
          ms(r.fired_before_drain_ms),
          r.in_flight_at_drain_start ? "yes" : "NO",
          ms(r.remaining_at_drain_start_ms),
          ms(r.drain_ms),
          r.drain_waited ? "yes" : "NO",
          r.error ? `error: ${r.error}` : String(r.status),
          r.served_by ?? "-",
          r.answered_by_build ?? "-",
          ms(r.latency_ms),
        ]),
      ]),
    );
    log(`drain details: ${slowRows.map((r) => `${r.host} "${r.drain_detail}"`).join("; ")}`);
    log(`\nwall time split of deploy C:\n`);
    log(splitTable(splitC));
    log(
      `\ndrain B vs C (ms): ${splitB.hosts.map((h, i) => `${h.host} ${h.drain_ms} → ${splitC.hosts[i]!.drain_ms}`).join(", ")}; wall ${splitB.wall_ms} → ${splitC.wall_ms} ms`,
    );

    log(`\n== verdict (reported, not gated) ==\n`);
    if (allFailed.length === 0)
      log(
        `no request failed: 0 of ${samples.length} (load), slow requests ${slowResults.filter((r) => r.status === 200).length}/${slowResults.length} answered 200`,
      );
    else {
      log(`!!! ${allFailed.length} OF ${samples.length} LOAD REQUESTS FAILED (non-2xx or socket error):`);
      for (const p of phases)
        if (p.errors)
          log(`!!!   ${p.label}: ${p.errors} (${p.non_2xx} non-2xx, ${p.socket_errors} socket) e.g. ${JSON.stringify(p.error_examples.slice(0, 3))}`);
      const other = allFailed.filter((s) => !phases.some((p) => p.label === s.phase));
      if (other.length) log(`!!!   other phases (${[...new Set(other.map((s) => s.phase))].join(", ")}): ${other.length}`);
    }
    if (slowFailed.length) log(`!!! SLOW REQUESTS FAILED OR ANSWERED BY ANOTHER SERVER: ${JSON.stringify(slowFailed)}`);
    if (slowNotWaited.length)
      log(
        `!!! A DRAIN DID NOT WAIT FOR THE SLOW REQUEST IN FLIGHT: ${slowNotWaited.map((r) => `${r.host} drain ${r.drain_ms} ms < ${r.remaining_at_drain_start_ms} ms left`).join(", ")}`,
      );
    if (!okB || !okC) log(`!!! A DEPLOY FAILED: B ${okB ? "ok" : "failed"}, C ${okC ? "ok" : "failed"}`);
    for (const w of warnings) log(`WARN  ${w}`);

    const totalS = (performance.now() - T0) / 1000;
    const stamp = started
      .toISOString()
      .replace(/\.\d+Z$/, "Z")
      .replace(/:/g, "-");
    const file = join(RESULTS_DIR, `zero-downtime-${stamp}.json`);
    const figures = {
      bench: "zero-downtime",
      started_at: started.toISOString(),
      total_s: totalS,
      commit: await gitCommit(),
      machine: { cpus: os.cpus().length, cpu_model: os.cpus()[0]?.model ?? null, node: process.version, platform: `${os.platform()} ${os.release()}` },
      params: {
        hosts: HOSTS,
        concurrency: CONCURRENCY,
        warmup_ms: WARMUP_MS,
        steady_ms: STEADY_MS,
        settle_ms: SETTLE_MS,
        slow_seconds: SLOW_SECONDS,
        load_max_ms: LOAD_MAX_MS,
        load_max_requests: LOAD_MAX_REQUESTS,
        drain_timeout: DRAIN_TIMEOUT,
        batch: 1,
        haproxy: "check inter 200ms fall 2 rise 2, retries 3, redispatch, retry-on conn-failure empty-response response-timeout 503",
      },
      builds: { A, B, C },
      first_deploy_ms: Math.round(first.wall_ms),
      load: { total_requests: samples.length, failed: allFailed.length, phases },
      p99_ratio_deploy_vs_steady: p99Ratio,
      p50_ratio_deploy_vs_steady: p50Ratio,
      p99_ratio_slow_deploy_vs_steady: p99RatioC,
      deploy_b: { ok: okB, split: splitB, wrong_build_after: wrongAfterB },
      deploy_c_slow: { ok: okC, split: splitC, slow_requests: slowRows, wrong_build_after: wrongAfterC },
      events: {
        deploy_b: runB.events.map((e) => ({ ...e, at: Math.round(e.at - runB!.start) })),
        deploy_c: runC.events.map((e) => ({ ...e, at: Math.round(e.at - runC!.start) })),
      },
      warnings,
    };
    await mkdir(RESULTS_DIR, { recursive: true });
    await writeFile(file, JSON.stringify(figures, null, 2) + "\n");
    log(`\nfigures written to ${file}`);
    log(`total bench time ${totalS.toFixed(1)} s`);
  } finally {
    await cleanup();
  }
}

// --- always stop what we started -------------------------------------------------------------

let f: FleetApp | undefined;
let lb: BenchHaproxy | undefined;
let cleaning: Promise<void> | undefined;
let exitCode: number | undefined;

/** Stop the CLI children, HAProxy and the fleet (by PID), once; later calls wait for the first. */
function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    for (const c of children) {
      try {
        if (c.pid && c.exitCode === null) process.kill(c.pid, "SIGTERM");
      } catch {
        /* gone */
      }
    }
    try {
      lb?.stop();
    } catch (err) {
      console.error(`bench: stopping HAProxy: ${(err as Error).message}`);
    }
    try {
      if (f) await Promise.race([f.stop(), sleep(30_000).then(() => Promise.reject(new Error("fleet stop took over 30 s")))]);
    } catch (err) {
      console.error(`bench: stopping the fleet: ${(err as Error).message}`);
    }
  })();
  return cleaning;
}

function stopAndExit(code: number, why: string): void {
  if (exitCode !== undefined) return;
  exitCode = code;
  console.error(`bench: ${why}; stopping HAProxy and the fleet`);
  void cleanup().finally(() => process.exit(code));
}

const watchdog = setTimeout(() => stopAndExit(1, `over its ${BUDGET_MS / 1000} s budget`), BUDGET_MS);
watchdog.unref();
// Registered before the fleet's own handlers (which tear the hosts down synchronously and then
// leave the exit to us): HAProxy and the fleet are stopped in order, then we exit.
process.on("SIGINT", () => stopAndExit(130, "interrupted"));
process.on("SIGTERM", () => stopAndExit(143, "terminated"));

main().then(
  () => cleanup().finally(() => process.exit(exitCode ?? 0)),
  (err: Error) => {
    console.error(`bench failed: ${err.stack ?? err.message}`);
    void cleanup().finally(() => process.exit(exitCode ?? 1));
  },
);
