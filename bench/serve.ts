// Deploy-server benchmark: `slipway serve` (the built CLI, run as a child process, so its CPU is
// its own) on a namespace fleet of 3 hosts made by test/support/fleet-app.ts.
//
//   cd /work/main && npm run build && npx tsx bench/serve.ts      (needs root)
//
// 1. Code-only deploys through the server (its ssh masters warmed by one deploy first, not
//    counted), BENCH_SERVE_REPS of them (default 5), each a new build pushed first, against the
//    same number through the CLI (`node dist/cli.js deploy ART --target fleet --json`: cold ssh
//    connections, node start included), alternating. Wall times (median) and each host's own
//    work: the sum of its "host … done" step durations, raw and without the restart and health
//    steps (those wait on the process manager and the app). The target applies to the latter.
// 2. Request → first event: from sending POST …/deploys to the first event read on the deploy's
//    SSE stream. The stream needs the deploy's id, so it is opened as soon as the 202 arrives
//    (what a client does); the first event is then the "queued" record, replayed. Also printed:
//    the first "running" state and the first event the deploy itself emitted.
// 3. SSE fan-out: one deploy followed by 50 concurrent viewers (fetch streams read to the end)
//    against 0 viewers (the bench polls GET /api/deploys/:id every 200 ms instead), alternating,
//    BENCH_SERVE_FANOUT_REPS each (default 5: the deploys vary by ~±20% on a shared machine). Wall = the server's duration_ms of the deploy
//    (running → finished); the server's CPU from /proc/PID/stat around it.
// 4. Upload: a ~100 MB artifact (the example app with 100 MB from /dev/urandom under static/,
//    built as usual, so it passes the server's verification) pushed with `push()` (what
//    `slipway push` runs) until the 201, against `cat ART > FILE` on the server data dir's
//    filesystem. BENCH_SERVE_UPLOAD_REPS uploads (default 2; each a build of its own: a build
//    id is stored once).
//
// Prints the environment, all figures, ratios and PASS/FAIL per target; writes
// bench/results/serve-<timestamp>.json; exits 0 either way (1 only if the bench itself broke).
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { appendFile, mkdir, readFile, rm, stat, unlink, writeFile } from "node:fs/promises";
import os from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { tokenCreate } from "../src/serve/admin.js";
import { push } from "../src/serve/push.js";
import { buildWith } from "../test/support/build-app.js";
import { PYTHON } from "../test/support/env.js";
import { fleetApp, type FleetApp } from "../test/support/fleet-app.js";
import { runBench, STEP_ORDER } from "./run.js";
import { jsonLines, median } from "./figures.js";

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const CLI = join(REPO, "dist", "cli.js");
const RESULTS_DIR = join(REPO, "bench", "results");
const reps = (name: string, dflt: number) => Math.max(1, Number(process.env[name] ?? dflt) || dflt);
const REPS = reps("BENCH_SERVE_REPS", 5);
const FANOUT_REPS = reps("BENCH_SERVE_FANOUT_REPS", 5);
const UPLOAD_REPS = reps("BENCH_SERVE_UPLOAD_REPS", 2);
const HOSTS = 3;
const VIEWERS = 50;
const BIG_BYTES = 100 * 1024 * 1024;
const TARGETS = { ownWorkPerHostS: 0.3, firstEventMs: 50, fanoutSlowdown: 0.1 };
/** Steps that wait on the process manager and the app rather than doing the host's own work. */
const WAITING_STEPS = ["restart", "health"];
const QUIET_BUSY = 0.25;
/** /proc counts CPU in USER_HZ: 100 on Linux. */
const CLK_TCK = 100;

type Json = Record<string, any>;

// --- small helpers -------------------------------------------------------------------------

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
const mean = (xs: number[]) => (xs.length ? sum(xs) / xs.length : Number.NaN);
const S = (s: number) => `${s.toFixed(3)} s`;
const MS = (ms: number) => `${ms.toFixed(1)} ms`;
const X = (r: number) => `${r.toFixed(2)}x`;
const pct = (x: number) => `${(x * 100).toFixed(0)}%`;
const log = (msg: string) => console.log(msg);
const verdict = (ok: boolean) => (ok ? "PASS" : "FAIL");

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? "").length)));
  const line = (r: string[]) => r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join("  ");
  return [line(rows[0]!), widths.map((w) => "-".repeat(w)).join("  "), ...rows.slice(1).map(line)].join("\n");
}

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

