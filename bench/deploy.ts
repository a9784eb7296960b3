// Deploy benchmark: slipway (through the built CLI, `deploy … --json`) against the classic
// per-host flow (upload a source tarball, python -m venv + pip install on the host, switch a
// symlink, restart), on namespace fleets made by test/support/fleet-app.ts.
//
//   cd /work/main && npm run build && npx tsx bench/deploy.ts      (needs root)
//
// Fleet A (3 hosts, the whole target):
//   (a) code-only deploy: build after a one-line change to hello/app.py (same venv key), onto
//       hosts that run the previous build; BENCH_DEPLOY_REPS runs (default 5), median reported;
//       plus one extra run through an `ssh` shim that logs every ssh invocation (one per host
//       since the steps run in the host's shell session, plus the close);
//   (b) deploy with a new venv (slipfix==1.1.0 added to requirements.txt: new key);
//   (c) `slipway rollback --target fleet`;
//   (a1) code-only deploys to one host (--hosts h1): the whole CLI's wall time, node start included;
//   (a2) code-only deploys through kept ssh connections (the user's opt-in ssh.persist):
//        one to open them, then BENCH_DEPLOY_REPS;
//   and the classic flow, host after host (a for-loop script), over ssh with the fleet's key:
//   for the same code-only change, for the new requirement, and a rollback (symlink + restart).
// Fleet B (12 hosts): code-only deploys with --batch 25% to 3 of them (--hosts) and to all 12,
//   BENCH_SCALE_REPS times each (default 3), alternating; medians compared.
//
// "Per host" for slipway is the time its steps on that host took (the sum of its step events,
// the ssh handshake — its "connect" step — and the restart included); a host's span (first step start → last step done) is also
// printed but includes waiting for the other batches' restarts. Deployer CPU (the CLI and its ssh
// clients, in a cpuacct cgroup) is printed for fleet B: the hosts share this machine's 2 cores.
// Prints seconds per case, bytes per host (slipway's result bytes_sent and the host's rx_bytes
// delta), per-step host timings, ssh round trips, ratios and PASS/FAIL against the targets;
// writes the figures to bench/results/deploy-<timestamp>.json; exits 0 either way (1 only if
// the bench itself broke).
import { existsSync } from "node:fs";
import { appendFile, chmod, mkdir, readdir, readFile, stat, writeFile } from "node:fs/promises";
import os from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { PYTHON, pythonEnv } from "../test/support/env.js";
import { fleetApp, targetToml, APP_PORT, SUPERVISOR_CONF, type FleetApp } from "../test/support/fleet-app.js";
import type { TestHost } from "../test/support/fleet.js";
import { tmpDir } from "../test/support/tmp.js";
import { describeStartups, shellStartups } from "./shell-startup.js";
import { runBench, STEP_ORDER } from "./run.js";
import { must, runProcess, type Ran } from "./process.js";
import { CpuCgroup } from "./cgroup.js";
import { median } from "./figures.js";

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const CLI = join(REPO, "dist", "cli.js");
const RESULTS_DIR = join(REPO, "bench", "results");
const A_REPS = Math.max(1, Number(process.env["BENCH_DEPLOY_REPS"] ?? 5) || 5);
const SCALE_REPS = Math.max(1, Number(process.env["BENCH_SCALE_REPS"] ?? 3) || 3);
/** Before each timed command, wait (up to QUIET_WAIT_MS) until this machine's CPUs are mostly idle: other work on it skews every figure. */
const QUIET_BUSY = 0.25;
const QUIET_WAIT_MS = 10_000;
/** Total waiting allowed over the whole run (keeps it under ~8 minutes on a busy machine). */
let quietBudgetMs = Number(process.env["BENCH_QUIET_BUDGET_MS"] ?? 120_000) || 0;
const FLEET_A = 3;
const FLEET_B = 12;
const TARGETS = { codeOnlySpeedupPerHost: 20, codeBytesSlack: 0.05, hostOverheadMs: 300, scale12over3: 2 };

/** Where the classic flow lives on each host (its own /srv), and its supervisord program. */
const CLASSIC = "/srv/classic";
const CLASSIC_PORT = APP_PORT + 1;
const CLASSIC_PROGRAM = [
  "",
  "[program:classic]",
  `command=${CLASSIC}/current/venv/bin/python -m hello.serve --host 0.0.0.0 --port ${CLASSIC_PORT}`,
  `directory=${CLASSIC}/current`,
  "autostart=false",
  "startsecs=0",
  "stopsignal=TERM",
  "stopwaitsecs=10",
  "",
].join("\n");

// --- slipway through the CLI ---------------------------------------------------------------

type Json = Record<string, any>;

interface CliRun {
  code: number | null;
  seconds: number;
  /** Every --json line, with `t`: ms since the CLI was spawned when the line arrived. */
  events: (Json & { t: number })[];
  result: Json;
  stderr: string;
}

// --- deployer CPU: the CLI and everything it starts (ssh clients and masters) in a cpuacct cgroup ---

const cpu = new CpuCgroup(`slw-bench-deploy-${process.pid}`);
const deployerCpuNs = () => cpu.usageNs();

async function cli(f: FleetApp, args: string[], extraEnv: Record<string, string> = {}): Promise<CliRun> {
  await cpu.ready();
  const r = await runProcess([process.execPath, CLI, ...args, "--json"], { cwd: f.ws.app, env: { ...f.ws.env, ...extraEnv }, onSpawn: (pid) => cpu.add(pid) });
  const events: CliRun["events"] = [];
  for (const { t, line } of r.lines) {
    if (!line.trim()) continue;
    try {
      events.push({ ...(JSON.parse(line) as Json), t });
    } catch {
      throw new Error(`slipway ${args[0]}: stdout line is not JSON: ${line.slice(0, 300)}`);
    }
  }
  const result = events.findLast((e) => e["type"] === "result");
  if (r.code !== 0 || !result?.["ok"]) {
    const why = result?.["error"] ? JSON.stringify(result["error"]) : r.stderr.trim().slice(-2000) || `exit ${r.code}`;
    throw new Error(`slipway ${args.join(" ")} failed (exit ${r.code}): ${why}`);
  }
  return { code: r.code, seconds: r.seconds, events, result, stderr: r.stderr };
}

interface Built {
  build_id: string;
  artifact: string;
  seconds: number;
  venv_key: string;
  venv_cache: string;
  code_layer_bytes: number;
  venv_layer_bytes: number;
}

async function slipwayBuild(f: FleetApp, buildId: string): Promise<Built> {
  const r = await cli(f, ["build", "--build-id", buildId]);
  const res = r.result;
  return {
    build_id: String(res["build_id"]),
    artifact: String(res["artifact"]),
    seconds: r.seconds,
    venv_key: String(res["venv"]?.["key"]),
    venv_cache: String(res["venv"]?.["cache"]),
    code_layer_bytes: Number(res["layers"]?.["code"]?.["size"]),
    venv_layer_bytes: Number(res["layers"]?.["venv"]?.["size"]),
  };
}

interface HostFigures {
  host: string; // h1
  dest: string;
  /** slipway's result bytes_sent (deploy only). */
  bytes_sent?: number;
  /** rx_bytes delta on the host's interface over the whole command. */
  rx_bytes: number;
  /** ms per host step, summed, from the "host … done" events. */
  steps_ms: Record<string, number>;
  /** Sum of the step durations except restart. */
  overhead_ms: number;
  /** The host shell's start-up inside the connect step (its rc files), when measured. */
  shell_startup_ms?: number;
  /** Sum of all step durations: the time this deploy spent working on this host. */
  own_ms: number;
  /** First "start" to last "done" of this host's events (arrival times). */
  span_ms: number;
}

interface CommandFigures {
  label: string;
  command: string;
  build_id?: string;
  seconds: number;
  hosts: HostFigures[];
  timings_ms?: Record<string, number>;
  plan?: Json;
  /** Fraction of this machine's CPU time that was busy during the command (/proc/stat). */
  cpu_busy: number;
  /** The same, over a short sample just before the command (other load on the machine). */
  baseline_busy: number;
  /** CPU seconds used by the deployer (the CLI, its ssh clients and masters); NaN without cgroups. */
  deployer_cpu_s: number;
  /** CPU seconds used on this whole machine during the command (deployer + hosts + anything else). */
  machine_cpu_s: number;
}

