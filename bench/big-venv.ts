// Big-venv benchmark (issue 13, targets 5 and 6): a >= 500 MB venv made of realistic content
// (test/support/realistic-wheels.ts: this machine's .py, .so and .pyc files, not random bytes).
//
//   npm run bench:big-venv        (= npm run build && tsx bench/big-venv.ts; needs root)
//
// In one run:
//  (a) slipway cold build of the app (--json phase events; /usr/bin/time for peak RSS), then
//      BENCH_REPS-1 builds that only redo the venv layer (its cache file removed, the venv kept):
//      the venv-layer phase against `tar -cf - DIR | zstd -T0 -3 >/dev/null` and `zstd -T0 -3`
//      on the same tar file, BENCH_REPS each;
//  (b) zstd levels 3, 9, 19 and 3 --long=27 on that tar: compress time (-T0), size, decompress
//      time (`zstd -d -c >/dev/null`, what a host runs), on the whole tar and on its first
//      100 MiB; -19 on the whole tar only if the prefix says it takes <= 3 minutes;
//  (c) a new-venv deploy to one namespace host (test/support/fleet-app.ts), BENCH_REPS times (the
//      host's venvs removed between runs): the "venv" step, split into streaming (step start to
//      the last transfer event) and the rest (sha256, unpack, checks), against
//      `ssh host 'cat >/dev/null' < layer` with the same ssh options (minus the handshake,
//      measured by `ssh host true`); while it runs, the deployer's temp dir (its TMPDIR) and the
//      host's incoming dir are polled for copies of the layer;
//  (d) the deployer's peak RSS (/usr/bin/time %M) for each build and deploy. Deploys run with an
//      empty SLIPWAY_CACHE_DIR, as on a deployer that did not build the artifact: its verify
//      decompresses and checks every entry of the venv layer.
// Prints a table and PASS/FAIL per target, writes bench/results/big-venv-<date>.json, exits 0
// either way (1 only if the bench itself broke). Temp data goes under /tmp and is removed.
import { existsSync } from "node:fs";
import { appendFile, mkdir, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import os from "node:os";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { PYTHON } from "../test/support/env.js";
import { fleetApp, type FleetApp } from "../test/support/fleet-app.js";
import { makeRealisticWheels } from "../test/support/realistic-wheels.js";
import { tmpDir } from "../test/support/tmp.js";
import { must, runProcess, type Ran } from "./process.js";
import { runBench } from "./run.js";
import { median } from "./figures.js";
import { describeStartups, shellStartups } from "./shell-startup.js";

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const CLI = join(REPO, "dist", "cli.js");
const RESULTS_DIR = join(REPO, "bench", "results");
const REPS = Math.max(1, Number(process.env["BENCH_REPS"] ?? 3) || 3);
/** Payload of the synthetic wheels: with pip, setuptools and the app's own the venv is ~5 % more. */
const WHEEL_MIB = Number(process.env["BENCH_BIG_MIB"] ?? 540) || 540;
const WHEELS = 8;
const VENV_MIN_BYTES = 500_000_000;
const PREFIX_BYTES = 100 * 1024 * 1024;
const L19_FULL_MAX_S = 180;
const TARGETS = { compressVsZstd: 0.8, streamVsSsh: 0.8, peakRssMb: 150 };
const LEVELS: { name: string; args: string[] }[] = [
  { name: "3", args: ["-3"] },
  { name: "9", args: ["-9"] },
  { name: "19", args: ["-19"] },
  { name: "3 --long", args: ["-3", "--long=27"] },
];

type Json = Record<string, unknown>;

/** o[k1][k2]…, or undefined where a step is not an object. */
function dig(o: unknown, ...keys: string[]): unknown {
  for (const k of keys) o = o !== null && typeof o === "object" ? (o as Json)[k] : undefined;
  return o;
}

// --- small helpers ---------------------------------------------------------------------------

const range = (xs: number[]) => ({ median: median(xs), min: Math.min(...xs), max: Math.max(...xs), runs: xs });
type Range = ReturnType<typeof range>;
const S = (s: number) => `${s.toFixed(2)} s`;
const MB = (b: number) => `${(b / 1e6).toFixed(1)} MB`;
const R = (r: Range, f = S) => `${f(r.median)} (${f(r.min)}–${f(r.max)})`;
const X = (r: number) => `${r.toFixed(2)}x`;
const P = (r: number) => `${(r * 100).toFixed(0)} %`;

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? "").length)));
  const line = (r: string[]) => r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join("  ");
  return [line(rows[0]!), widths.map((w) => "-".repeat(w)).join("  "), ...rows.slice(1).map(line)].join("\n");
}

const log = (msg: string) => console.log(msg);
const sh = (script: string, opts: Parameters<typeof runProcess>[1] = {}) => must(["sh", "-c", script], opts);
const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

async function duBytes(path: string): Promise<number> {
  return Number((await must(["du", "-sb", path])).stdout.split(/\s/)[0]);
}

/** Bytes of regular files under dir (0 if it is gone); the largest one too. Never throws. */
async function filesUnder(dir: string): Promise<{ total: number; largest: number; names: string[] }> {
  const out = { total: 0, largest: 0, names: [] as string[] };
  const walk = async (d: string): Promise<void> => {
    const entries = await readdir(d, { withFileTypes: true }).catch(() => []);
    for (const e of entries) {
      const p = join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else if (e.isFile()) {
        const size = (await stat(p).catch(() => undefined))?.size ?? 0;
        out.total += size;
        out.largest = Math.max(out.largest, size);
        out.names.push(relative(dir, p));
      }
    }
  };
  await walk(dir);
  return out;
}