function run(argv: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<Ran> {
  return new Promise((done, reject) => {
    const t0 = performance.now();
    const child = spawn(argv[0]!, argv.slice(1), { cwd: opts.cwd ?? "/", env: opts.env ?? process.env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout!.on("data", (c: Buffer) => (stdout += c.toString()));
    child.stderr!.on("data", (c: Buffer) => (stderr += c.toString()));
    child.on("error", reject);
    child.on("close", (code) => done({ code, stdout, stderr, ms: performance.now() - t0 }));
  });
}

async function must(argv: string[], opts: Parameters<typeof run>[1] = {}): Promise<Ran> {
  const r = await run(argv, opts);
  if (r.code !== 0) throw new Error(`${argv.slice(0, 3).join(" ")}… failed (exit ${r.code}): ${(r.stderr || r.stdout).trim().slice(-1500)}`);
  return r;
}

/** Busy and total jiffies of all CPUs: the hosts share this machine's CPUs with the server. */
async function cpuTimes(): Promise<{ busy: number; total: number }> {
  const v = (await readFile("/proc/stat", "utf8")).split("\n")[0]!.trim().split(/\s+/).slice(1).map(Number);
  const total = sum(v.slice(0, 8));
  return { busy: total - (v[3] ?? 0) - (v[4] ?? 0), total };
}

const noisy: string[] = [];
/** Wait (up to 5 s) until the CPUs are mostly idle; returns the last 300 ms sample's busy fraction. */
async function settle(what: string): Promise<number> {
  const deadline = Date.now() + 5_000;
  for (;;) {
    const a = await cpuTimes();
    await new Promise((r) => setTimeout(r, 300));
    const b = await cpuTimes();
    const busy = (b.busy - a.busy) / Math.max(1, b.total - a.total);
    if (busy <= QUIET_BUSY) return busy;
    if (Date.now() > deadline) {
      noisy.push(`${what}: the machine was ${pct(busy)} busy just before it; its figures are skewed`);
      log(`  ! ${noisy.at(-1)}`);
      return busy;
    }
  }
}

/** CPU seconds (user + system) used so far by a process and its reaped children (/proc/PID/stat fields 14-17). */
async function procCpuS(pid: number): Promise<number> {
  const text = await readFile(`/proc/${pid}/stat`, "utf8");
  const f = text.slice(text.lastIndexOf(")") + 2).split(" ");
  // f[0] is field 3 (state): utime is field 14 → f[11]; stime f[12]; cutime f[13]; cstime f[14].
  return (Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) / CLK_TCK;
}

// --- per-host figures from a deploy's events -----------------------------------------------

interface HostWork {
  host: string;
  steps_ms: Record<string, number>;
  /** Sum of every step's duration. */
  raw_ms: number;
  /** The same without the restart and health steps. */
  own_ms: number;
}

function hostWork(events: Json[], hosts: string[]): HostWork[] {
  return hosts.map((host) => {
    const steps: Record<string, number> = {};
    for (const e of events)
      if (e["type"] === "host" && e["host"] === host && e["status"] === "done") steps[e["step"]] = (steps[e["step"]] ?? 0) + Number(e["ms"]);
    const raw = sum(Object.values(steps));
    const waiting = sum(WAITING_STEPS.map((s) => steps[s] ?? 0));
    return { host, steps_ms: steps, raw_ms: raw, own_ms: raw - waiting };
  });
}

// --- the server, as a child process ---------------------------------------------------------

interface Server {
  child: ChildProcess;
  url: string;
  token: string;
  app: string;
  dataDir: string;
  /** The last of its stderr (request log), for errors. */
  tail(): string;
  stop(): Promise<void>;
}

async function startServerChild(f: FleetApp): Promise<Server> {
  const dir = join(f.ws.dir, "server");
  await mkdir(dir, { recursive: true });
  const app = /^name\s*=\s*"([^"]+)"/m.exec(await readFile(join(f.ws.app, "slipway.toml"), "utf8"))![1]!;
  const conf = join(dir, "slipway-server.toml");
  await writeFile(conf, `[server]\nlisten = "127.0.0.1:0"\ndata = "data"\n\n[apps.${app}]\nconfig = "${join(f.ws.app, "slipway.toml")}"\n`);
  const dataDir = join(dir, "data");
  const token = tokenCreate(dataDir, { name: "bench", role: "deployer", app }).token;
  const child = spawn(process.execPath, [CLI, "--config", conf, "serve", "--data", dataDir, "--listen", "127.0.0.1:0"], {
    cwd: dir,
    env: f.ws.env,
    stdio: ["ignore", "ignore", "pipe"],
  });
  let err = "";
  child.stderr!.on("data", (d: Buffer) => {
    err = (err + d.toString()).slice(-20_000);
  });
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  process.on("exit", () => child.kill("SIGKILL"));
  const deadline = Date.now() + 20_000;
  let url: string | undefined;
  while (!(url = /listening on (http:\/\/\S+),/.exec(err)?.[1])) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`slipway serve did not start: ${err.slice(-2000)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    child,
    url,
    token,
    app,
    dataDir,
    tail: () => err.slice(-3000),
    stop: async () => {
      child.kill("SIGTERM");
      await Promise.race([exited, new Promise((r) => setTimeout(r, 15_000))]);
    },
  };
}

async function api(s: Server, method: string, path: string, body?: unknown): Promise<{ status: number; json: Json }> {
  const res = await fetch(`${s.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${s.token}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, json: text ? (JSON.parse(text) as Json) : {} };
}

interface Followed {
  /** Events with `t`: ms since `t0` when the event was read. */
  events: (Json & { t: number })[];
  end: Json;
  end_t: number;
}

/** Read a deploy's SSE stream to its end, timing each event against t0 (performance.now()). */
async function follow(s: Server, id: number, t0: number): Promise<Followed> {
  const res = await fetch(`${s.url}/api/deploys/${id}/events`, { headers: { authorization: `Bearer ${s.token}` } });
  if (res.status !== 200) throw new Error(`GET /api/deploys/${id}/events: ${res.status} ${await res.text()}`);
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  const events: Followed["events"] = [];
  let buf = "";
  for (;;) {
    const { done, value } = await reader.read();
    if (done) throw new Error(`deploy ${id}: the stream ended without an end event`);
    const t = performance.now() - t0;
    buf += decoder.decode(value, { stream: true });
    let i: number;
    while ((i = buf.indexOf("\n\n")) >= 0) {
      const block = buf.slice(0, i);
      buf = buf.slice(i + 2);
      const kind = /^event: (.*)$/m.exec(block)?.[1];
      const data = /^data: (.*)$/m.exec(block)?.[1];
      if (!data) continue;
      if (kind === "end") {
        await reader.cancel().catch(() => {});
        return { events, end: JSON.parse(data) as Json, end_t: t };
      }
      events.push({ ...(JSON.parse(data) as Json), t });
    }
  }
}

// --- the app: builds and deploys --------------------------------------------------------------

let changes = 0;
let baseVenvKey: string | undefined;
async function newBuild(f: FleetApp, id: string): Promise<{ artifact: string; venv_key: string }> {
  await appendFile(join(f.ws.app, "hello", "app.py"), `# bench serve change ${++changes} ${id}\n`);
  const { result } = await buildWith(f.ws, id);
  // Every build after the first must keep the venv: these are code-only deploys.
  baseVenvKey ??= result.venv.key;
  if (result.venv.key !== baseVenvKey) throw new Error(`build ${id} changed the venv key (${baseVenvKey} → ${result.venv.key}): not code-only`);
  return { artifact: result.artifact, venv_key: result.venv.key };
}

async function expectBuild(f: FleetApp, id: string): Promise<void> {
  for (const h of f.hosts) {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const b = (await f.health(h).catch(() => ({}))) as Json;
      if (b["build_id"] === id) break;
      if (Date.now() > deadline) throw new Error(`${h.name} serves ${String(b["build_id"])}, not ${id}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

interface ServerDeploy {
  build_id: string;
  /** POST sent → its 202 read. */
  post_ms: number;
  /** POST sent → the first event read on the stream (opened when the 202 arrived), its type. */
  first_event_ms: number;
  first_event: string;
  /** POST sent → the "running" state event read. */
  running_ms: number;
  /** POST sent → the first event the deploy itself emitted (not queued/state). */
  first_deploy_event_ms: number;
  first_deploy_event: string;
  /** POST sent → the end event read. */
  wall_ms: number;
  /** The server's own duration of the deploy (running → finished). */
  duration_ms: number;
  server_cpu_s: number;
  busy_before: number;
  hosts: HostWork[];
}

async function serverDeploy(f: FleetApp, s: Server, buildId: string): Promise<ServerDeploy> {
  const b = await newBuild(f, buildId);
  const p = await push({ artifact: b.artifact, server: s.url, token: s.token });
  if (p.status !== "stored") throw new Error(`push ${buildId}: ${p.status}`);
  const busy = await settle(`server deploy ${buildId}`);
  const c0 = await procCpuS(s.child.pid!);
  const t0 = performance.now();
  const post = await api(s, "POST", `/api/apps/${s.app}/targets/fleet/deploys`, { build_id: buildId });
  const postMs = performance.now() - t0;
  if (post.status !== 202) throw new Error(`POST deploy ${buildId}: ${post.status} ${JSON.stringify(post.json)}`);
  const fl = await follow(s, Number(post.json["id"]), t0);
  const c1 = await procCpuS(s.child.pid!);
  if (fl.end["state"] !== "succeeded") throw new Error(`server deploy ${buildId}: ${fl.end["state"]} ${String(fl.end["error"])}\n${s.tail()}`);
  await expectBuild(f, buildId);
  const first = fl.events[0]!;
  const running = fl.events.find((e) => e["type"] === "state" && e["state"] === "running");
  const own = fl.events.find((e) => e["type"] !== "state" && e["type"] !== "queued");
  return {
    build_id: buildId,
    post_ms: postMs,
    first_event_ms: first.t,
    first_event: String(first["type"]),
    running_ms: running?.t ?? Number.NaN,
    first_deploy_event_ms: own?.t ?? Number.NaN,
    first_deploy_event: own ? `${own["type"]}${own["step"] ? ` ${own["step"]} ${own["status"]}` : ""}` : "-",
    wall_ms: fl.end_t,
    duration_ms: Number(fl.end["duration_ms"]),
    server_cpu_s: c1 - c0,
    busy_before: busy,
    hosts: hostWork(
      fl.events,
      f.hosts.map((h) => h.dest),
    ),
  };
}

interface CliDeploy {
  build_id: string;
  wall_ms: number;
  timings_ms?: Json;
  busy_before: number;
  hosts: HostWork[];
}

async function cliDeploy(f: FleetApp, buildId: string): Promise<CliDeploy> {
  const b = await newBuild(f, buildId);
  const busy = await settle(`CLI deploy ${buildId}`);
  const r = await run([process.execPath, CLI, "deploy", b.artifact, "--target", "fleet", "--json"], { cwd: f.ws.app, env: f.ws.env });
  const events = jsonLines(r.stdout, `CLI deploy ${buildId}`);
  const result = events.findLast((e) => e["type"] === "result");
  if (r.code !== 0 || !result?.["ok"])
    throw new Error(`CLI deploy ${buildId} failed (exit ${r.code}): ${JSON.stringify(result?.["error"]) ?? r.stderr.slice(-2000)}`);
  await expectBuild(f, buildId);
  return {
    build_id: buildId,
    wall_ms: r.ms,
    timings_ms: result["timings_ms"],
    busy_before: busy,
    hosts: hostWork(
      events,
      f.hosts.map((h) => h.dest),
    ),
  };
}

interface FanoutRun {
  viewers: number;
  build_id: string;
  duration_ms: number;
  /** POST sent → the deploy seen finished (the viewers' last end event, or the poll). */
  client_wall_ms: number;
  server_cpu_s: number;
  /** CPU of this bench process (the viewers' reading and parsing) during the deploy. */
  bench_cpu_s: number;
  events: number;
  busy_before: number;
}

async function fanoutDeploy(f: FleetApp, s: Server, buildId: string, viewers: number): Promise<FanoutRun> {
  const b = await newBuild(f, buildId);
  await push({ artifact: b.artifact, server: s.url, token: s.token });
  const busy = await settle(`fan-out ${viewers} ${buildId}`);
  const c0 = await procCpuS(s.child.pid!);
  const u0 = process.cpuUsage();
  const t0 = performance.now();
  const post = await api(s, "POST", `/api/apps/${s.app}/targets/fleet/deploys`, { build_id: buildId });
  if (post.status !== 202) throw new Error(`POST deploy ${buildId}: ${post.status} ${JSON.stringify(post.json)}`);
  const id = Number(post.json["id"]);
  let end: Json;
  let clientWall: number;
  let events = 0;
  if (viewers > 0) {
    const all = await Promise.all(Array.from({ length: viewers }, () => follow(s, id, t0)));
    end = all[0]!.end;
    clientWall = Math.max(...all.map((x) => x.end_t));
    events = all[0]!.events.length;
    if (all.some((x) => x.events.length !== events)) throw new Error(`fan-out ${buildId}: viewers saw different event counts`);
  } else {
    for (;;) {
      await new Promise((r) => setTimeout(r, 200));
      const r = await api(s, "GET", `/api/deploys/${id}`);
      if (!["queued", "running"].includes(String(r.json["state"]))) {
        end = r.json;
        break;
      }
    }
    clientWall = performance.now() - t0;
  }
  const c1 = await procCpuS(s.child.pid!);
  const u1 = process.cpuUsage(u0);
  if (end["state"] !== "succeeded") throw new Error(`fan-out deploy ${buildId}: ${end["state"]} ${String(end["error"])}`);
  await expectBuild(f, buildId);
  return {
    viewers,
    build_id: buildId,
    duration_ms: Number(end["duration_ms"]),
    client_wall_ms: clientWall,
    server_cpu_s: c1 - c0,
    bench_cpu_s: (u1.user + u1.system) / 1e6,
    events,
    busy_before: busy,
  };
}

// --- environment ------------------------------------------------------------------------------

async function environment(f: FleetApp) {
  const h = f.hosts[0]!;
  const handshake: number[] = [];
  for (let i = 0; i < 5; i++) handshake.push((await must(["ssh", ...f.fleet.sshArgs(), h.dest, "true"])).ms);
  // The deploy user's login shell started 20 times inside the host (its start-up, without ssh).
  const shellOut = await h.exec([
    "sh",
    "-c",
    `sh=$(awk -F: -v u="\${1}" '$1==u{print $7}' /etc/passwd); s=$(date +%s%N); i=0; while [ $i -lt 20 ]; do "$sh" -c true; i=$((i+1)); done; e=$(date +%s%N); echo "$sh $(( (e-s)/20000 ))"`,
    "sh",
    h.dest.split("@")[0] ?? "root",
  ]);
  const [shell, us] = shellOut.trim().split(" ");
  return {
    cpus: os.cpus().length,
    cpu_model: os.cpus()[0]?.model ?? null,
    loadavg: os.loadavg().map((x) => Number(x.toFixed(2))),
    node: process.version,
    python: PYTHON,
    platform: `${os.platform()} ${os.release()}`,
    ssh_handshake_ms: { median: median(handshake), runs: handshake.map((x) => Math.round(x)) },
    deploy_user_shell: { shell, start_ms: Number(us) / 1000 },
  };
}

async function gitCommit(): Promise<string | null> {
  const r = await run(["git", "rev-parse", "--short", "HEAD"], { cwd: REPO }).catch(() => undefined);
  if (r?.code !== 0) return null;
  const dirty = await run(["git", "status", "--porcelain"], { cwd: REPO });
  return r.stdout.trim() + (dirty.stdout.trim() ? "-dirty" : "");
}

// --- main ---------------------------------------------------------------------------------------

async function main(): Promise<void> {
  if (!existsSync(CLI)) throw new Error(`${CLI} does not exist: run \`npm run build\` first`);
  if (process.getuid?.() !== 0) throw new Error("the serve bench needs root (network and mount namespaces for the fleet)");
  const started = new Date();
  const tStart = performance.now();
  log(`slipway serve benchmark — ${REPS} code-only deploys each way, ${FANOUT_REPS} fan-out runs each way, ${UPLOAD_REPS} uploads`);
  const f = await fleetApp(HOSTS);
  let s: Server | undefined;
  try {
    const env = await environment(f);
    log(`\n== environment ==`);
    log(`${env.cpus} CPUs (${env.cpu_model}), load average ${env.loadavg.join(" ")}, node ${env.node}, ${env.platform}`);
    log(
      `ssh handshake to ${f.hosts[0]!.name} (a new connection running \`true\`): median ${MS(env.ssh_handshake_ms.median)} (${env.ssh_handshake_ms.runs.join(", ")} ms)`,
    );
    log(
      `deploy user's shell on ${f.hosts[0]!.name}: ${env.deploy_user_shell.shell}, start-up ${MS(env.deploy_user_shell.start_ms)} (\`$SHELL -c true\`, mean of 20, inside the host)`,
    );
    log(`hosts: ${f.hosts.map((h) => `${h.name}=${h.dest}`).join(" ")}; the hosts, the server and the bench share this machine's CPUs`);

    // b0 on the hosts through the CLI (the venv goes out once), then the server.
    const b0 = await newBuild(f, "b0");
    const first = await run([process.execPath, CLI, "deploy", b0.artifact, "--target", "fleet"], { cwd: f.ws.app, env: f.ws.env });
    if (first.code !== 0) throw new Error(`first deploy: ${first.stderr.slice(-2000)}`);
    await expectBuild(f, "b0");
    s = await startServerChild(f);
    log(`server: ${s.url} (pid ${s.child.pid})`);

    // 1 + 2. Warm the server's masters (not counted), then alternate server and CLI deploys.
    const warm = await serverDeploy(f, s, "warm");
    log(
      `\n[1] warm-up through the server (opens the ssh masters; not counted): wall ${MS(warm.wall_ms)}, connect ${warm.hosts.map((h) => h.steps_ms["connect"] ?? "-").join("/")} ms`,
    );
    const srv: ServerDeploy[] = [];
    const cli: CliDeploy[] = [];
    for (let i = 1; i <= REPS; i++) {
      const order = i % 2 ? ["server", "cli"] : ["cli", "server"];
      for (const way of order) {
        if (way === "server") {
          const d = await serverDeploy(f, s, `srv-${i}`);
          srv.push(d);
          log(
            `[1] server srv-${i}: wall ${MS(d.wall_ms)} (server duration ${d.duration_ms} ms); own work ${d.hosts.map((h) => `${h.own_ms}`).join("/")} ms (raw ${d.hosts.map((h) => h.raw_ms).join("/")}); first event ${MS(d.first_event_ms)} (${d.first_event}), running ${MS(d.running_ms)}, first deploy event ${MS(d.first_deploy_event_ms)} (${d.first_deploy_event}); busy before ${pct(d.busy_before)}`,
          );
        } else {
          const d = await cliDeploy(f, `cli-${i}`);
          cli.push(d);
          log(
            `[1] CLI    cli-${i}: wall ${MS(d.wall_ms)}; own work ${d.hosts.map((h) => `${h.own_ms}`).join("/")} ms (raw ${d.hosts.map((h) => h.raw_ms).join("/")}); busy before ${pct(d.busy_before)}`,
          );
        }
      }
    }

    // 3. Fan-out: 0 and 50 viewers, alternating. With BENCH_SERVE_VIEWER_NICE=N the bench
    // process (the viewers) runs at that nice level during this part, for both cases: viewers
    // are browsers elsewhere, and here they share the 2 CPUs with the server and the hosts.
    const fan: FanoutRun[] = [];
    const viewerNice = Number(process.env.BENCH_SERVE_VIEWER_NICE ?? 0);
    const niceBefore = os.getPriority();
    if (viewerNice) {
      os.setPriority(viewerNice);
      log(`[3] the bench process (the viewers) runs at nice ${viewerNice} during the fan-out runs`);
    }
    for (let i = 1; i <= FANOUT_REPS; i++) {
      for (const v of i % 2 ? [0, VIEWERS] : [VIEWERS, 0]) {
        const r = await fanoutDeploy(f, s, `fan${v}-${i}`, v);
        fan.push(r);
        log(
          `[3] ${String(v).padStart(2)} viewers fan${v}-${i}: server duration ${r.duration_ms} ms, client wall ${MS(r.client_wall_ms)}, server CPU ${S(r.server_cpu_s)}, bench CPU ${S(r.bench_cpu_s)}${v ? `, ${r.events} events × ${v}` : ""}; busy before ${pct(r.busy_before)}`,
        );
      }
    }

    if (viewerNice) os.setPriority(niceBefore);

    // 4. Upload of a ~100 MB artifact against cat to the same filesystem.
    const big = join(f.ws.app, "static", "bench-100M.bin");
    await must(["sh", "-c", `head -c ${BIG_BYTES} /dev/urandom > "$1"`, "sh", big]);
    const bigArts: string[] = [];
    try {
      for (let i = 1; i <= UPLOAD_REPS; i++) bigArts.push((await newBuild(f, `big-${i}`)).artifact);
    } finally {
      await unlink(big);
    }
    const uploads: { build_id: string; bytes: number; ms: number; mb_s: number; server_cpu_s: number }[] = [];
    for (const [i, art] of bigArts.entries()) {
      const bytes = (await stat(art)).size;
      await settle(`upload big-${i + 1}`);
      const c0 = await procCpuS(s.child.pid!);
      const t0 = performance.now();
      const p = await push({ artifact: art, server: s.url, token: s.token });
      const ms = performance.now() - t0;
      const c1 = await procCpuS(s.child.pid!);
      if (p.status !== "stored") throw new Error(`upload big-${i + 1}: ${p.status}`);
      uploads.push({ build_id: `big-${i + 1}`, bytes, ms, mb_s: bytes / 1e6 / (ms / 1000), server_cpu_s: c1 - c0 });
      log(`[4] PUT big-${i + 1}: ${bytes} B in ${MS(ms)} = ${(bytes / 1e6 / (ms / 1000)).toFixed(1)} MB/s; server CPU ${S(c1 - c0)}`);
    }
    const cats: { ms: number; mb_s: number }[] = [];
    const catDst = join(s.dataDir, "bench-cat.bin");
    const art0 = bigArts[0]!;
    const artBytes = (await stat(art0)).size;
    for (let i = 0; i < 3; i++) {
      await settle("cat");
      const r = await must(["sh", "-c", 'cat "$1" > "$2"', "sh", art0, catDst]);
      await rm(catDst, { force: true });
      cats.push({ ms: r.ms, mb_s: artBytes / 1e6 / (r.ms / 1000) });
      log(`[4] cat ${artBytes} B > data dir: ${MS(r.ms)} = ${(artBytes / 1e6 / (r.ms / 1000)).toFixed(1)} MB/s`);
    }
    const fsType = (await run(["stat", "-f", "-c", "%T", s.dataDir])).stdout.trim();
    // The verification the server runs on an upload, alone: the CLI's `inspect --verify` (node start included).
    await settle("inspect --verify");
    const verifyMs = (await must([process.execPath, CLI, "inspect", art0, "--verify"], { cwd: f.ws.app, env: f.ws.env })).ms;
    log(`[4] \`slipway inspect ART --verify\` (the same checks, node start included): ${MS(verifyMs)}`);

    // ---- figures ----
    const srvWall = median(srv.map((d) => d.wall_ms));
    const srvDur = median(srv.map((d) => d.duration_ms));
    const cliWall = median(cli.map((d) => d.wall_ms));
    const perHostMedian = (runs: { hosts: HostWork[] }[], k: "own_ms" | "raw_ms") => f.hosts.map((_, i) => median(runs.map((r) => r.hosts[i]![k])));
    const srvOwn = perHostMedian(srv, "own_ms");
    const srvRaw = perHostMedian(srv, "raw_ms");
    const cliOwn = perHostMedian(cli, "own_ms");
    const cliRaw = perHostMedian(cli, "raw_ms");
    const stepsSeen = new Set([...srv, ...cli].flatMap((r) => r.hosts.flatMap((h) => Object.keys(h.steps_ms))));
    const steps = [...STEP_ORDER.filter((x) => stepsSeen.has(x)), ...[...stepsSeen].filter((x) => !STEP_ORDER.includes(x))];
    const stepMean = (runs: { hosts: HostWork[] }[], st: string) =>
      mean(runs.flatMap((r) => r.hosts.map((h) => h.steps_ms[st]).filter((v): v is number => v !== undefined)));
    const firstEvent = median(srv.map((d) => d.first_event_ms));
    const firstRunning = median(srv.map((d) => d.running_ms));
    const firstDeployEvent = median(srv.map((d) => d.first_deploy_event_ms));
    const postMs = median(srv.map((d) => d.post_ms));
    const f0 = fan.filter((r) => r.viewers === 0);
    const f50 = fan.filter((r) => r.viewers === VIEWERS);
    const dur0 = median(f0.map((r) => r.duration_ms));
    const dur50 = median(f50.map((r) => r.duration_ms));
    const slowdown = dur50 / dur0 - 1;
    const putMbS = median(uploads.map((u) => u.mb_s));
    const catMbS = median(cats.map((c) => c.mb_s));
    const pass = {
      own_work: Math.max(...srvOwn) / 1000 <= TARGETS.ownWorkPerHostS,
      first_event: firstEvent <= TARGETS.firstEventMs,
      fanout: slowdown <= TARGETS.fanoutSlowdown,
    };

    log(`\n== 1. code-only deploy to ${HOSTS} hosts: server (warm ssh masters) vs CLI (cold), ${REPS} each, alternating ==\n`);
    log(`server wall = POST sent → the SSE end event read; CLI wall = the \`node dist/cli.js deploy … --json\` process (node start, local verify included).`);
    log(
      `own work per host = the sum of that host's "host … done" step durations; "excl. restart/health" drops the steps that wait on supervisord and the app.\n`,
    );
    log(
      table([
        ["", "wall (median)", "runs", ...f.hosts.map((h) => `${h.name} own excl. restart/health`), ...f.hosts.map((h) => `${h.name} own raw`)],
        ["server", MS(srvWall), srv.map((d) => Math.round(d.wall_ms)).join(", "), ...srvOwn.map((x) => `${x} ms`), ...srvRaw.map((x) => `${x} ms`)],
        ["CLI", MS(cliWall), cli.map((d) => Math.round(d.wall_ms)).join(", "), ...cliOwn.map((x) => `${x} ms`), ...cliRaw.map((x) => `${x} ms`)],
      ]),
    );
    log(`(per-host figures: median over the runs; server duration_ms (running → finished) median ${srvDur} ms)`);
    log(`CLI wall / server wall = ${X(cliWall / srvWall)}; own work (excl.) CLI / server, mean of hosts = ${X(mean(cliOwn) / mean(srvOwn))}`);
    log(`\nmean ms per host step (all runs, all hosts):\n`);
    log(
      table([
        ["", ...steps, "sum"],
        [
          "server",
          ...steps.map((st) => (Number.isNaN(stepMean(srv, st)) ? "-" : stepMean(srv, st).toFixed(0))),
          mean(srv.flatMap((r) => r.hosts.map((h) => h.raw_ms))).toFixed(0),
        ],
        [
          "CLI",
          ...steps.map((st) => (Number.isNaN(stepMean(cli, st)) ? "-" : stepMean(cli, st).toFixed(0))),
          mean(cli.flatMap((r) => r.hosts.map((h) => h.raw_ms))).toFixed(0),
        ],
      ]),
    );

    log(`\n== 2. request → first event (server deploys of 1, median of ${REPS}) ==\n`);
    log(`POST sent → 202 read: ${MS(postMs)} (runs ${srv.map((d) => d.post_ms.toFixed(1)).join(", ")})`);
    log(
      `POST sent → first event read on the stream opened at the 202: ${MS(firstEvent)} (runs ${srv.map((d) => d.first_event_ms.toFixed(1)).join(", ")}; it is the "${srv[0]!.first_event}" event)`,
    );
    log(`POST sent → "running" state event: ${MS(firstRunning)} (runs ${srv.map((d) => d.running_ms.toFixed(1)).join(", ")})`);
    log(
      `POST sent → first event from the deploy itself: ${MS(firstDeployEvent)} (runs ${srv.map((d) => d.first_deploy_event_ms.toFixed(1)).join(", ")}; "${srv[0]!.first_deploy_event}")`,
    );

    log(`\n== 3. SSE fan-out: ${VIEWERS} viewers vs 0, ${FANOUT_REPS} each, alternating ==\n`);
    log(
      table([
        ["viewers", "server duration (median)", "runs", "client wall runs", "server CPU runs", "bench (viewers) CPU runs"],
        ...[
          [0, f0],
          [VIEWERS, f50],
        ].map(([v, rs]) => {
          const r = rs as FanoutRun[];
          return [
            String(v),
            `${median(r.map((x) => x.duration_ms))} ms`,
            r.map((x) => x.duration_ms).join(", "),
            r.map((x) => Math.round(x.client_wall_ms)).join(", "),
            r.map((x) => x.server_cpu_s.toFixed(2)).join(", "),
            r.map((x) => x.bench_cpu_s.toFixed(2)).join(", "),
          ];
        }),
      ]),
    );
    log(
      `${VIEWERS} viewers / 0: duration ${X(dur50 / dur0)} (${slowdown >= 0 ? "+" : ""}${(slowdown * 100).toFixed(1)}%); server CPU ${S(median(f50.map((r) => r.server_cpu_s)))} vs ${S(median(f0.map((r) => r.server_cpu_s)))} (medians)`,
    );

    log(`\n== 4. upload of a ${(artBytes / 1e6).toFixed(1)} MB artifact vs cat, data dir on ${fsType} ==\n`);
    log(
      `PUT (push(), until the 201: received, verified, split into blobs): ${uploads.map((u) => `${(u.mb_s).toFixed(1)} MB/s (${MS(u.ms)}, server CPU ${S(u.server_cpu_s)})`).join("; ")}`,
    );
    log(`cat ART > data dir: ${cats.map((c) => `${c.mb_s.toFixed(1)} MB/s (${MS(c.ms)})`).join("; ")}`);
    log(`median: PUT ${putMbS.toFixed(1)} MB/s, cat ${catMbS.toFixed(1)} MB/s, PUT / cat = ${X(putMbS / catMbS)}`);
    log(
      `the PUT includes the server's verification (every layer re-hashed, every entry checked): \`inspect --verify\` of the same artifact takes ${MS(verifyMs)} alone`,
    );

    log(`\n== targets ==\n`);
    log(
      `${verdict(pass.own_work)}  own work per host through the server, excl. restart/health (median of ${REPS}): ${f.hosts.map((h, i) => `${h.name} ${srvOwn[i]} ms`).join(", ")}  (every host; target <= ${TARGETS.ownWorkPerHostS * 1000} ms; the target applies to this sum)`,
    );
    log(
      `info  the same raw (restart and health included): ${f.hosts.map((h, i) => `${h.name} ${srvRaw[i]} ms`).join(", ")}  (${Math.max(...srvRaw) <= TARGETS.ownWorkPerHostS * 1000 ? "also" : "not"} within ${TARGETS.ownWorkPerHostS * 1000} ms)`,
    );
    log(`${verdict(pass.first_event)}  request → first event: ${MS(firstEvent)}  (median; target <= ${TARGETS.firstEventMs} ms)`);
    log(
      `info  request → first event from the deploy itself: ${MS(firstDeployEvent)} (${firstDeployEvent <= TARGETS.firstEventMs ? "within" : "over"} ${TARGETS.firstEventMs} ms)`,
    );
    log(
      `${verdict(pass.fanout)}  ${VIEWERS} viewers add ${(slowdown * 100).toFixed(1)}% to the deploy's duration  (medians; target <= ${TARGETS.fanoutSlowdown * 100}%)`,
    );
    log(`info  upload ${putMbS.toFixed(1)} MB/s vs cat ${catMbS.toFixed(1)} MB/s = ${X(putMbS / catMbS)}`);

    const totalS = (performance.now() - tStart) / 1000;
    const stamp = started
      .toISOString()
      .replace(/\.\d+Z$/, "Z")
      .replace(/:/g, "-");
    const file = join(RESULTS_DIR, `serve-${stamp}.json`);
    await mkdir(RESULTS_DIR, { recursive: true });
    await writeFile(
      file,
      `${JSON.stringify(
        {
          bench: "serve",
          started_at: started.toISOString(),
          total_s: totalS,
          commit: await gitCommit(),
          warnings: noisy,
          environment: env,
          params: { hosts: HOSTS, reps: REPS, fanout_reps: FANOUT_REPS, viewers: VIEWERS, upload_reps: UPLOAD_REPS, big_bytes: BIG_BYTES },
          code_only: {
            warm,
            server: srv,
            cli,
            median: {
              server_wall_ms: srvWall,
              server_duration_ms: srvDur,
              cli_wall_ms: cliWall,
              server_own_ms: srvOwn,
              server_raw_ms: srvRaw,
              cli_own_ms: cliOwn,
              cli_raw_ms: cliRaw,
            },
            step_mean_ms: Object.fromEntries(steps.map((st) => [st, { server: stepMean(srv, st), cli: stepMean(cli, st) }])),
          },
          first_event: { post_ms: postMs, first_event_ms: firstEvent, running_ms: firstRunning, first_deploy_event_ms: firstDeployEvent },
          fanout: { runs: fan, duration_0_ms: dur0, duration_50_ms: dur50, slowdown },
          upload: { fs: fsType, uploads, cats, inspect_verify_ms: verifyMs, put_mb_s: putMbS, cat_mb_s: catMbS, ratio: putMbS / catMbS },
          targets: {
            own_work_per_host_s: {
              max: TARGETS.ownWorkPerHostS,
              applies_to: "sum of host steps excluding restart and health",
              value: Math.max(...srvOwn) / 1000,
              pass: pass.own_work,
            },
            first_event_ms: { max: TARGETS.firstEventMs, value: firstEvent, pass: pass.first_event },
            fanout_slowdown: { max: TARGETS.fanoutSlowdown, value: slowdown, pass: pass.fanout },
          },
        },
        null,
        2,
      )}\n`,
    );
    for (const w of noisy) log(`WARN  ${w}`);
    log(`\nfigures written to ${file}`);
    log(`total bench time ${S(totalS)}`);
  } finally {
    await s?.stop();
    await f.stop();
  }
}

runBench(main);