/** Busy and total jiffies of all CPUs (/proc/stat): the fleet's hosts share this machine's CPUs with the deployer. */
async function cpuTimes(): Promise<{ busy: number; total: number }> {
  const first = (await readFile("/proc/stat", "utf8")).split("\n")[0]!;
  const v = first.trim().split(/\s+/).slice(1).map(Number);
  const total = sum(v.slice(0, 8));
  const idle = (v[3] ?? 0) + (v[4] ?? 0);
  return { busy: total - idle, total };
}
/** /proc/stat counts in USER_HZ: 100 on Linux. */
const CLK_TCK = 100;
const pct = (x: number) => `${(x * 100).toFixed(0)}%`;

const noisy: string[] = [];
/** Wait until the CPUs are mostly idle (300 ms samples, at most QUIET_WAIT_MS); returns the last sample's busy fraction. */
async function settle(what: string): Promise<number> {
  const t0 = Date.now();
  const deadline = t0 + Math.min(QUIET_WAIT_MS, quietBudgetMs);
  for (;;) {
    const a = await cpuTimes();
    await new Promise((r) => setTimeout(r, 300));
    const b = await cpuTimes();
    const busy = (b.busy - a.busy) / Math.max(1, b.total - a.total);
    if (busy <= QUIET_BUSY || Date.now() > deadline) quietBudgetMs = Math.max(0, quietBudgetMs - (Date.now() - t0 - 300));
    if (busy <= QUIET_BUSY) return busy;
    if (Date.now() > deadline) {
      noisy.push(`${what}: the machine was ${pct(busy)} busy just before it (other processes); its figures are skewed`);
      console.log(`  ! ${noisy[noisy.length - 1]}`);
      return busy;
    }
  }
}

const rxAll = (hosts: TestHost[]) => Promise.all(hosts.map((h) => h.rxBytes()));

function hostFigures(run: CliRun, h: TestHost, rx: number): HostFigures {
  const mine = run.events.filter((e) => e["type"] === "host" && e["host"] === h.dest);
  const steps: Record<string, number> = {};
  for (const e of mine) {
    if (e["status"] === "done" || e["status"] === "failed") steps[e["step"]] = (steps[e["step"]] ?? 0) + Number(e["ms"]);
  }
  const starts = mine.filter((e) => e["status"] === "start").map((e) => e.t);
  const ends = mine.filter((e) => e["status"] !== "start").map((e) => e.t);
  const overhead = Object.entries(steps)
    .filter(([k]) => k !== "restart")
    .reduce((a, [, v]) => a + v, 0);
  const outcome = (run.result["hosts"] as Json[] | undefined)?.find((x) => x["host"] === h.dest);
  return {
    host: h.name,
    dest: h.dest,
    bytes_sent: typeof outcome?.["bytes_sent"] === "number" ? (outcome["bytes_sent"] as number) : undefined,
    rx_bytes: rx,
    steps_ms: steps,
    overhead_ms: overhead,
    shell_startup_ms: shellStartups(run.events, h.dest)[0],
    own_ms: Object.values(steps).reduce((x, y) => x + y, 0),
    span_ms: starts.length && ends.length ? Math.round(Math.max(...ends) - Math.min(...starts)) : 0,
  };
}

/** Run a deploy or rollback through the CLI on `hosts` (all of the target unless `--hosts` is in args), with rx deltas. */
async function slipwayCommand(
  f: FleetApp,
  label: string,
  args: string[],
  hosts: TestHost[],
  extraEnv: Record<string, string> = {},
): Promise<{ fig: CommandFigures; run: CliRun }> {
  const baseline = await settle(label);
  const rx0 = await rxAll(hosts);
  const c0 = await cpuTimes();
  const d0 = await deployerCpuNs();
  const run = await cli(f, args, extraEnv);
  const c1 = await cpuTimes();
  const d1 = await deployerCpuNs();
  const rx1 = await rxAll(hosts);
  const res = run.result;
  if (Array.isArray(res["hosts"])) {
    const bad = (res["hosts"] as Json[]).filter((x) => x["result"] !== "ok");
    if (bad.length) throw new Error(`${label}: hosts not ok: ${JSON.stringify(bad)}`);
  }
  const fig: CommandFigures = {
    label,
    command: `slipway ${args.join(" ")}`,
    build_id: res["build_id"] as string | undefined,
    seconds: run.seconds,
    hosts: hosts.map((h, i) => hostFigures(run, h, rx1[i]! - rx0[i]!)),
    timings_ms: res["timings_ms"] as Record<string, number> | undefined,
    plan: res["plan"] as Json | undefined,
    cpu_busy: (c1.busy - c0.busy) / Math.max(1, c1.total - c0.total),
    baseline_busy: baseline,
    deployer_cpu_s: (d1 - d0) / 1e9,
    machine_cpu_s: (c1.busy - c0.busy) / CLK_TCK,
  };
  return { fig, run };
}