/** Poll dirs every 100 ms while `body` runs: the most bytes seen in each, and the largest file. */
async function watching<T>(
  dirs: Record<string, string>,
  body: () => Promise<T>,
): Promise<{ result: T; seen: Record<string, { max_total: number; max_file: number; files: string[] }> }> {
  const seen: Record<string, { max_total: number; max_file: number; files: string[] }> = {};
  for (const k of Object.keys(dirs)) seen[k] = { max_total: 0, max_file: 0, files: [] };
  let done = false;
  const poll = (async () => {
    while (!done) {
      for (const [k, d] of Object.entries(dirs)) {
        const f = await filesUnder(d);
        const s = seen[k]!;
        s.max_total = Math.max(s.max_total, f.total);
        s.max_file = Math.max(s.max_file, f.largest);
        for (const n of f.names) if (!s.files.includes(n) && s.files.length < 20) s.files.push(n);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  try {
    return { result: await body(), seen };
  } finally {
    done = true;
    await poll;
  }
}

/** Run argv under /usr/bin/time: its wall time, peak RSS (the largest process of the tree) and CPU. */
async function timedRun(
  argv: string[],
  opts: Parameters<typeof runProcess>[1],
  timeFile: string,
): Promise<Ran & { rss_mb: number; cpu_s: number; cpu_pct: number }> {
  const r = await runProcess(["/usr/bin/time", "-o", timeFile, "-f", "%M %e %U %S", ...argv], opts);
  const [rssKb, wall, user, sys] = (await readFile(timeFile, "utf8").catch(() => "")).trim().split("\n").pop()!.split(" ").map(Number);
  const cpu = (user ?? NaN) + (sys ?? NaN);
  return { ...r, rss_mb: (rssKb ?? NaN) / 1024, cpu_s: cpu, cpu_pct: cpu / (wall || r.seconds) };
}

// --- slipway through the CLI -------------------------------------------------------------------

interface CliRun {
  seconds: number;
  rss_mb: number;
  cpu_s: number;
  cpu_pct: number;
  events: (Json & { t: number })[];
  result: Json;
}

let rebuilt = false;
async function cli(f: FleetApp, args: string[], timeFile: string, env: Record<string, string> = {}): Promise<CliRun> {
  for (;;) {
    const r = await timedRun([process.execPath, CLI, ...args, "--json"], { cwd: f.ws.app, env: { ...f.ws.env, ...env } }, timeFile);
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
    if (r.code === 0 && result?.["ok"]) return { seconds: r.seconds, rss_mb: r.rss_mb, cpu_s: r.cpu_s, cpu_pct: r.cpu_pct, events, result };
    // Another engineer may be rebuilding dist/ while this runs: rebuild once and retry.
    if (!rebuilt && /Cannot find module|ERR_MODULE_NOT_FOUND|SyntaxError/.test(r.stderr)) {
      rebuilt = true;
      log("  ! dist/ looks broken (rebuilt by someone else?): npm run build, then retry");
      await must(["npm", "run", "build"], { cwd: REPO });
      continue;
    }
    const why = result?.["error"] ? JSON.stringify(result["error"]) : r.stderr.trim().slice(-2000) || `exit ${r.code}`;
    throw new Error(`slipway ${args.join(" ")} failed (exit ${r.code}): ${why}`);
  }
}

interface Build {
  build_id: string;
  artifact: string;
  seconds: number;
  rss_mb: number;
  cpu_pct: number;
  venv_key: string;
  venv_path: string;
  venv_cache: string;
  venv_layer_cache: string;
  venv_layer_bytes: number;
  venv_layer_unpacked: number;
  phases_ms: Record<string, number>;
}

async function build(f: FleetApp, id: string, timeFile: string): Promise<Build> {
  const r = await cli(f, ["build", "--build-id", id], timeFile);
  const res = r.result;
  const phases: Record<string, number> = {};
  for (const e of r.events)
    if (e["type"] === "phase" && e["status"] === "done") phases[String(e["phase"])] = (phases[String(e["phase"])] ?? 0) + Number(e["ms"]);
  return {
    build_id: String(res["build_id"]),
    artifact: String(res["artifact"]),
    seconds: r.seconds,
    rss_mb: r.rss_mb,
    cpu_pct: r.cpu_pct,
    venv_key: String(dig(res, "venv", "key")),
    venv_path: String(dig(res, "venv", "path")),
    venv_cache: String(dig(res, "venv", "cache")),
    venv_layer_cache: String(res["venv_layer_cache"]),
    venv_layer_bytes: Number(dig(res, "layers", "venv", "size")),
    venv_layer_unpacked: Number(dig(res, "layers", "venv", "unpacked_size")),
    phases_ms: phases,
  };
}

interface Deploy {
  build_id: string;
  seconds: number;
  rss_mb: number;
  cpu_s: number;
  venv_step_ms: number;
  /** "venv" step start → the last venv transfer event (all bytes written to ssh). */
  stream_ms: number;
  /** The last transfer event → the step's end: the host's sha256, unpack, checks, rename. */
  after_stream_ms: number;
  transfer_events: number;
  venv_bytes: number;
  verify_ms: number;
  shell_startup_ms?: number;
  steps_ms: Record<string, number>;
  temp: Record<string, { max_total: number; max_file: number; files: string[] }>;
}

function deployFigures(r: CliRun, id: string, temp: Deploy["temp"]): Deploy {
  const steps: Record<string, number> = {};
  for (const e of r.events) if (e["type"] === "host" && e["status"] === "done") steps[String(e["step"])] = (steps[String(e["step"])] ?? 0) + Number(e["ms"]);
  const start = r.events.find((e) => e["type"] === "host" && e["step"] === "venv" && e["status"] === "start");
  const done = r.events.find((e) => e["type"] === "host" && e["step"] === "venv" && e["status"] === "done");
  const transfers = r.events.filter((e) => e["type"] === "transfer" && e["layer"] === "venv");
  const last = transfers.at(-1);
  if (!start || !done || !last) throw new Error(`deploy ${id}: no venv step or transfer events: the host had the venv already?`);
  return {
    build_id: id,
    seconds: r.seconds,
    rss_mb: r.rss_mb,
    cpu_s: r.cpu_s,
    venv_step_ms: Number(done["ms"]),
    stream_ms: last.t - start.t,
    after_stream_ms: done.t - last.t,
    transfer_events: transfers.length,
    venv_bytes: Number(last["total"]),
    verify_ms: Number(dig(r.result, "timings_ms", "verify") ?? NaN),
    shell_startup_ms: shellStartups(r.events)[0],
    steps_ms: steps,
    temp,
  };
}

// --- diagnostics: where the venv-layer phase spends its time ------------------------------------

/**
 * The build's own packer without the compressor: walkTree (dist/build/tree.js) and tar-stream
 * entries fed exactly as src/artifact/layer-writer.ts feeds them (one file at a time, through a
 * default createReadStream), into a sink that drops the bytes. Prints JSON seconds.
 */
const JS_PACK_ONLY = `
import { createReadStream } from "node:fs";
import { Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import path from "node:path";
const [dir, repo] = process.argv.slice(1);
const tar = (await import(repo + "/node_modules/tar-stream/index.js")).default;
const { walkTree } = await import(repo + "/dist/build/tree.js");
let t = performance.now();
const entries = await walkTree(dir, () => false);
const walk_s = (performance.now() - t) / 1000;
t = performance.now();
const pack = tar.pack();
let bytes = 0, chunks = 0;
const sink = pipeline(pack, new Writable({ write(c, _e, cb) { bytes += c.length; chunks++; cb(); } }));
for (const e of entries) {
  await new Promise((resolve, reject) => {
    const header = { name: e.type === "directory" ? e.rel + "/" : e.rel, type: e.type, mode: e.mode, mtime: new Date(0), size: e.type === "file" ? e.size : 0, linkname: e.linkname ?? "" };
    const entry = pack.entry(header, (err) => (err ? reject(err) : resolve()));
    if (e.type !== "file") return entry.end();
    const src = createReadStream(path.join(dir, e.rel));
    src.on("error", reject);
    src.on("data", (c) => { if (!entry.write(c)) { src.pause(); entry.once("drain", () => src.resume()); } });
    src.on("end", () => entry.end());
  });
}
pack.finalize();
await sink;
console.log(JSON.stringify({ walk_s, pack_s: (performance.now() - t) / 1000, entries: entries.length, bytes, chunks }));
`;

/** How fast the deployer's side can read the venv layer out of the artifact (openMember, as a deploy sends it), into nothing. */
const JS_READ_MEMBER = `
const [artifact, repo] = process.argv.slice(1);
const { openMember } = await import(repo + "/dist/artifact/read.js");
const t = performance.now();
let bytes = 0, chunks = 0;
for await (const c of openMember(artifact, "venv.tar.zst")) { bytes += c.length; chunks++; }
console.log(JSON.stringify({ read_s: (performance.now() - t) / 1000, bytes, chunks }));
`;

/**
 * The venv layer out of the artifact (openMember) into `ssh host 'cat >/dev/null'`, either as
 * the shell session sends it (each chunk's write awaited before the next is read) or with
 * stream.pipe (writes queued, backpressure by highWaterMark). Prints JSON seconds (handshake in).
 */
const JS_SEND = `
const [artifact, repo, mode, ...ssh] = process.argv.slice(1);
const { openMember } = await import(repo + "/dist/artifact/read.js");
const { spawn } = await import("node:child_process");
const t = performance.now();
const child = spawn(ssh[0], ssh.slice(1), { stdio: ["pipe", "ignore", "inherit"] });
const closed = new Promise((r) => child.on("close", r));
const src = openMember(artifact, "venv.tar.zst");
if (mode === "pipe") src.pipe(child.stdin);
else {
  for await (const c of src) await new Promise((res, rej) => child.stdin.write(c, (e) => (e ? rej(e) : res())));
  child.stdin.end();
}
const code = await closed;
console.log(JSON.stringify({ send_s: (performance.now() - t) / 1000, code }));
`;

// --- main --------------------------------------------------------------------------------------

async function gitCommit(): Promise<string | null> {
  const r = await runProcess(["git", "rev-parse", "--short", "HEAD"], { cwd: REPO }).catch(() => undefined);
  if (r?.code !== 0) return null;
  const dirty = await runProcess(["git", "status", "--porcelain"], { cwd: REPO });
  return r.stdout.trim() + (dirty.stdout.trim() ? "-dirty" : "");
}

const loadavg = () =>
  os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(" ");

async function main(): Promise<void> {
  if (!existsSync(CLI)) throw new Error(`${CLI} does not exist: run \`npm run build\` first (or \`npm run bench:big-venv\`)`);
  if (process.getuid?.() !== 0) throw new Error("the big-venv bench needs root (network and mount namespaces for the fleet host)");
  const started = new Date();
  const t0 = performance.now();
  const work = await tmpDir("slipway-bench-big-venv");
  const free = Number((await sh(`df -B1 --output=avail ${q(work)} | tail -1`)).stdout.trim());
  const zstdVersion = (await must(["zstd", "--version"])).stdout.trim();
  const env = {
    cpus: os.cpus().length,
    cpu_model: os.cpus()[0]?.model ?? null,
    loadavg_start: loadavg(),
    node: process.version,
    python: PYTHON,
    zstd: zstdVersion,
    tmp_free_bytes: free,
  };
  log(`slipway big-venv benchmark — ${env.cpus} cores (${env.cpu_model}), load ${env.loadavg_start}, node ${env.node}, ${zstdVersion}`);
  log(`temp dir ${work} (${MB(free)} free); ${REPS} reps per measurement; wheels ${WHEEL_MIB} MiB in ${WHEELS}`);
  if (free < 6e9) log(`  ! less than 6 GB free under ${work}: the bench needs about 4 GB`);
  const timeFile = join(work, "time.txt");
  const warnings: string[] = [];
  const warn = (m: string) => {
    warnings.push(m);
    log(`  ! ${m}`);
  };

  // ---- the app: realistic wheels, one namespace host ----
  let tw = performance.now();
  const wheelsDir = join(work, "wheels");
  const names = await makeRealisticWheels(wheelsDir, WHEEL_MIB, WHEELS);
  log(`wheels: ${names.length} in ${S((performance.now() - tw) / 1000)}`);
  log("starting one namespace host (fleetApp)");
  const f = await fleetApp(1);
  const host = f.hosts[0]!;
  try {
    const toml = join(f.ws.app, "slipway.toml");
    // --no-compile: pip would spend minutes compiling the copies; the wheels carry .pyc of their own.
    const pipArgs = ["--no-index", "--find-links", f.ws.wheelhouse, "--find-links", wheelsDir, "--no-compile"];
    await writeFile(toml, (await readFile(toml, "utf8")).replace(/^pip_args\s*=.*$/m, `pip_args = ${JSON.stringify(pipArgs)}`));
    await appendFile(join(f.ws.app, "requirements.txt"), `\n${names.join("\n")}\n`);

    // ---- (a) builds ----
    log(`\n(a) cold build (pip install of ${WHEEL_MIB} MiB of wheels, then the venv layer) — load ${loadavg()}`);
    const builds: Build[] = [await build(f, "big-1", timeFile)];
    const b1 = builds[0]!;
    log(
      `  ${S(b1.seconds)} venv ${b1.venv_cache}, layer ${b1.venv_layer_cache}; venv-layer ${b1.phases_ms["venv-layer"]} ms, peak RSS ${b1.rss_mb.toFixed(0)} MB`,
    );
    if (b1.venv_cache !== "miss" || b1.venv_layer_cache !== "miss") warn(`the cold build was not cold: venv ${b1.venv_cache}, layer ${b1.venv_layer_cache}`);
    const venvBytes = await duBytes(b1.venv_path);
    const layerFile = join(f.ws.cache, "layers", `venv-${b1.venv_key}.tar.zst`);
    if (!existsSync(layerFile)) throw new Error(`no cached venv layer at ${layerFile}`);
    log(`  venv ${MB(venvBytes)} (du -sb), layer ${MB(b1.venv_layer_bytes)}: ${X(b1.venv_layer_unpacked / b1.venv_layer_bytes)} of its files' bytes`);
    // Each rep: slipway's venv-layer phase, then the baselines right after it, so they share the
    // machine's load of that moment (other work shares these cores); ratios are taken per rep.
    const tarFile = join(work, "venv.tar");
    tw = performance.now();
    await sh(`tar -cf ${q(tarFile)} -C ${q(b1.venv_path)} .`);
    const tarS = (performance.now() - tw) / 1000;
    const tarBytes = (await stat(tarFile)).size;
    const zstdPipe: number[] = [];
    const zstdPipeCpu: number[] = [];
    const zstdFile: number[] = [];
    const zstdFileCpu: number[] = [];
    const jsPack: { walk_s: number; pack_s: number; entries: number; bytes: number; chunks: number; cpu_pct: number }[] = [];
    for (let i = 1; i <= REPS; i++) {
      if (i > 1) {
        await rm(layerFile, { force: true });
        await rm(`${layerFile}.json`, { force: true });
        await must(["sync"]);
        const b = await build(f, `big-${i}`, timeFile);
        if (b.venv_cache !== "hit" || b.venv_layer_cache !== "miss")
          warn(`layer rebuild ${i}: venv ${b.venv_cache}, layer ${b.venv_layer_cache} (expected hit, miss)`);
        log(`  layer rebuild ${i}: ${S(b.seconds)} venv-layer ${b.phases_ms["venv-layer"]} ms, build CPU ${P(b.cpu_pct)}, peak RSS ${b.rss_mb.toFixed(0)} MB`);
        builds.push(b);
      }
      const pipe = await timedRun(["sh", "-c", `tar -cf - -C ${q(b1.venv_path)} . | zstd -q -T0 -3 -c >/dev/null`], {}, timeFile);
      zstdPipe.push(pipe.seconds);
      zstdPipeCpu.push(pipe.cpu_pct);
      const file = await timedRun(["sh", "-c", `zstd -q -T0 -3 -c ${q(tarFile)} >/dev/null`], {}, timeFile);
      zstdFile.push(file.seconds);
      zstdFileCpu.push(file.cpu_pct);
      const js = await timedRun([process.execPath, "--input-type=module", "-e", JS_PACK_ONLY, b1.venv_path, REPO], {}, timeFile);
      if (js.code !== 0) throw new Error(`the JS pack diagnostic failed: ${js.stderr.trim().slice(-1000)}`);
      jsPack.push({ ...(JSON.parse(js.stdout.trim().split("\n").pop()!) as Omit<(typeof jsPack)[number], "cpu_pct">), cpu_pct: js.cpu_pct });
      log(
        `  rep ${i}: venv-layer ${S((builds[i - 1]!.phases_ms["venv-layer"] ?? NaN) / 1000)}, tar | zstd ${S(pipe.seconds)}, zstd on the tar ${S(file.seconds)}, JS packer alone ${S(jsPack[i - 1]!.pack_s)} — load ${loadavg()}`,
      );
    }
    const layerPhase = range(builds.map((b) => (b.phases_ms["venv-layer"] ?? NaN) / 1000));
    const compress = {
      slipway_phase_s: layerPhase,
      per_rep_zstd_on_tar_over_phase: range(layerPhase.runs.map((ph, i) => zstdFile[i]! / ph)),
      per_rep_tar_pipe_over_phase: range(layerPhase.runs.map((ph, i) => zstdPipe[i]! / ph)),
      // The layer-only rebuilds (the cold build's CPU is mostly pip's).
      slipway_cpu_pct: range((builds.length > 1 ? builds.slice(1) : builds).map((b) => b.cpu_pct)),
      tar_pipe_zstd_s: range(zstdPipe),
      tar_pipe_zstd_cpu_pct: range(zstdPipeCpu),
      zstd_on_tar_s: range(zstdFile),
      zstd_on_tar_cpu_pct: range(zstdFileCpu),
      tar_file_s: tarS,
      tar_bytes: tarBytes,
      js_pack_only_s: range(jsPack.map((j) => j.pack_s)),
      js_walk_s: range(jsPack.map((j) => j.walk_s)),
      js_pack_cpu_pct: range(jsPack.map((j) => j.cpu_pct)),
      js_pack_entries: jsPack[0]!.entries,
      js_pack_chunks: jsPack[0]!.chunks,
    };
    log(`  venv-layer phase ${R(layerPhase)}; tar | zstd -T0 -3 ${R(compress.tar_pipe_zstd_s)}; zstd -T0 -3 on the tar ${R(compress.zstd_on_tar_s)}`);

    // ---- (b) levels ----
    log(`\n(b) zstd levels on the ${MB(tarBytes)} tar and on its first ${MB(PREFIX_BYTES)} — load ${loadavg()}`);
    const prefixFile = join(work, "prefix.tar");
    await sh(`head -c ${PREFIX_BYTES} ${q(tarFile)} > ${q(prefixFile)}`);
    const out = join(work, "level.zst");
    const measure = async (input: string, args: string[], reps: number) => {
      const c: number[] = [];
      const cpu: number[] = [];
      const d: number[] = [];
      const rss: number[] = [];
      let size = 0;
      for (let i = 0; i < reps; i++) {
        const p = await timedRun(["sh", "-c", `zstd -q -T0 ${args.join(" ")} -c ${q(input)} > ${q(out)}`], {}, timeFile);
        c.push(p.seconds);
        cpu.push(p.cpu_pct);
        size = (await stat(out)).size;
        const dec = await timedRun(["sh", "-c", `zstd -q -d -c ${q(out)} >/dev/null`], {}, timeFile);
        d.push(dec.seconds);
        rss.push(dec.rss_mb);
      }
      await rm(out, { force: true });
      const inBytes = (await stat(input)).size;
      return {
        bytes: size,
        ratio: inBytes / size,
        compress_s: range(c),
        cpu_pct: range(cpu),
        decompress_s: range(d),
        decompress_rss_mb: Math.max(...rss),
        reps,
      };
    };
    type LevelFig = Awaited<ReturnType<typeof measure>>;
    const prefix: Record<string, LevelFig> = {};
    const full: Record<string, LevelFig | null> = {};
    for (const l of LEVELS) {
      prefix[l.name] = await measure(prefixFile, l.args, l.name === "19" ? 1 : REPS);
      log(
        `  prefix  -${l.name}: ${MB(prefix[l.name]!.bytes)} (${X(prefix[l.name]!.ratio)}) in ${R(prefix[l.name]!.compress_s)}, decompress ${R(prefix[l.name]!.decompress_s)}`,
      );
    }
    const predicted19 = prefix["19"]!.compress_s.median * (tarBytes / PREFIX_BYTES);
    for (const l of LEVELS) {
      if (l.name === "19" && predicted19 > L19_FULL_MAX_S) {
        full[l.name] = null;
        log(`  full    -19: skipped — the prefix predicts ${S(predicted19)} (> ${L19_FULL_MAX_S} s); its figures are the prefix's`);
        continue;
      }
      full[l.name] = await measure(tarFile, l.args, l.name === "19" ? 1 : REPS);
      log(
        `  full    -${l.name}: ${MB(full[l.name]!.bytes)} (${X(full[l.name]!.ratio)}) in ${R(full[l.name]!.compress_s)}, decompress ${R(full[l.name]!.decompress_s)}`,
      );
    }
    await rm(prefixFile, { force: true });

    // ---- (c) deploys ----
    log(`\n(c) new-venv deploys to ${host.name} (${host.dest}) — load ${loadavg()}`);
    const remoteRoot = join(host.srv, relative("/srv", f.ws.root));
    // The host's venvs and every unpack of this section go to a tmpfs inside the host's mount
    // namespace (BENCH_HOST_DISK=1: its disk): the test bed's disk took 12-40 s, growing run after
    // run, to write this venv's 38,000 files, which measures the disk, not the stream.
    const onTmpfs = process.env["BENCH_HOST_DISK"] !== "1";
    const unpackDir = onTmpfs ? `${f.ws.root}/virtualenvs/.bench-unpack` : "/tmp/bench-unpack";
    if (onTmpfs) await host.exec(["sh", "-c", 'mkdir -p "$1" && mount -t tmpfs -o size=4g slw-bench "$1"', "sh", `${f.ws.root}/virtualenvs`]);
    log(`  the host's venvs and the unpacks below: ${onTmpfs ? "a tmpfs on the host (BENCH_HOST_DISK=1: its disk)" : "the host's disk"}`);
    const deployerTmp = join(work, "deployer-tmp");
    await mkdir(deployerTmp, { recursive: true });
    const deploys: Deploy[] = [];
    // Each rep: a deploy, then the raw ssh pipes for the same bytes right after it (same load).
    const sshBase = ["ssh", ...f.fleet.sshArgs(), "-o", "ServerAliveInterval=5", "-o", "ServerAliveCountMax=2", "-T", host.dest];
    const handshake: number[] = [];
    const rawNull: number[] = [];
    const rawFile: number[] = [];
    // The floor for a host that must unpack what it gets: ssh straight into `zstd -d | tar -x`.
    const rawUnpack: number[] = [];
    const jsSend = { await: [] as number[], pipe: [] as number[] };
    const sshLine = sshBase.map(q).join(" ");
    // The host's work after the last byte, piece by piece, on a copy received by ssh (what the
    // venv step's script runs), right after each deploy: is the host slower, or the step?
    const onHost = async (script: string) => {
      const t = performance.now();
      await host.exec(["sh", "-c", script]);
      return (performance.now() - t) / 1000;
    };
    const hostWorkOnce = async () => {
      await sh(`${sshLine} 'cat > /tmp/bench-layer' < ${q(layerFile)}`);
      return {
        sha256sum_s: await onHost("sha256sum /tmp/bench-layer >/dev/null"),
        // What the venv step runs where the host has openssl (host-check.ts sha256_in).
        openssl_sha256_s: await onHost("openssl dgst -sha256 -r < /tmp/bench-layer >/dev/null"),
        zstd_d_s: await onHost("zstd -q -d -c /tmp/bench-layer >/dev/null"),
        untar_s: await onHost(
          `rm -rf ${unpackDir} && mkdir ${unpackDir} && tar -x --use-compress-program=zstd -f /tmp/bench-layer --no-same-owner --no-same-permissions --no-overwrite-dir -C ${unpackDir}`,
        ),
        // check_tree's one walk (host-check.ts), on the unpacked tree.
        find_s: await onHost(
          `find ${unpackDir} \\( -type b -o -type c -o -type p -o -type s -o -type f -perm -4000 -o -type f -perm -2000 \\) -print -o -type l -exec realpath -m -- {} + >/dev/null`,
        ),
        rm_s: await onHost(`rm -rf ${unpackDir} /tmp/bench-layer`),
      };
    };
    const hostWorks: Awaited<ReturnType<typeof hostWorkOnce>>[] = [];
    for (const b of builds) {
      if (deploys.length) await host.exec(["sh", "-c", 'rm -rf "$1"/* "$1"/.[!.]*', "sh", `${f.ws.root}/virtualenvs`]);
      // Untimed: flush what earlier steps wrote (600+ MB each), so its writeback does not land in this one.
      await must(["sync"]);
      // The floor first, on the same host state the deploy then meets (measured after the
      // deploy, it ran 2-3x slower than the deploy's own unpack).
      rawUnpack.push(
        (
          await sh(
            `${sshLine} 'rm -rf ${unpackDir} && mkdir ${unpackDir} && tar -x --use-compress-program=zstd -f - --no-same-owner --no-same-permissions --no-overwrite-dir -C ${unpackDir}' < ${q(layerFile)}`,
          )
        ).seconds,
      );
      await onHost(`rm -rf ${unpackDir}`);
      const { result: r, seen } = await watching({ deployer: deployerTmp, host_incoming: join(remoteRoot, ".slipway", "incoming") }, () =>
        // An empty cache dir: a deployer that did not build the artifact (CI built it) checks every
        // entry of the new venv layer (verify), instead of re-hashing a layer its own build checked.
        cli(f, ["deploy", b.artifact, "--target", "fleet"], timeFile, { TMPDIR: deployerTmp, SLIPWAY_CACHE_DIR: join(work, `deployer-cache-${b.build_id}`) }),
      );
      const d = deployFigures(r, b.build_id, seen);
      deploys.push(d);
      handshake.push((await must([...sshBase, "true"])).seconds);
      // ssh reads the file itself (a shell redirection), as in `ssh host 'cat >/dev/null' < layer`.
      rawNull.push((await sh(`${sshLine} 'cat >/dev/null' < ${q(layerFile)}`)).seconds);
      rawFile.push((await sh(`${sshLine} 'cat > /tmp/bench-layer && rm -f /tmp/bench-layer' < ${q(layerFile)}`)).seconds);
      hostWorks.push(await hostWorkOnce());
      for (const mode of ["await", "pipe"] as const) {
        const r = await must([process.execPath, "--input-type=module", "-e", JS_SEND, b.artifact, REPO, mode, ...sshBase, "cat >/dev/null"]);
        jsSend[mode].push((JSON.parse(r.stdout.trim().split("\n").pop()!) as { send_s: number }).send_s);
      }
      log(
        `  ${b.build_id}: ${S(d.seconds)} venv step ${d.venv_step_ms} ms (stream ${d.stream_ms.toFixed(0)}, then ${d.after_stream_ms.toFixed(0)}), verify ${d.verify_ms} ms, peak RSS ${d.rss_mb.toFixed(0)} MB; ` +
          `largest file seen: deployer tmp ${MB(seen["deployer"]!.max_file)}, host incoming ${MB(seen["host_incoming"]!.max_file)}; ` +
          `ssh true ${S(handshake.at(-1)!)}, ssh cat >/dev/null ${S(rawNull.at(-1)!)}; on the host: sha256sum ${S(hostWorks.at(-1)!.sha256sum_s)}, openssl dgst ${S(hostWorks.at(-1)!.openssl_sha256_s)}, untar ${S(hostWorks.at(-1)!.untar_s)} — load ${loadavg()}`,
      );
    }
    const layerBytes = (await stat(layerFile)).size;
    const hs = median(handshake);
    const readMember: { read_s: number; bytes: number; chunks: number }[] = [];
    for (let i = 0; i < REPS; i++) {
      const r = await must([process.execPath, "--input-type=module", "-e", JS_READ_MEMBER, builds.at(-1)!.artifact, REPO]);
      readMember.push(JSON.parse(r.stdout.trim().split("\n").pop()!) as (typeof readMember)[number]);
    }
    const hostWork = {
      sha256sum_s: range(hostWorks.map((h) => h.sha256sum_s)),
      openssl_sha256_s: range(hostWorks.map((h) => h.openssl_sha256_s)),
      zstd_d_s: range(hostWorks.map((h) => h.zstd_d_s)),
      untar_s: range(hostWorks.map((h) => h.untar_s)),
      find_s: range(hostWorks.map((h) => h.find_s)),
      rm_s: range(hostWorks.map((h) => h.rm_s)),
    };
    const stream = {
      layer_bytes: layerBytes,
      host_unpacks_on_tmpfs: onTmpfs,
      ssh_handshake_s: range(handshake),
      ssh_cat_devnull_s: range(rawNull),
      ssh_cat_file_s: range(rawFile),
      ssh_unpack_s: range(rawUnpack),
      slipway_stream_s: range(deploys.map((d) => d.stream_ms / 1000)),
      slipway_venv_step_s: range(deploys.map((d) => d.venv_step_ms / 1000)),
      slipway_after_stream_s: range(deploys.map((d) => d.after_stream_ms / 1000)),
      host_work: hostWork,
      deployer_read_member_s: range(readMember.map((m) => m.read_s)),
      js_send_await_each_write_s: range(jsSend.await),
      js_send_pipe_s: range(jsSend.pipe),
      deployer_read_member_chunks: readMember[0]!.chunks,
      // Per rep: slipway's streaming rate over the raw pipe's (handshake taken off), same load.
      per_rep_stream_over_ssh_cat: range(
        deploys.map((d, i) => d.venv_bytes / (d.stream_ms / 1000) / (layerBytes / Math.max(1e-3, rawNull[i]! - handshake[i]!))),
      ),
    };
    const rawRate = layerBytes / Math.max(1e-3, stream.ssh_cat_devnull_s.median - hs);
    const rawFileRate = layerBytes / Math.max(1e-3, stream.ssh_cat_file_s.median - hs);
    const slwRate = layerBytes / stream.slipway_stream_s.median;
    const stepRate = layerBytes / stream.slipway_venv_step_s.median;
    const rawUnpackRate = layerBytes / Math.max(1e-3, stream.ssh_unpack_s.median - hs);

    // ---- figures ----
    const rssBuild = Math.max(...builds.map((b) => b.rss_mb));
    const rssDeploy = Math.max(...deploys.map((d) => d.rss_mb));
    const hostCopy = Math.max(...deploys.map((d) => d.temp["host_incoming"]!.max_file));
    const deployerCopy = Math.max(...deploys.map((d) => d.temp["deployer"]!.max_file));
    const ratios = {
      // Medians of the per-rep ratios (each rep's figures were taken one right after the other).
      compress_vs_zstd_on_tar: compress.per_rep_zstd_on_tar_over_phase.median,
      compress_vs_tar_pipe_zstd: compress.per_rep_tar_pipe_over_phase.median,
      stream_vs_ssh_cat: stream.per_rep_stream_over_ssh_cat.median,
      venv_step_vs_ssh_cat: stepRate / rawRate,
      // The whole venv step (send, unpack, hash, check, rename) against ssh straight into tar.
      venv_step_vs_ssh_unpack: stepRate / rawUnpackRate,
      stream_vs_ssh_cat_to_file: slwRate / rawFileRate,
    };
    const pass = {
      venv_at_least_500MB: venvBytes >= VENV_MIN_BYTES,
      compress_80pct_of_zstd: ratios.compress_vs_zstd_on_tar >= TARGETS.compressVsZstd,
      // The host unpacks as the bytes arrive: the step is the stream. Its floor is ssh straight
      // into tar on the same host (a raw `cat >/dev/null` is printed too).
      stream_80pct_of_ssh: ratios.venv_step_vs_ssh_unpack >= TARGETS.streamVsSsh,
      no_temp_copy: hostCopy < layerBytes / 2 && deployerCopy < layerBytes / 2,
      peak_rss_deployer: rssDeploy <= TARGETS.peakRssMb,
    };
    const levelRow = (name: string, fig: LevelFig | null | undefined, what: string) =>
      fig
        ? [
            `-${name}`,
            what,
            MB(fig.bytes),
            X(fig.ratio),
            R(fig.compress_s),
            `${((fig.bytes * fig.ratio) / 1e6 / fig.compress_s.median).toFixed(0)} MB/s in`,
            R(fig.decompress_s),
            `${((fig.bytes * fig.ratio) / 1e6 / fig.decompress_s.median).toFixed(0)} MB/s out`,
            `${fig.decompress_rss_mb.toFixed(0)} MB`,
          ]
        : [`-${name}`, what, "—", "—", "skipped", "", "", "", ""];

    log(`\n== results (medians of ${REPS}, range in brackets; the machine: ${env.cpus} cores, load at start ${env.loadavg_start}, now ${loadavg()}) ==\n`);
    log(`venv ${MB(venvBytes)} (du -sb; files ${MB(b1.venv_layer_unpacked)}), tar ${MB(tarBytes)}, layer ${MB(layerBytes)} (zstd -3)`);
    log(`\n(a) venv layer compression, cold build (slipway: the venv-layer phase of a build with the venv cached and the layer not):\n`);
    log(
      table([
        ["what", "seconds", "CPU (of 1 core)"],
        [
          "slipway venv-layer phase (walk, GNU tar → zstd -T0 -3 → node: sha256 → file; tar's listing checked)",
          R(compress.slipway_phase_s),
          `build ${R(compress.slipway_cpu_pct, P)}`,
        ],
        ["tar -cf - DIR | zstd -T0 -3 >/dev/null", R(compress.tar_pipe_zstd_s), R(compress.tar_pipe_zstd_cpu_pct, P)],
        ["zstd -T0 -3 venv.tar >/dev/null", R(compress.zstd_on_tar_s), R(compress.zstd_on_tar_cpu_pct, P)],
        ["(tar -cf venv.tar DIR, once)", S(tarS), ""],
        [
          `diagnostic: the code layer's JS packer (tar-stream) on the venv, no zstd (${compress.js_pack_entries} entries, ${compress.js_pack_chunks} chunks)`,
          R(compress.js_pack_only_s),
          R(compress.js_pack_cpu_pct, P),
        ],
        ["diagnostic: its walkTree (before packing)", R(compress.js_walk_s), ""],
        ["cold build, whole (pip included)", S(b1.seconds), ""],
      ]),
    );
    log(`\n(b) zstd levels (-T0; decompress = zstd -d -c >/dev/null on this machine, as a host runs it):\n`);
    log(
      table([
        ["level", "input", "size", "ratio", "compress", "", "decompress", "", "zstd -d RSS"],
        ...LEVELS.map((l) => levelRow(l.name, full[l.name], "whole tar")),
        ...LEVELS.map((l) => levelRow(l.name, prefix[l.name], "100 MiB prefix")),
      ]),
    );
    if (!full["19"]) log(`(-19 on the whole tar skipped: the prefix predicts ${S(predicted19)}, over ${L19_FULL_MAX_S} s)`);
    log(
      `\n(c) new-venv deploy, ${MB(layerBytes)} venv layer to one host (shell start-up there: ${describeStartups(deploys.flatMap((d) => (d.shell_startup_ms === undefined ? [] : [d.shell_startup_ms])))}):\n`,
    );
    log(
      table([
        ["what", "seconds", "MB/s"],
        ["ssh host true (handshake)", R(stream.ssh_handshake_s), ""],
        ["ssh host 'cat >/dev/null' < layer", R(stream.ssh_cat_devnull_s), `${(rawRate / 1e6).toFixed(0)} (handshake off)`],
        ["ssh host 'cat > /tmp/f' < layer", R(stream.ssh_cat_file_s), `${(rawFileRate / 1e6).toFixed(0)} (handshake off)`],
        [
          "ssh host 'tar -x --use-compress-program=zstd -f -' < layer (the floor)",
          R(stream.ssh_unpack_s),
          `${(rawUnpackRate / 1e6).toFixed(0)} (handshake off)`,
        ],
        ["slipway venv step: streaming (start → last byte written)", R(stream.slipway_stream_s), (slwRate / 1e6).toFixed(0)],
        [
          `  diagnostic: openMember (deployer) reads the layer into nothing (${stream.deployer_read_member_chunks} chunks)`,
          R(stream.deployer_read_member_s),
          (layerBytes / 1e6 / stream.deployer_read_member_s.median).toFixed(0),
        ],
        [
          "  diagnostic: openMember → ssh 'cat >/dev/null', each write awaited (as the session)",
          R(stream.js_send_await_each_write_s),
          `${(layerBytes / 1e6 / Math.max(1e-3, stream.js_send_await_each_write_s.median - hs)).toFixed(0)} (handshake off)`,
        ],
        [
          "  diagnostic: openMember → ssh 'cat >/dev/null', stream.pipe",
          R(stream.js_send_pipe_s),
          `${(layerBytes / 1e6 / Math.max(1e-3, stream.js_send_pipe_s.median - hs)).toFixed(0)} (handshake off)`,
        ],
        ["slipway venv step: after the last byte (sha256, unpack, checks)", R(stream.slipway_after_stream_s), ""],
        ["  on the host, after each deploy: sha256sum of the layer", R(hostWork.sha256sum_s), ""],
        ["  on the host, after each deploy: openssl dgst -sha256 of the layer (what the step runs)", R(hostWork.openssl_sha256_s), ""],
        ["  on the host, after each deploy: zstd -d -c >/dev/null", R(hostWork.zstd_d_s), ""],
        ["  on the host, after each deploy: tar -x --use-compress-program=zstd (as stage.ts)", R(hostWork.untar_s), ""],
        ["  on the host, after each deploy: find + realpath (check_tree's walk)", R(hostWork.find_s), ""],
        ["slipway venv step, whole", R(stream.slipway_venv_step_s), (stepRate / 1e6).toFixed(0)],
        ["slipway deploy, whole CLI", R(range(deploys.map((d) => d.seconds))), ""],
        ["  of which verify (local, every entry of the layer: an empty cache dir)", R(range(deploys.map((d) => d.verify_ms / 1000))), ""],
      ]),
    );
    log(
      `\n(d) peak RSS (/usr/bin/time %M, the largest process): builds ${builds.map((b) => `${b.rss_mb.toFixed(0)}`).join(", ")} MB; deploys ${deploys.map((d) => d.rss_mb.toFixed(0)).join(", ")} MB`,
    );
    log(
      `    copies of the layer seen while deploying (largest file, polled every 100 ms): deployer TMPDIR ${MB(deployerCopy)}, host ${relative(host.srv, join(remoteRoot, ".slipway", "incoming"))} ${MB(hostCopy)} (${deploys[0]!.temp["host_incoming"]!.files.join(", ")})`,
    );

    const verdict = (ok: boolean) => (ok ? "PASS" : "FAIL");
    log("\n== targets (issue 13: 5 and 6) ==\n");
    log(`${verdict(pass.venv_at_least_500MB)}  venv ${MB(venvBytes)} >= ${MB(VENV_MIN_BYTES)} (precondition)`);
    log(
      `${verdict(pass.compress_80pct_of_zstd)}  venv layer compression at ${P(ratios.compress_vs_zstd_on_tar)} (${R(compress.per_rep_zstd_on_tar_over_phase, P)} per rep) of zstd -T0 -3 on the same tar (target >= ${P(TARGETS.compressVsZstd)}); ${P(ratios.compress_vs_tar_pipe_zstd)} of tar | zstd`,
    );
    log(
      `${verdict(pass.stream_80pct_of_ssh)}  new-venv step (the host unpacks as it receives) at ${P(ratios.venv_step_vs_ssh_unpack)} of ssh straight into tar on the host (target >= ${P(TARGETS.streamVsSsh)}); ` +
        `of ssh 'cat >/dev/null': step ${P(ratios.venv_step_vs_ssh_cat)}, bytes until the last transfer event ${P(ratios.stream_vs_ssh_cat)} (${R(stream.per_rep_stream_over_ssh_cat, P)} per rep)`,
    );
    log(
      `${verdict(pass.no_temp_copy)}  no temp copy of the layer: deployer TMPDIR max file ${MB(deployerCopy)}, host incoming max file ${MB(hostCopy)} (layer ${MB(layerBytes)})`,
    );
    log(
      `${verdict(pass.peak_rss_deployer)}  deployer peak RSS ${rssDeploy.toFixed(0)} MB (target <= ${TARGETS.peakRssMb} MB); build peak ${rssBuild.toFixed(0)} MB (info)`,
    );
    const l3 = full["3"]!;
    log(
      `info  levels on the whole tar: ${LEVELS.filter((l) => full[l.name])
        .map((l) => `-${l.name} ${X(full[l.name]!.ratio)} in ${S(full[l.name]!.compress_s.median)}`)
        .join(", ")}; -3 at ${(tarBytes / 1e6 / l3.compress_s.median).toFixed(0)} MB/s`,
    );
    // The trade-off against -3: the layer is compressed once per venv key (cached), sent to every host that lacks it.
    const tradeoff = LEVELS.filter((l) => l.name !== "3").map((l) => {
      const src = full[l.name] ? full : prefix;
      const base = src["3"]!;
      const fig = src[l.name]!;
      const saved = base.bytes - fig.bytes;
      const extra = fig.compress_s.median - base.compress_s.median;
      return {
        level: l.name,
        input: src === full ? "whole tar" : "100 MiB prefix",
        saved_bytes: saved,
        extra_compress_s: extra,
        decompress_delta_s: fig.decompress_s.median - base.decompress_s.median,
        // Below this link speed (bytes/s, one host) the smaller layer saves more sending time than the level costs once.
        break_even_bytes_per_s: extra > 0 ? saved / extra : Infinity,
      };
    });
    for (const t of tradeoff)
      log(
        `info  -${t.level} vs -3 (${t.input}): ${MB(t.saved_bytes)} smaller, ${S(t.extra_compress_s)} more to compress once, ${S(t.decompress_delta_s)} to decompress per host; ` +
          `pays off per host below ${Number.isFinite(t.break_even_bytes_per_s) ? `${(t.break_even_bytes_per_s / 1e6).toFixed(1)} MB/s` : "any speed"} of link (N hosts: N × that)`,
      );
    for (const w of warnings) log(`WARN  ${w}`);

    const totalS = (performance.now() - t0) / 1000;
    const stamp = started
      .toISOString()
      .replace(/\.\d+Z$/, "Z")
      .replace(/:/g, "-");
    const file = join(RESULTS_DIR, `big-venv-${stamp}.json`);
    const figures = {
      bench: "big-venv",
      started_at: started.toISOString(),
      total_s: totalS,
      commit: await gitCommit(),
      machine: { ...env, loadavg_end: loadavg(), platform: `${os.platform()} ${os.release()}` },
      params: { reps: REPS, wheel_mib: WHEEL_MIB, wheels: WHEELS, prefix_bytes: PREFIX_BYTES, l19_full_max_s: L19_FULL_MAX_S },
      venv_bytes: venvBytes,
      tar_bytes: tarBytes,
      layer_bytes: layerBytes,
      builds,
      compress,
      levels: { whole: full, prefix, predicted_19_whole_s: predicted19, tradeoff_vs_3: tradeoff },
      deploys,
      stream,
      ratios,
      peak_rss_mb: { builds: builds.map((b) => b.rss_mb), deploys: deploys.map((d) => d.rss_mb) },
      targets: {
        compress_vs_zstd_on_tar: { min: TARGETS.compressVsZstd, value: ratios.compress_vs_zstd_on_tar, pass: pass.compress_80pct_of_zstd },
        venv_step_vs_ssh_unpack: { min: TARGETS.streamVsSsh, value: ratios.venv_step_vs_ssh_unpack, pass: pass.stream_80pct_of_ssh },
        no_temp_copy: { host_max_file: hostCopy, deployer_max_file: deployerCopy, pass: pass.no_temp_copy },
        peak_rss_deployer_mb: { max: TARGETS.peakRssMb, value: rssDeploy, pass: pass.peak_rss_deployer },
        venv_bytes: { min: VENV_MIN_BYTES, value: venvBytes, pass: pass.venv_at_least_500MB },
      },
      warnings,
    };
    await mkdir(RESULTS_DIR, { recursive: true });
    await writeFile(file, JSON.stringify(figures, null, 2) + "\n");
    log(`\nfigures written to ${file}`);
    log(`total bench time ${S(totalS)}`);
  } finally {
    await f.stop();
    if (process.env["KEEP_TMP"] !== "1") await rm(work, { recursive: true, force: true });
  }
}

runBench(main);