async function waitHealthy(url: string, want?: string, timeoutMs = 10_000): Promise<Json> {
  const deadline = Date.now() + timeoutMs;
  let last = "";
  for (;;) {
    try {
      const r = await fetch(url, { signal: AbortSignal.timeout(2000) });
      if (r.ok) {
        const body = (await r.json()) as Json;
        if (want === undefined || body["build_id"] === want) return body;
        last = `build_id ${String(body["build_id"])}`;
      } else last = `HTTP ${r.status}`;
    } catch (e) {
      last = (e as Error).message;
    }
    if (Date.now() > deadline) throw new Error(`${url}: not healthy${want ? ` with build ${want}` : ""} after ${timeoutMs} ms (${last})`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const expectBuild = (hosts: TestHost[], id: string) => Promise.all(hosts.map((h) => waitHealthy(`http://${h.ip}:${APP_PORT}/health`, id)));

let codeChanges = 0;
async function codeChange(f: FleetApp, tag: string): Promise<void> {
  await appendFile(join(f.ws.app, "hello", "app.py"), `# bench code change ${++codeChanges} ${tag}\n`);
}

// --- ssh round trips: a shim in front of ssh ------------------------------------------------

const SSH_SHIM = `#!/bin/bash
# bench/deploy.ts: log each ssh invocation (start, end, exit, destination, remote command), then run ssh.
t0=$EPOCHREALTIME
dest=""; ctl=""; prev=""
for a in "$@"; do
  if [ "$prev" = "--" ] && [ -z "$dest" ]; then dest=$a; fi
  [ "$a" = "-O" ] && ctl=control
  prev=$a
done
/usr/bin/ssh "$@"; rc=$?
last=\${!#}; last=\${last//$'\\n'/ }; last=\${last//$'\\t'/ }
printf '%s\\t%s\\t%s\\t%s\\t%s\\t%s\\n' "$t0" "$EPOCHREALTIME" "$rc" "\${ctl:-run}" "$dest" "\${last:0:8000}" >> "$SLW_BENCH_SSH_LOG"
exit $rc
`;

/** What a remote command is, from the host script it runs (src/deploy/*.ts). */
function classifyRemote(cmd: string): string {
  const rules: [RegExp, string][] = [
    [/while IFS=' ' read -r alen plen/, "shell session (every step)"],
    [/then echo held; cat/, "lock: peek"],
    [/mkdir "\$1\/\.slipway\/lock" 2>/, "lock: acquire"],
    [/slipway-probe/, "preflight"],
    [/acquire_lock "\$root" "\$2" "\$3"/, "preflight + lock (rollback)"],
    [/releases\/\.tmp-\*/, "clean"],
    [/part="\$1\.part"/, "send"],
    [/root=\$1 build=\$2 key=\$3/, "unpack: release"],
    [/root=\$1 key=\$2 file=\$3/, "unpack: venv"],
    [/dir=\$1 cmd=\$2/, "user command (migrate/hooks)"],
    [/slipway-switched/, "switch + restart"],
    [/old=\$\(readlink current/, "switch"],
    [/supervisorctl|systemctl/, "restart"],
    [/for r in releases\/\*\//, "prune: list"],
    [/r:\*\) rm -rf/, "prune: remove"],
    [/>> "\$1"/, "record"],
    [/grep -qF -- "\$2"/, "unlock"],
  ];
  for (const [re, name] of rules) if (re.test(cmd)) return name;
  return `other: ${cmd.slice(0, 60)}`;
}

interface SshCall {
  start: number;
  end: number;
  ms: number;
  rc: number;
  kind: string;
  dest: string;
  what: string;
}

async function readShimLog(file: string): Promise<SshCall[]> {
  const text = await readFile(file, "utf8").catch(() => "");
  return text
    .split("\n")
    .filter(Boolean)
    .map((l) => {
      const [s, e, rc, kind, dest, cmd] = l.split("\t");
      const start = Number(s) * 1000;
      const end = Number(e) * 1000;
      return {
        start,
        end,
        ms: Math.round(end - start),
        rc: Number(rc),
        kind: kind!,
        dest: dest!,
        what: kind === "control" ? "close (ssh -O exit)" : classifyRemote(cmd ?? ""),
      };
    });
}

// --- the classic flow ----------------------------------------------------------------------

function sshArgv(f: FleetApp, h: TestHost, command: string): string[] {
  return ["ssh", ...f.fleet.sshArgs(), h.dest, command];
}

async function ssh(f: FleetApp, h: TestHost, command: string, stdinFile?: string): Promise<Ran> {
  return must(sshArgv(f, h, command), { env: pythonEnv(), stdinFile });
}

/** tar czf of the app dir, as a classic script packages a checkout (no build output). */
async function sourceTarball(f: FleetApp, out: string): Promise<{ bytes: number; seconds: number }> {
  const r = await must([
    "tar",
    "czf",
    out,
    "--exclude=./dist",
    "--exclude=./.slipway",
    "--exclude=./data",
    "--exclude=__pycache__",
    "--exclude=*.egg-info",
    "--exclude=./vendor/*/build",
    "-C",
    f.ws.app,
    ".",
  ]);
  return { bytes: (await stat(out)).size, seconds: r.seconds };
}

/** Untimed: the wheelhouse on every host, and a supervisord program for the classic release. */
async function classicSetup(f: FleetApp, hosts: TestHost[], work: string): Promise<void> {
  const wh = join(work, "wheelhouse.tar");
  await must(["tar", "cf", wh, "-C", f.ws.wheelhouse, "."]);
  await Promise.all(
    hosts.map(async (h) => {
      await ssh(f, h, `mkdir -p ${CLASSIC}/wheelhouse ${CLASSIC}/releases ${CLASSIC}/incoming && tar xf - -C ${CLASSIC}/wheelhouse`, wh);
      await appendFile(h.supervisorConf!, CLASSIC_PROGRAM);
      await h.supervisorctl(["reread"]);
      await h.supervisorctl(["update"]);
    }),
  );
}

const CLASSIC_STEPS = ["upload", "unpack", "venv", "pip", "switch", "restart"] as const;

interface ClassicHost {
  host: string;
  seconds: number;
  steps_ms: Record<string, number>;
  rx_bytes: number;
  /** CPU busy fraction of this machine just before (other load); -1 when not sampled. */
  baseline_busy: number;
}

/** One host, one release: each step is its own ssh command, as in a deploy.sh loop. */
async function classicDeployHost(f: FleetApp, h: TestHost, tarball: string, rel: string, quiet = true): Promise<ClassicHost> {
  const baseline = quiet ? await settle(`classic ${rel} on ${h.name}`) : -1;
  const R = `${CLASSIC}/releases/${rel}`;
  const cmds: Record<(typeof CLASSIC_STEPS)[number], string> = {
    upload: `cat > ${CLASSIC}/incoming/${rel}.tgz`,
    unpack: `mkdir -p ${R} && tar xzf ${CLASSIC}/incoming/${rel}.tgz -C ${R} && rm -f ${CLASSIC}/incoming/${rel}.tgz`,
    venv: `/usr/bin/python3 -m venv ${R}/venv`,
    pip: `cd ${R} && PIP_CONFIG_FILE=/dev/null ${R}/venv/bin/pip install --no-index --find-links ${CLASSIC}/wheelhouse -r requirements.txt`,
    switch: `cd ${CLASSIC} && old=$(readlink current || true) && { [ -z "$old" ] || ln -sfn "$old" previous; } && ln -sfn releases/${rel} current.tmp && mv -Tf current.tmp current`,
    restart: `supervisorctl -c ${SUPERVISOR_CONF} restart classic`,
  };
  const rx0 = await h.rxBytes();
  const t0 = performance.now();
  const steps: Record<string, number> = {};
  for (const step of CLASSIC_STEPS) {
    const r = await ssh(f, h, cmds[step], step === "upload" ? tarball : undefined);
    if (step === "restart" && !/started/.test(r.stdout)) throw new Error(`classic restart on ${h.name}: ${r.stdout}${r.stderr}`);
    steps[step] = Math.round(r.seconds * 1000);
  }
  const seconds = (performance.now() - t0) / 1000;
  const rx = (await h.rxBytes()) - rx0;
  await waitHealthy(`http://${h.ip}:${CLASSIC_PORT}/health`);
  return { host: h.name, seconds, steps_ms: steps, rx_bytes: rx, baseline_busy: baseline };
}

async function classicRollbackHost(f: FleetApp, h: TestHost): Promise<ClassicHost> {
  const baseline = await settle(`classic rollback on ${h.name}`);
  const rx0 = await h.rxBytes();
  const cmd = `cd ${CLASSIC} && prev=$(readlink previous) && cur=$(readlink current) && ln -sfn "$prev" current.tmp && mv -Tf current.tmp current && ln -sfn "$cur" previous && supervisorctl -c ${SUPERVISOR_CONF} restart classic`;
  const r = await ssh(f, h, cmd);
  const rx = (await h.rxBytes()) - rx0;
  await waitHealthy(`http://${h.ip}:${CLASSIC_PORT}/health`);
  return { host: h.name, seconds: r.seconds, steps_ms: { "switch+restart": Math.round(r.seconds * 1000) }, rx_bytes: rx, baseline_busy: baseline };
}

interface ClassicRun {
  label: string;
  /** The loop's wall time (hosts one after another). */
  total_s: number;
  hosts: ClassicHost[];
  tarball_bytes?: number;
  tarball_s?: number;
}

/** Host after host; the total is the sum of the hosts' times (not the loop's wall, which includes the waits for a quiet machine). */
async function classicLoop(label: string, hosts: TestHost[], one: (h: TestHost) => Promise<ClassicHost>): Promise<ClassicRun> {
  const out: ClassicHost[] = [];
  for (const h of hosts) out.push(await one(h));
  return { label, total_s: sum(out.map((h) => h.seconds)), hosts: out };
}

// --- statistics and output -----------------------------------------------------------------

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
const mean = (xs: number[]) => (xs.length ? sum(xs) / xs.length : NaN);
/** Runs started on a quiet machine, or all of them if none was. */
function quietRuns<T extends { baseline_busy: number }>(runs: T[]): T[] {
  const q = runs.filter((r) => r.baseline_busy <= QUIET_BUSY);
  return q.length ? q : runs;
}
/** The run whose wall time is the median of the quiet runs (the lower middle one for an even count). */
function medianRun<T extends { seconds: number; baseline_busy: number }>(runs: T[]): T {
  const s = [...quietRuns(runs)].sort((a, b) => a.seconds - b.seconds);
  return s[(s.length - 1) >> 1]!;
}
const S = (s: number) => `${s.toFixed(3)} s`;
const X = (r: number) => `${r.toFixed(1)}x`;
const KB = (b: number) => `${(b / 1024).toFixed(1)} KiB`;
const B = (b: number | undefined) => (b === undefined ? "-" : b >= 1 << 20 ? `${(b / (1 << 20)).toFixed(2)} MiB` : KB(b));

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? "").length)));
  const line = (r: string[]) => r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join("  ");
  return [line(rows[0]!), widths.map((w) => "-".repeat(w)).join("  "), ...rows.slice(1).map(line)].join("\n");
}

function log(msg: string): void {
  console.log(msg);
}

/** sha256 over every .js file under dist (what was measured: the working tree is edited by others while benches run). */
async function distDigest(): Promise<string> {
  const r = await runProcess(["sh", "-c", "find dist -name '*.js' -type f | LC_ALL=C sort | xargs sha256sum | sha256sum"], { cwd: REPO });
  return r.stdout.split(" ")[0] ?? "";
}

async function gitCommit(): Promise<string | null> {
  const r = await runProcess(["git", "rev-parse", "--short", "HEAD"], { cwd: REPO }).catch(() => undefined);
  if (!r || r.code !== 0) return null;
  const dirty = await runProcess(["git", "status", "--porcelain"], { cwd: REPO });
  return r.stdout.trim() + (dirty.stdout.trim() ? "-dirty" : "");
}

// --- fleet A: (a) (b) (c) against the classic flow -----------------------------------------

interface FleetAFigures {
  hosts: string[];
  b1: Built;
  first_deploy: CommandFigures;
  code_only: { builds: Built[]; runs: CommandFigures[]; median: CommandFigures };
  single_host: { runs: CommandFigures[]; median: CommandFigures };
  warm: { runs: CommandFigures[]; median: CommandFigures };
  round_trips: {
    build: Built;
    run: CommandFigures;
    calls: SshCall[];
    per_host: Record<string, { calls: number; ms: number; by_kind: Record<string, { n: number; ms: number }> }>;
    wall_ms: number;
  };
  new_venv: { build: Built; run: CommandFigures };
  rollback: { run: CommandFigures; to: string };
  classic: { first: ClassicRun; code_only: ClassicRun; new_venv: ClassicRun; rollback: ClassicRun };
}

async function fleetA(work: string): Promise<FleetAFigures> {
  log(`\n[fleet A] starting ${FLEET_A} hosts (fleetApp)`);
  const f = await fleetApp(FLEET_A);
  try {
    const hosts = f.hosts;
    log(`  hosts ${hosts.map((h) => `${h.name}=${h.ip}`).join(" ")}, root ${f.ws.root}`);
    // Source tarballs for the classic flow are snapshots of the same tree slipway builds from;
    // the classic runs come after slipway's, so neither measures the other's leftovers.
    const tar0 = join(work, "classic-0.tgz");
    const t0 = await sourceTarball(f, tar0);

    const b1 = await slipwayBuild(f, "b1");
    log(
      `[A] build b1: ${S(b1.seconds)} (venv ${b1.venv_cache}, key ${b1.venv_key}); code layer ${B(b1.code_layer_bytes)}, venv layer ${B(b1.venv_layer_bytes)}`,
    );
    const first = (await slipwayCommand(f, "first deploy (b1, venv sent)", ["deploy", b1.artifact, "--target", "fleet"], hosts)).fig;
    await expectBuild(hosts, "b1");
    log(`[A] slipway deploy b1 (first, with venv): ${S(first.seconds)}; rx ${first.hosts.map((h) => B(h.rx_bytes)).join(" / ")}`);

    // (a) code-only deploys: b2 onto hosts running b1, then b3, b4 … onto the previous one.
    const builds: Built[] = [];
    const runs: CommandFigures[] = [];
    for (let i = 0; i < A_REPS; i++) {
      const id = `b${i + 2}`;
      await codeChange(f, id);
      const b = await slipwayBuild(f, id);
      if (b.venv_key !== b1.venv_key) throw new Error(`code-only build ${id} changed the venv key (${b1.venv_key} → ${b.venv_key})`);
      const { fig } = await slipwayCommand(f, `code-only ${id}`, ["deploy", b.artifact, "--target", "fleet"], hosts);
      await expectBuild(hosts, b.build_id);
      builds.push(b);
      runs.push(fig);
      log(
        `[A] (a) code-only deploy ${id} (build ${S(b.seconds)}): ${S(fig.seconds)}; bytes_sent ${fig.hosts.map((h) => h.bytes_sent).join("/")} (code layer ${b.code_layer_bytes}); rx ${fig.hosts.map((h) => h.rx_bytes).join("/")}; host overhead ${fig.hosts.map((h) => `${h.overhead_ms}ms`).join("/")}; cpu busy ${pct(fig.cpu_busy)}`,
      );
    }
    const aMedian = medianRun(runs);
    const tar1 = join(work, "classic-1.tgz");
    const t1 = await sourceTarball(f, tar1);

    // (a1) the same code-only change to one host alone: the CLI's whole wall time.
    const single: CommandFigures[] = [];
    for (let i = 1; i <= A_REPS; i++) {
      const id = `one-${i}`;
      await codeChange(f, id);
      const b = await slipwayBuild(f, id);
      const { fig } = await slipwayCommand(
        f,
        `code-only to h1 alone ${id}`,
        ["deploy", b.artifact, "--target", "fleet", "--hosts", hosts[0]!.dest],
        [hosts[0]!],
      );
      await expectBuild([hosts[0]!], id);
      single.push(fig);
      log(`[A] (a1) code-only ${id} to h1 alone: ${S(fig.seconds)} wall; h1 steps ${fig.hosts[0]!.own_ms} ms`);
    }

    // (a2) through kept ssh connections, as a user opts in with ssh.persist: the first deploy
    // opens them (not counted), the next ones reuse them.
    const known = `known_hosts = "${f.fleet.ssh.known_hosts}"`;
    await appendFile(join(f.ws.app, "slipway.toml"), targetToml("warm", f.fleet).replace(known, `${known}, persist = "10m"`));
    const warm: CommandFigures[] = [];
    for (let i = 0; i <= A_REPS; i++) {
      const id = `warm-${i}`;
      await codeChange(f, id);
      const b = await slipwayBuild(f, id);
      const { fig } = await slipwayCommand(f, `code-only, persistent ssh ${id}`, ["deploy", b.artifact, "--target", "warm"], hosts);
      await expectBuild(hosts, id);
      if (i > 0) warm.push(fig);
      log(
        `[A] (a2) code-only ${id}, persistent ssh connection${i === 0 ? " (opens it; not counted)" : ""}: ${S(fig.seconds)}; host steps ${fig.hosts.map((h) => `${h.own_ms}ms`).join("/")}; overhead ${fig.hosts.map((h) => `${h.overhead_ms}ms`).join("/")}`,
      );
    }
    // Close the kept masters (their sockets are in the workspace cache's ssh dir).
    const kept = join(f.ws.cache, "ssh");
    for (const sock of existsSync(kept) ? await readdir(kept) : []) await runProcess(["ssh", "-o", `ControlPath=${join(kept, sock)}`, "-O", "exit", "x"]);

    // One more code-only deploy through an ssh shim, to count and time every ssh invocation.
    const shimDir = join(work, "ssh-shim");
    await mkdir(shimDir, { recursive: true });
    await writeFile(join(shimDir, "ssh"), SSH_SHIM);
    await chmod(join(shimDir, "ssh"), 0o755);
    const shimLog = join(work, "ssh-calls.tsv");
    const rtId = `b${A_REPS + 2}`;
    await codeChange(f, rtId);
    const bRt = await slipwayBuild(f, rtId);
    const rt = await slipwayCommand(f, "code-only through the ssh shim", ["deploy", bRt.artifact, "--target", "fleet"], hosts, {
      PATH: `${shimDir}:${process.env["PATH"] ?? "/usr/bin:/bin"}`,
      SLW_BENCH_SSH_LOG: shimLog,
    });
    await expectBuild(hosts, rtId);
    const calls = await readShimLog(shimLog);
    const perHost: FleetAFigures["round_trips"]["per_host"] = {};
    for (const h of hosts) {
      const mine = calls.filter((c) => c.dest === h.ip || c.dest === h.dest);
      const byKind: Record<string, { n: number; ms: number }> = {};
      for (const c of mine) {
        const k = (byKind[c.what] ??= { n: 0, ms: 0 });
        k.n++;
        k.ms += c.ms;
      }
      const runsOnly = mine.filter((c) => c.kind === "run");
      perHost[h.name] = { calls: runsOnly.length, ms: sum(runsOnly.map((c) => c.ms)), by_kind: byKind };
    }
    log(
      `[A] code-only through the ssh shim (${rtId}): ${S(rt.fig.seconds)}; ssh commands per host ${Object.entries(perHost)
        .map(([h, p]) => `${h}=${p.calls}`)
        .join(" ")}`,
    );

    // (b) new venv key.
    await appendFile(join(f.ws.app, "requirements.txt"), "\nslipfix==1.1.0\n");
    const nvId = `b${A_REPS + 3}`;
    const bv = await slipwayBuild(f, nvId);
    if (bv.venv_key === b1.venv_key) throw new Error("adding slipfix did not change the venv key");
    log(`[A] build ${nvId} (new venv): ${S(bv.seconds)} (venv ${bv.venv_cache}, key ${bv.venv_key}); venv layer ${B(bv.venv_layer_bytes)}`);
    const nv = (await slipwayCommand(f, `new venv (${nvId})`, ["deploy", bv.artifact, "--target", "fleet"], hosts)).fig;
    await expectBuild(hosts, nvId);
    for (const h of hosts) await h.exec([`${f.ws.root}/current/virtualenv/bin/python`, "-c", "import slipfix, fastcount"]);
    log(
      `[A] (b) new-venv deploy ${nvId}: ${S(nv.seconds)}; bytes_sent ${nv.hosts.map((h) => h.bytes_sent).join("/")}; rx ${nv.hosts.map((h) => h.rx_bytes).join("/")}`,
    );
    const tar2 = join(work, "classic-2.tgz");
    const t2 = await sourceTarball(f, tar2);

    // (c) rollback.
    const rb = (await slipwayCommand(f, "rollback", ["rollback", "--target", "fleet"], hosts)).fig;
    await expectBuild(hosts, rtId);
    log(`[A] (c) rollback → ${rtId}: ${S(rb.seconds)}; rx ${rb.hosts.map((h) => h.rx_bytes).join("/")}`);

    // The classic flow: wheelhouse and program on the hosts and a first release (untimed setup,
    // hosts in parallel), then the same code-only change and the new requirement host after
    // host, then a rollback.
    await classicSetup(f, hosts, work);
    const cFirst: ClassicRun = {
      label: "classic first release (setup, hosts in parallel)",
      total_s: 0,
      hosts: [],
      tarball_bytes: t0.bytes,
      tarball_s: t0.seconds,
    };
    {
      const tt = performance.now();
      cFirst.hosts = await Promise.all(hosts.map((h) => classicDeployHost(f, h, tar0, "c0", false)));
      cFirst.total_s = (performance.now() - tt) / 1000;
    }
    log(`[A] classic first release c0 (setup, hosts in parallel): ${S(cFirst.total_s)}; tarball ${B(t0.bytes)}`);
    const cCode = await classicLoop("classic, code-only change", hosts, (h) => classicDeployHost(f, h, tar1, "c1"));
    cCode.tarball_bytes = t1.bytes;
    cCode.tarball_s = t1.seconds;
    log(`[A] classic code-only (c1), host after host: ${S(cCode.total_s)}; per host ${cCode.hosts.map((h) => S(h.seconds)).join(" / ")}`);
    const cVenv = await classicLoop("classic, new requirement", hosts, (h) => classicDeployHost(f, h, tar2, "c2"));
    cVenv.tarball_bytes = t2.bytes;
    cVenv.tarball_s = t2.seconds;
    for (const h of hosts) await h.exec([`${CLASSIC}/current/venv/bin/python`, "-c", "import slipfix, fastcount"]);
    log(`[A] classic new requirement (c2), host after host: ${S(cVenv.total_s)}; per host ${cVenv.hosts.map((h) => S(h.seconds)).join(" / ")}`);
    const cRb = await classicLoop("classic rollback (symlink + restart, one ssh per host)", hosts, (h) => classicRollbackHost(f, h));
    for (const h of hosts) {
      const cur = (await h.exec(["readlink", `${CLASSIC}/current`])).trim();
      if (cur !== "releases/c1") throw new Error(`classic rollback on ${h.name}: current is ${cur}`);
    }
    log(`[A] classic rollback, host after host: ${S(cRb.total_s)}; per host ${cRb.hosts.map((h) => S(h.seconds)).join(" / ")}`);

    return {
      hosts: hosts.map((h) => `${h.name}=${h.dest}`),
      b1,
      first_deploy: first,
      code_only: { builds, runs, median: aMedian },
      single_host: { runs: single, median: medianRun(single) },
      warm: { runs: warm, median: medianRun(warm) },
      round_trips: { build: bRt, run: rt.fig, calls, per_host: perHost, wall_ms: Math.round(rt.fig.seconds * 1000) },
      new_venv: { build: bv, run: nv },
      rollback: { run: rb, to: rtId },
      classic: { first: cFirst, code_only: cCode, new_venv: cVenv, rollback: cRb },
    };
  } finally {
    await f.stop();
    log(`[fleet A] stopped`);
  }
}

// --- fleet B: 3 vs 12 hosts, --batch 25% ---------------------------------------------------

interface FleetBFigures {
  b1: Built;
  first_deploy: CommandFigures;
  three: CommandFigures[];
  twelve: CommandFigures[];
  three_median_s: number;
  twelve_median_s: number;
  /** The same code-only deploys through kept ssh connections (ssh.persist), opened by an uncounted first deploy. */
  kept_three: CommandFigures[];
  kept_twelve: CommandFigures[];
}

async function fleetB(): Promise<FleetBFigures> {
  log(`\n[fleet B] starting ${FLEET_B} hosts (fleetApp)`);
  const f = await fleetApp(FLEET_B);
  try {
    const hosts = f.hosts;
    const three = hosts.slice(0, 3);
    const b1 = await slipwayBuild(f, "b1");
    log(`[B] build b1: ${S(b1.seconds)} (venv ${b1.venv_cache})`);
    const first = (await slipwayCommand(f, "first deploy to 12 (b1, venv sent)", ["deploy", b1.artifact, "--target", "fleet", "--batch", "25%"], hosts)).fig;
    await expectBuild(hosts, "b1");
    log(`[B] slipway deploy b1 to ${FLEET_B} hosts (first, with venv, batch 25%): ${S(first.seconds)}`);
    const r3: CommandFigures[] = [];
    const r12: CommandFigures[] = [];
    for (let i = 1; i <= SCALE_REPS; i++) {
      await codeChange(f, `s3-${i}`);
      const b3 = await slipwayBuild(f, `s3-${i}`);
      const d3 = (
        await slipwayCommand(
          f,
          `code-only to 3 (batch 25%) #${i}`,
          ["deploy", b3.artifact, "--target", "fleet", "--hosts", three.map((h) => h.dest).join(","), "--batch", "25%"],
          three,
        )
      ).fig;
      await expectBuild(three, b3.build_id);
      r3.push(d3);
      log(`[B] code-only ${b3.build_id} to 3 hosts, batch 25% (${(d3.plan?.["batches"] as unknown[] | undefined)?.length ?? "?"} batches): ${S(d3.seconds)}`);
      await codeChange(f, `s12-${i}`);
      const b12 = await slipwayBuild(f, `s12-${i}`);
      const d12 = (await slipwayCommand(f, `code-only to 12 (batch 25%) #${i}`, ["deploy", b12.artifact, "--target", "fleet", "--batch", "25%"], hosts)).fig;
      await expectBuild(hosts, b12.build_id);
      r12.push(d12);
      log(
        `[B] code-only ${b12.build_id} to 12 hosts, batch 25% (${(d12.plan?.["batches"] as unknown[] | undefined)?.length ?? "?"} batches): ${S(d12.seconds)}`,
      );
    }
    // The same through kept connections (ssh.persist): the handshake, most of the deployer's
    // CPU per host, is paid once by an opening deploy that is not counted.
    const known = `known_hosts = "${f.fleet.ssh.known_hosts}"`;
    await appendFile(join(f.ws.app, "slipway.toml"), targetToml("fleet-kept", f.fleet).replace(known, `${known}, persist = "10m"`));
    const k3: CommandFigures[] = [];
    const k12: CommandFigures[] = [];
    await codeChange(f, "k-open");
    const bOpen = await slipwayBuild(f, "k-open");
    await slipwayCommand(f, "opening the kept connections (not counted)", ["deploy", bOpen.artifact, "--target", "fleet-kept", "--batch", "25%"], hosts);
    for (let i = 1; i <= SCALE_REPS; i++) {
      for (const [n, group, out] of [
        [3, three, k3],
        [FLEET_B, hosts, k12],
      ] as const) {
        const id = `k${n}-${i}`;
        await codeChange(f, id);
        const b = await slipwayBuild(f, id);
        const d = (
          await slipwayCommand(
            f,
            `code-only to ${n}, kept connections #${i}`,
            ["deploy", b.artifact, "--target", "fleet-kept", "--hosts", group.map((h) => h.dest).join(","), "--batch", "25%"],
            group,
          )
        ).fig;
        await expectBuild(group, id);
        out.push(d);
        log(`[B] code-only ${id} to ${n} hosts over kept connections: ${S(d.seconds)}; deployer CPU ${S(d.deployer_cpu_s)}`);
      }
    }
    const keptDir = join(f.ws.cache, "ssh");
    for (const sock of existsSync(keptDir) ? await readdir(keptDir) : [])
      await runProcess(["ssh", "-o", `ControlPath=${join(keptDir, sock)}`, "-O", "exit", "x"]);
    return {
      b1,
      first_deploy: first,
      three: r3,
      twelve: r12,
      kept_three: k3,
      kept_twelve: k12,
      three_median_s: median(quietRuns(r3).map((r) => r.seconds)),
      twelve_median_s: median(quietRuns(r12).map((r) => r.seconds)),
    };
  } finally {
    await f.stop();
    log(`[fleet B] stopped`);
  }
}

// --- main ----------------------------------------------------------------------------------

function stepNames(figs: CommandFigures[]): string[] {
  const seen = new Set(figs.flatMap((f) => f.hosts.flatMap((h) => Object.keys(h.steps_ms))));
  return [...STEP_ORDER.filter((s) => seen.has(s)), ...[...seen].filter((s) => !STEP_ORDER.includes(s))];
}

function stepTable(fig: CommandFigures): string {
  const names = stepNames([fig]);
  return table([
    ["host", ...names, "sum excl. restart", "sum", "span", "wall"],
    ...fig.hosts.map((h) => [
      h.host,
      ...names.map((s) => (h.steps_ms[s] === undefined ? "-" : String(h.steps_ms[s]))),
      String(h.overhead_ms),
      String(h.own_ms),
      String(h.span_ms),
      String(Math.round(fig.seconds * 1000)),
    ]),
  ]);
}

async function main(): Promise<void> {
  if (!existsSync(CLI)) throw new Error(`${CLI} does not exist: run \`npm run build\` first`);
  if (process.getuid?.() !== 0) throw new Error("the deploy bench needs root (network and mount namespaces for the fleet)");
  const started = new Date();
  const t0 = performance.now();
  const work = await tmpDir("slipway-bench-deploy");
  log(`slipway deploy benchmark — ${os.cpus().length} cores, node ${process.version}, ${PYTHON}; ${A_REPS} code-only runs, ${SCALE_REPS} scale runs per size`);
  log(`temp dir ${work}`);

  const A = await fleetA(work);
  const Bf = await fleetB();

  // ---- figures ----
  const a = A.code_only.median;
  const perHostA = A.hosts.map((_, i) => {
    const sw = a.hosts[i]!;
    const cl = A.classic.code_only.hosts[i]!;
    return { host: sw.host, slipway_own_s: sw.own_ms / 1000, slipway_span_s: sw.span_ms / 1000, classic_s: cl.seconds, ratio: cl.seconds / (sw.own_ms / 1000) };
  });
  const warmPerHost = A.warm.median.hosts.map((sw, i) => {
    const cl = A.classic.code_only.hosts[i]!;
    return { host: sw.host, slipway_own_s: sw.own_ms / 1000, classic_s: cl.seconds, ratio: cl.seconds / (sw.own_ms / 1000) };
  });
  const perHostRatio = (sw: CommandFigures, cl: ClassicRun) => sw.hosts.map((h, i) => cl.hosts[i]!.seconds / (h.own_ms / 1000));
  const cases = [
    { name: "(a) code-only", sw: a, cl: A.classic.code_only },
    { name: "(b) new venv", sw: A.new_venv.run, cl: A.classic.new_venv },
    { name: "(c) rollback", sw: A.rollback.run, cl: A.classic.rollback },
  ];
  const ratios = Object.fromEntries(
    cases.map((c) => [
      c.name,
      {
        per_host_min: Math.min(...perHostRatio(c.sw, c.cl)),
        per_host_mean: mean(c.cl.hosts.map((h) => h.seconds)) / mean(c.sw.hosts.map((h) => h.own_ms / 1000)),
        per_host_classic_over_slipway_wall: mean(c.cl.hosts.map((h) => h.seconds)) / c.sw.seconds,
        total: c.cl.total_s / c.sw.seconds,
      },
    ]),
  );
  const aBuild = A.code_only.builds[A.code_only.runs.indexOf(a)]!;
  const codeLimit = aBuild.code_layer_bytes * (1 + TARGETS.codeBytesSlack);
  const aAllRuns = A.code_only.runs;
  const maxSent = Math.max(...aAllRuns.flatMap((r) => r.hosts.map((h) => h.bytes_sent ?? Infinity)));
  const maxSentOver = Math.max(...aAllRuns.flatMap((r, i) => r.hosts.map((h) => (h.bytes_sent ?? Infinity) / A.code_only.builds[i]!.code_layer_bytes)));
  const maxRxOver = Math.max(...aAllRuns.flatMap((r, i) => r.hosts.map((h) => h.rx_bytes / A.code_only.builds[i]!.code_layer_bytes)));
  const overheads = a.hosts.map((h) => h.overhead_ms);
  const overheadMedianPerHost = A.hosts.map((_, i) => median(aAllRuns.map((r) => r.hosts[i]!.overhead_ms)));
  const scaleRatio = Bf.twelve_median_s / Bf.three_median_s;
  const pass = {
    code_only_speedup_per_host: Math.min(...perHostA.map((p) => p.ratio)) >= TARGETS.codeOnlySpeedupPerHost,
    code_only_bytes_sent: maxSentOver <= 1 + TARGETS.codeBytesSlack,
    code_only_bytes_on_wire: maxRxOver <= 1 + TARGETS.codeBytesSlack,
    host_overhead: Math.max(...overheads) <= TARGETS.hostOverheadMs,
    scale_12_over_3: scaleRatio <= TARGETS.scale12over3,
  };

  // ---- print ----
  log(`\n== results: fleet A (${FLEET_A} hosts), seconds ==`);
  log(
    `slipway "wall" = the CLI process (node start, local verify, all hosts in parallel); "per host" = the sum of that host's step durations (--json events: ssh handshake, restart and all), "span" = its first step start → last step done (includes waiting for other batches).`,
  );
  log(
    `classic "per host" = that host's 6 ssh steps; "total" = the loop over hosts, one after another. (a) = the median of the ${A_REPS} runs (of those started on a quiet machine).\n`,
  );
  log(
    table([
      [
        "case",
        "slipway wall",
        "slipway per host (mean)",
        "span (mean)",
        "classic per host (mean)",
        "classic total",
        "per-host ratio (mean)",
        "per-host ratio (worst host)",
        "total ratio",
      ],
      ...cases.map((c) => {
        const r = ratios[c.name]!;
        return [
          c.name,
          S(c.sw.seconds),
          S(mean(c.sw.hosts.map((h) => h.own_ms / 1000))),
          S(mean(c.sw.hosts.map((h) => h.span_ms / 1000))),
          S(mean(c.cl.hosts.map((h) => h.seconds))),
          S(c.cl.total_s),
          X(r.per_host_mean),
          X(r.per_host_min),
          X(r.total),
        ];
      }),
    ]),
  );
  log(
    `\n(a) all runs: ${aAllRuns.map((r) => `${r.build_id} ${S(r.seconds)} (cpu busy ${pct(r.cpu_busy)}, before ${pct(r.baseline_busy)})`).join(", ")} — ${aAllRuns[0]!.build_id} is the first code-only deploy onto b1`,
  );
  log(
    `(b) cpu busy ${pct(A.new_venv.run.cpu_busy)}; (c) cpu busy ${pct(A.rollback.run.cpu_busy)}; first deploy (b1 + venv): ${S(A.first_deploy.seconds)}; classic first release, hosts in parallel (setup): ${S(A.classic.first.total_s)}`,
  );

  log(`\nclassic per-host steps (ms):\n`);
  log(
    table([
      ["run", "host", ...CLASSIC_STEPS, "total", "busy before"],
      ...[A.classic.code_only, A.classic.new_venv].flatMap((c) =>
        c.hosts.map((h) => [
          c.label,
          h.host,
          ...CLASSIC_STEPS.map((s) => String(h.steps_ms[s] ?? "-")),
          String(Math.round(h.seconds * 1000)),
          pct(h.baseline_busy),
        ]),
      ),
      ...A.classic.rollback.hosts.map((h) => [
        A.classic.rollback.label,
        h.host,
        "-",
        "-",
        "-",
        "-",
        "-",
        "-",
        String(Math.round(h.seconds * 1000)),
        pct(h.baseline_busy),
      ]),
    ]),
  );

  log(`\n== bytes per host ==`);
  log(
    `code layer ${aBuild.code_layer_bytes} B (a, median run), venv layer ${A.new_venv.build.venv_layer_bytes} B (b); classic tarball ${A.classic.code_only.tarball_bytes} B\n`,
  );
  log(
    table([
      ["case", "host", "slipway bytes_sent", "slipway rx delta", "rx / code layer", "classic rx delta"],
      ...cases.flatMap((c) =>
        c.sw.hosts.map((h, i) => {
          const layer = c === cases[1] ? A.new_venv.build.code_layer_bytes + A.new_venv.build.venv_layer_bytes : aBuild.code_layer_bytes;
          return [
            c.name,
            h.host,
            h.bytes_sent === undefined ? "- (none reported)" : `${h.bytes_sent} (${B(h.bytes_sent)})`,
            `${h.rx_bytes} (${B(h.rx_bytes)})`,
            c === cases[2] ? "-" : X(h.rx_bytes / layer),
            `${c.cl.hosts[i]!.rx_bytes} (${B(c.cl.hosts[i]!.rx_bytes)})`,
          ];
        }),
      ),
    ]),
  );
  log(`(for (b) "rx / code layer" is against code + venv layer)`);

  log(`\n== host steps of the code-only deploy (median run, ms, from "host" events) ==\n`);
  log(stepTable(a));
  log(
    `\nhost-side overhead (sum of steps except restart) per host, median over the ${A_REPS} runs: ${A.hosts.map((_, i) => `${a.hosts[i]!.host}=${overheadMedianPerHost[i]} ms`).join(", ")}`,
  );
  log(`\n(b) new venv, host steps (ms):\n`);
  log(stepTable(A.new_venv.run));
  log(`\n(c) rollback, host steps (ms):\n`);
  log(stepTable(A.rollback.run));

  log(`\n== ssh invocations of one code-only deploy (${A.round_trips.build.build_id}, through a logging ssh shim; wall ${A.round_trips.wall_ms} ms) ==\n`);
  const kinds = [...new Set(Object.values(A.round_trips.per_host).flatMap((p) => Object.keys(p.by_kind)))];
  const hostNames = Object.keys(A.round_trips.per_host);
  log(
    table([
      ["remote command", ...hostNames.map((h) => `${h} n`), ...hostNames.map((h) => `${h} ms`)],
      ...kinds.map((k) => [
        k,
        ...hostNames.map((h) => String(A.round_trips.per_host[h]!.by_kind[k]?.n ?? 0)),
        ...hostNames.map((h) => String(A.round_trips.per_host[h]!.by_kind[k]?.ms ?? 0)),
      ]),
      [
        "(ssh commands, excl. close)",
        ...hostNames.map((h) => String(A.round_trips.per_host[h]!.calls)),
        ...hostNames.map((h) => String(A.round_trips.per_host[h]!.ms)),
      ],
    ]),
  );
  const firstDest = a.hosts[0]!.dest;
  const firstHost = A.round_trips.calls.filter((c) => c.dest === firstDest || `root@${c.dest}` === firstDest).sort((x, y) => x.start - y.start);
  if (firstHost.length) {
    const base = firstHost[0]!.start;
    log(`\ntimeline of ${a.hosts[0]!.host}'s ssh commands (ms from its first one: start +duration):`);
    log("  " + firstHost.map((c) => `${Math.round(c.start - base)} ${c.what} +${c.ms}`).join("\n  "));
  }

  const rtHosts = Object.entries(A.round_trips.per_host);
  log(
    `\nnot inside any host step event: the close (ssh -O exit) ${rtHosts.map(([h, p]) => `${h} ${p.by_kind["close (ssh -O exit)"]?.ms ?? 0} ms`).join(", ")}; the first command (preflight) opens each host's connection.`,
  );

  log(`\n== fleet B (${FLEET_B} hosts): code-only deploy, --batch 25% ==\n`);
  log(
    table([
      ["hosts", "runs (wall)", "median (quiet runs)", "batches", "busy before", "cpu busy", "host span (mean)", "deployer CPU", "machine CPU"],
      [
        "3 (--hosts h1,h2,h3)",
        Bf.three.map((r) => S(r.seconds)).join(", "),
        S(Bf.three_median_s),
        String((Bf.three[0]!.plan?.["batches"] as unknown[] | undefined)?.length ?? "?"),
        Bf.three.map((r) => pct(r.baseline_busy)).join(", "),
        Bf.three.map((r) => pct(r.cpu_busy)).join(", "),
        Bf.three.map((r) => S(mean(r.hosts.map((h) => h.span_ms)) / 1000)).join(", "),
        Bf.three.map((r) => S(r.deployer_cpu_s)).join(", "),
        Bf.three.map((r) => S(r.machine_cpu_s)).join(", "),
      ],
      [
        "12",
        Bf.twelve.map((r) => S(r.seconds)).join(", "),
        S(Bf.twelve_median_s),
        String((Bf.twelve[0]!.plan?.["batches"] as unknown[] | undefined)?.length ?? "?"),
        Bf.twelve.map((r) => pct(r.baseline_busy)).join(", "),
        Bf.twelve.map((r) => pct(r.cpu_busy)).join(", "),
        Bf.twelve.map((r) => S(mean(r.hosts.map((h) => h.span_ms)) / 1000)).join(", "),
        Bf.twelve.map((r) => S(r.deployer_cpu_s)).join(", "),
        Bf.twelve.map((r) => S(r.machine_cpu_s)).join(", "),
      ],
    ]),
  );
  const perHostCpu = (runs: CommandFigures[], n: number) => ({
    deployer: mean(runs.map((r) => r.deployer_cpu_s)) / n,
    hosts: mean(runs.map((r) => r.machine_cpu_s - r.deployer_cpu_s)) / n,
  });
  const cpu3 = perHostCpu(Bf.three, 3);
  const cpu12 = perHostCpu(Bf.twelve, FLEET_B);
  // Issue 13, target 4: the slope of the deployer's CPU between 3 and 12 hosts, code-only.
  const slope = (r3: CommandFigures[], r12: CommandFigures[]) =>
    (mean(r12.map((r) => r.deployer_cpu_s)) - mean(r3.map((r) => r.deployer_cpu_s))) / (FLEET_B - 3);
  const slopeCold = slope(Bf.three, Bf.twelve);
  const slopeKept = Bf.kept_three.length && Bf.kept_twelve.length ? slope(Bf.kept_three, Bf.kept_twelve) : Number.NaN;
  log(
    `\n${slopeCold <= 0.04 ? "PASS" : "FAIL"}  deployer CPU per host (slope 3 -> ${FLEET_B} hosts), new connections: ${(slopeCold * 1000).toFixed(1)} ms  (target <= 40 ms; the key exchange is in it)`,
  );
  log(
    `${slopeKept <= 0.04 ? "PASS" : "FAIL"}  deployer CPU per host (slope 3 -> ${FLEET_B} hosts), kept connections (ssh.persist): ${(slopeKept * 1000).toFixed(1)} ms  (target <= 40 ms); runs ${Bf.kept_three.map((r) => S(r.deployer_cpu_s)).join(", ")} (3) / ${Bf.kept_twelve.map((r) => S(r.deployer_cpu_s)).join(", ")} (${FLEET_B})`,
  );
  log(
    `\nCPU per host and deploy (mean): deployer ${S(cpu3.deployer)} (3 hosts) / ${S(cpu12.deployer)} (12); everything else — the hosts' sshd, sh, tar, the restart, the app — ${S(cpu3.hosts)} / ${S(cpu12.hosts)}.`,
  );
  log(
    `The 12 hosts' own work alone is ${S(cpu12.hosts * FLEET_B)} of CPU, ${S((cpu12.hosts * FLEET_B) / os.cpus().length)} on this machine's ${os.cpus().length} cores, which real hosts would each do on their own CPU.`,
  );
  const stepMeans = (runs: CommandFigures[]) =>
    Object.fromEntries(
      stepNames([...Bf.three, ...Bf.twelve])
        .map((st) => [st, Math.round(mean(runs.flatMap((r) => r.hosts.map((h) => h.steps_ms[st]).filter((v): v is number => v !== undefined))))])
        .filter(([, v]) => !Number.isNaN(v)),
    );
  const m3 = stepMeans(Bf.three);
  const m12 = stepMeans(Bf.twelve);
  log(`\nmean ms per host step, 3 vs 12 hosts:\n`);
  log(
    table([
      ["", ...Object.keys(m12)],
      ["3 hosts", ...Object.keys(m12).map((k) => String(m3[k] ?? "-"))],
      ["12 hosts", ...Object.keys(m12).map((k) => String(m12[k] ?? "-"))],
    ]),
  );
  log(`12 / 3 = ${X(scaleRatio)}; first deploy of b1 (venv) to 12 hosts: ${S(Bf.first_deploy.seconds)}`);
  const lastTwelve = Bf.twelve[Bf.twelve.length - 1]!;
  log(`last 12-host run, timings_ms ${JSON.stringify(lastTwelve.timings_ms)}; host spans ${lastTwelve.hosts.map((h) => h.span_ms).join("/")} ms`);

  const verdict = (ok: boolean) => (ok ? "PASS" : "FAIL");
  log(`\n== targets ==\n`);
  log(
    `${verdict(pass.code_only_speedup_per_host)}  code-only deploy per host: classic / slipway = ${perHostA.map((p) => `${p.host} ${p.classic_s.toFixed(2)}s/${p.slipway_own_s.toFixed(3)}s=${X(p.ratio)}`).join(", ")}  (worst host; target >= ${TARGETS.codeOnlySpeedupPerHost}x)`,
  );
  log(
    `info  the same with a persistent ssh connection (a2, median run): ${warmPerHost.map((p) => `${p.host} ${p.slipway_own_s.toFixed(3)}s=${X(p.ratio)}`).join(", ")}; host overhead ${A.warm.median.hosts.map((h) => `${h.host} ${h.overhead_ms} ms`).join(", ")}`,
  );
  log(
    `info  one host alone, the whole CLI (a1, median of ${A.single_host.runs.length}): ${S(A.single_host.median.seconds)} wall vs classic h1 ${S(A.classic.code_only.hosts[0]!.seconds)} = ${X(A.classic.code_only.hosts[0]!.seconds / A.single_host.median.seconds)}`,
  );
  log(
    `info  fleet, amortised: 12 hosts in ${S(Bf.twelve_median_s)} = ${S(Bf.twelve_median_s / FLEET_B)} a host vs classic ${S(mean(A.classic.code_only.hosts.map((h) => h.seconds)))} a host (host after host) = ${X(mean(A.classic.code_only.hosts.map((h) => h.seconds)) / (Bf.twelve_median_s / FLEET_B))}`,
  );
  log(
    `info  code-only, classic per host (mean) / slipway CLI wall = ${X(ratios["(a) code-only"]!.per_host_classic_over_slipway_wall)}; classic total / slipway wall = ${X(ratios["(a) code-only"]!.total)}`,
  );
  log(
    `${verdict(pass.code_only_bytes_sent)}  code-only bytes_sent (slipway's result) max ${maxSent} B = ${(maxSentOver * 100).toFixed(1)}% of the code layer  (all ${A_REPS} runs, every host; target <= ${(100 + TARGETS.codeBytesSlack * 100).toFixed(0)}%, i.e. <= ${Math.floor(codeLimit)} B for the median run)`,
  );
  log(
    `${verdict(pass.code_only_bytes_on_wire)}  code-only bytes received on the host's interface max ${(maxRxOver * 100).toFixed(1)}% of the code layer  (rx delta incl. ssh/TCP overhead; same target)`,
  );
  log(
    `${verdict(pass.host_overhead)}  host-side overhead of a code-only deploy (sum of host steps except restart, median run): ${a.hosts.map((h) => `${h.host} ${h.overhead_ms} ms`).join(", ")}  (every host; target <= ${TARGETS.hostOverheadMs} ms)`,
  );
  log(
    `info  the same without the "connect" step (the ssh handshake, reported on its own): ${a.hosts.map((h) => `${h.host} ${h.overhead_ms - (h.steps_ms["connect"] ?? 0)} ms (connect ${h.steps_ms["connect"] ?? 0})`).join(", ")}`,
  );
  log(
    `info  the hosts' shell start-up inside "connect" (the deploy user's rc files, the host's cost): ${describeStartups(a.hosts.flatMap((h) => (h.shell_startup_ms === undefined ? [] : [h.shell_startup_ms])))}`,
  );
  log(
    `${verdict(pass.scale_12_over_3)}  12 hosts vs 3, batch 25%: ${S(Bf.twelve_median_s)} / ${S(Bf.three_median_s)} = ${X(scaleRatio)}  (target <= ${TARGETS.scale12over3}x)`,
  );

  const totalS = (performance.now() - t0) / 1000;
  const stamp = started
    .toISOString()
    .replace(/\.\d+Z$/, "Z")
    .replace(/:/g, "-");
  const file = join(RESULTS_DIR, `deploy-${stamp}.json`);
  const figures = {
    bench: "deploy",
    started_at: started.toISOString(),
    total_s: totalS,
    commit: await gitCommit(),
    dist_sha256: await distDigest(),
    warnings: noisy,
    machine: {
      cpus: os.cpus().length,
      cpu_model: os.cpus()[0]?.model ?? null,
      node: process.version,
      python: PYTHON,
      platform: `${os.platform()} ${os.release()}`,
    },
    params: { fleet_a_hosts: FLEET_A, fleet_b_hosts: FLEET_B, code_only_runs: A_REPS, scale_runs: SCALE_REPS },
    fleet_a: A,
    fleet_b: Bf,
    summary: {
      seconds: Object.fromEntries(
        cases.map((c) => [
          c.name,
          {
            slipway_wall_s: c.sw.seconds,
            slipway_per_host_s: c.sw.hosts.map((h) => h.own_ms / 1000),
            slipway_span_s: c.sw.hosts.map((h) => h.span_ms / 1000),
            classic_per_host_s: c.cl.hosts.map((h) => h.seconds),
            classic_total_s: c.cl.total_s,
          },
        ]),
      ),
      ratios,
      code_only_per_host: perHostA,
      bytes: Object.fromEntries(
        cases.map((c) => [
          c.name,
          c.sw.hosts.map((h, i) => ({ host: h.host, slipway_bytes_sent: h.bytes_sent ?? null, slipway_rx: h.rx_bytes, classic_rx: c.cl.hosts[i]!.rx_bytes })),
        ]),
      ),
      code_layer_bytes: aBuild.code_layer_bytes,
      host_overhead_ms: Object.fromEntries(a.hosts.map((h) => [h.host, h.overhead_ms])),
      host_overhead_median_ms: Object.fromEntries(a.hosts.map((h, i) => [h.host, overheadMedianPerHost[i]])),
      host_overhead_without_connect_ms: Object.fromEntries(a.hosts.map((h) => [h.host, h.overhead_ms - (h.steps_ms["connect"] ?? 0)])),
      ssh_commands_per_host: Object.fromEntries(Object.entries(A.round_trips.per_host).map(([h, p]) => [h, p.calls])),
      scale: {
        three_s: Bf.three_median_s,
        twelve_s: Bf.twelve_median_s,
        ratio: scaleRatio,
        cpu_per_host: { three: cpu3, twelve: cpu12 },
        deployer_cpu_slope_s: { cold: slopeCold, kept: slopeKept },
        kept_deployer_cpu_s: { three: Bf.kept_three.map((r) => r.deployer_cpu_s), twelve: Bf.kept_twelve.map((r) => r.deployer_cpu_s) },
      },
      single_host_wall_s: A.single_host.median.seconds,
      warm_per_host: warmPerHost,
    },
    targets: {
      code_only_speedup_per_host: {
        min: TARGETS.codeOnlySpeedupPerHost,
        value: Math.min(...perHostA.map((p) => p.ratio)),
        pass: pass.code_only_speedup_per_host,
      },
      code_only_bytes_sent: { max_fraction_of_code_layer: 1 + TARGETS.codeBytesSlack, value: maxSentOver, pass: pass.code_only_bytes_sent },
      code_only_bytes_on_wire: { max_fraction_of_code_layer: 1 + TARGETS.codeBytesSlack, value: maxRxOver, pass: pass.code_only_bytes_on_wire },
      host_overhead_ms: { max: TARGETS.hostOverheadMs, value: Math.max(...overheads), pass: pass.host_overhead },
      scale_12_over_3: { max: TARGETS.scale12over3, value: scaleRatio, pass: pass.scale_12_over_3 },
    },
  };
  await mkdir(RESULTS_DIR, { recursive: true });
  await writeFile(file, JSON.stringify(figures, null, 2) + "\n");
  for (const w of noisy) log(`WARN  ${w}`);
  log(`\nfigures written to ${file}`);
  log(`total bench time ${S(totalS)}`);
}

runBench(main);
