// Build benchmark: slipway (through the built CLI) against a "classic build script", for the
// example app (small) and a synthetic app whose venv is >= 50 MB (big).
//
//   npm run bench:build          (= npm run build && tsx bench/build.ts)
//
// Per app: a cold build (nothing cached) and BENCH_WARM_RUNS (default 5, at least 3) warm builds
// that change only code (a comment appended to hello/app.py), for slipway and for the classic
// script. Prints a table and PASS/FAIL against the targets, writes the figures to
// bench/results/build-<date>.json, and exits 0 either way: it reports, it does not gate.
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { appendFile, cp, mkdir, rm, stat, writeFile } from "node:fs/promises";
import os from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { PYTHON, pythonEnv } from "../test/support/env.js";
import { copyExampleApp, tmpDir } from "../test/support/tmp.js";
import { ensureWheelhouse, makeBigWheels } from "../test/support/wheelhouse.js";
import { runBench } from "./run.js";

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const CLI = join(REPO, "dist", "cli.js");
const RESULTS_DIR = join(REPO, "bench", "results");
const WARM_RUNS = Math.max(3, Number(process.env["BENCH_WARM_RUNS"] ?? 5) || 5);
/** Synthetic wheels for the big app: their installed .py/data alone exceed 50 MB. */
const BIG_MIB = 48;
const BIG_WHEELS = 6;
const BIG_VENV_MIN_BYTES = 50_000_000;
const TARGETS = { classicOverSlipwayWarmBig: 10, slipwayWarmBigOverSmall: 1.5 };

/**
 * The classic build script, verbatim: venv cached by md5(requirements.txt), copied into the
 * workspace, and the whole workspace tarred and gzipped. Args: WORKSPACE CACHE OUT PIP_ARGS...
 */
const CLASSIC_SCRIPT = String.raw`
set -euo pipefail
ws=$1 cache=$2 out=$3
shift 3
key=$(md5sum "$ws/requirements.txt" | cut -d' ' -f1)
venv="$cache/$key"
if [ ! -d "$venv" ]; then
  echo "venv: building $venv"
  mkdir -p "$cache"
  /usr/bin/python3 -m venv "$venv"
  (cd "$ws" && "$venv/bin/python" -m pip install -q "$@" -r requirements.txt)
else
  echo "venv: cached $venv"
fi
cp -r "$venv" "$ws/venv"
tar czf "$out" -C "$(dirname "$ws")" "$(basename "$ws")"
`;

// --- processes -----------------------------------------------------------------------------

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
  seconds: number;
}

function runProcess(argv: string[], opts: { cwd: string; env: NodeJS.ProcessEnv }): Promise<Ran> {
  return new Promise((resolveRun, reject) => {
    const t0 = performance.now();
    const child = spawn(argv[0]!, argv.slice(1), { cwd: opts.cwd, env: opts.env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
    child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
    child.on("error", reject);
    child.on("close", (code) => resolveRun({ code, stdout, stderr, seconds: (performance.now() - t0) / 1000 }));
  });
}

async function duBytes(path: string): Promise<number> {
  const r = await runProcess(["du", "-sb", path], { cwd: "/", env: process.env });
  if (r.code !== 0) throw new Error(`du -sb ${path} failed: ${r.stderr.trim()}`);
  return Number(r.stdout.split(/\s/)[0]);
}

// --- slipway -------------------------------------------------------------------------------

interface SlipwayRun {
  seconds: number;
  build_id: string;
  artifact: string;
  artifact_bytes: number;
  venv_path: string;
  venv_cache: string;
  venv_layer_cache: string;
  code_layer_sha256: string;
  /** ms per phase from the --json "phase done" events. */
  phases_ms: Record<string, number>;
}

async function slipwayBuild(appDir: string, cacheDir: string, buildId: string): Promise<SlipwayRun> {
  const env = pythonEnv({ SLIPWAY_CACHE_DIR: cacheDir });
  const r = await runProcess([process.execPath, CLI, "build", "--build-id", buildId, "--json"], { cwd: appDir, env });
  const events: Record<string, unknown>[] = [];
  for (const line of r.stdout.split("\n")) {
    if (!line.trim()) continue;
    try {
      events.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      throw new Error(`slipway build ${buildId}: stdout line is not JSON: ${line}`);
    }
  }
  const result = events.find((e) => e["type"] === "result") as Record<string, any> | undefined;
  if (r.code !== 0 || !result?.["ok"]) {
    const why = result?.["error"] ? JSON.stringify(result["error"]) : r.stderr.trim() || `exit ${r.code}`;
    throw new Error(`slipway build ${buildId} in ${appDir} failed (exit ${r.code}): ${why}`);
  }
  const phases: Record<string, number> = {};
  for (const e of events) {
    if (e["type"] === "phase" && e["status"] === "done") {
      const p = String(e["phase"]);
      phases[p] = (phases[p] ?? 0) + Number(e["ms"]);
    }
  }
  return {
    seconds: r.seconds,
    build_id: String(result["build_id"]),
    artifact: String(result["artifact"]),
    artifact_bytes: Number(result["size"]),
    venv_path: String(result["venv"]?.["path"]),
    venv_cache: String(result["venv"]?.["cache"]),
    venv_layer_cache: String(result["venv_layer_cache"]),
    code_layer_sha256: String(result["layers"]?.["code"]?.["sha256"]),
    phases_ms: phases,
  };
}

// --- classic -------------------------------------------------------------------------------

interface ClassicRun {
  seconds: number;
  artifact_bytes: number;
  venv: "built" | "cached";
}

async function classicBuild(srcApp: string, work: string, cacheDir: string, pipArgs: string[], n: number): Promise<ClassicRun> {
  // Untimed: a fresh workspace (as a CI checkout) and no previous output.
  const ws = join(work, "workspace");
  const outDir = join(work, "out");
  await rm(ws, { recursive: true, force: true });
  await rm(outDir, { recursive: true, force: true });
  await mkdir(outDir, { recursive: true });
  await cp(srcApp, ws, { recursive: true });
  const out = join(outDir, `build-${n}.tar.gz`);
  const r = await runProcess(["bash", "-c", CLASSIC_SCRIPT, "classic-build", ws, cacheDir, out, ...pipArgs], { cwd: ws, env: pythonEnv() });
  if (r.code !== 0) throw new Error(`classic build failed (exit ${r.code}): ${r.stderr.trim() || r.stdout.trim()}`);
  return { seconds: r.seconds, artifact_bytes: (await stat(out)).size, venv: /venv: cached/.test(r.stdout) ? "cached" : "built" };
}

// --- one app -------------------------------------------------------------------------------

interface AppFigures {
  venv_bytes: number;
  classic_venv_bytes: number;
  slipway: { cold: SlipwayRun; warm: SlipwayRun[]; cold_s: number; warm_median_s: number; warm_phases_median_ms: Record<string, number> };
  classic: { cold: ClassicRun; warm: ClassicRun[]; cold_s: number; warm_median_s: number };
  warnings: string[];
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

async function touchCode(appDir: string, tag: string): Promise<void> {
  await appendFile(join(appDir, "hello", "app.py"), `# bench code change ${tag}\n`);
}

async function benchApp(label: string, base: string, pipArgs: string[], extraRequirements: string[]): Promise<AppFigures> {
  const warnings: string[] = [];
  const warn = (m: string) => {
    warnings.push(m);
    console.log(`  ! ${m}`);
  };
  const root = join(base, `${label}-root`);
  const cache = join(base, `${label}-cache`);
  const slipwayApp = await copyExampleApp("hello", join(base, `${label}-app`), { root, pipArgs });
  const classicSrc = await copyExampleApp("hello", join(base, `${label}-classic-src`), { root, pipArgs });
  if (extraRequirements.length) {
    for (const dir of [slipwayApp, classicSrc]) await appendFile(join(dir, "requirements.txt"), extraRequirements.join("\n") + "\n");
  }

  console.log(`\n[${label}] slipway cold build`);
  const cold = await slipwayBuild(slipwayApp, cache, `${label}-cold`);
  console.log(`  ${cold.seconds.toFixed(2)} s  venv ${cold.venv_cache}, venv layer ${cold.venv_layer_cache}  ${fmtPhases(cold.phases_ms)}`);
  if (cold.venv_cache !== "miss" || cold.venv_layer_cache !== "miss")
    warn(`cold build was not cold: venv ${cold.venv_cache}, venv layer ${cold.venv_layer_cache}`);
  const venvBytes = await duBytes(cold.venv_path);

  const warm: SlipwayRun[] = [];
  let lastSha = cold.code_layer_sha256;
  for (let i = 1; i <= WARM_RUNS; i++) {
    await touchCode(slipwayApp, `${label}-${i}`);
    const w = await slipwayBuild(slipwayApp, cache, `${label}-warm-${i}`);
    console.log(`[${label}] slipway warm ${i}: ${w.seconds.toFixed(2)} s  venv ${w.venv_cache}, venv layer ${w.venv_layer_cache}  ${fmtPhases(w.phases_ms)}`);
    if (w.venv_cache !== "hit" || w.venv_layer_cache !== "hit") warn(`warm build ${i} missed a cache: venv ${w.venv_cache}, venv layer ${w.venv_layer_cache}`);
    if (w.code_layer_sha256 === lastSha) warn(`warm build ${i}: the code layer did not change after a code change`);
    lastSha = w.code_layer_sha256;
    // Keep the disk tidy between runs (untimed): the artifact's size is already recorded.
    await rm(w.artifact, { force: true });
    await rm(`${w.artifact}.sha256`, { force: true });
    warm.push(w);
  }

  const classicWork = join(base, `${label}-classic-work`);
  const classicCache = join(base, "classic-cache");
  console.log(`[${label}] classic cold build`);
  const cCold = await classicBuild(classicSrc, classicWork, classicCache, pipArgs, 0);
  console.log(`  ${cCold.seconds.toFixed(2)} s  venv ${cCold.venv}`);
  if (cCold.venv !== "built") warn("classic cold build found a cached venv");
  const classicVenvBytes = await duBytes(join(classicWork, "workspace", "venv"));
  const cWarm: ClassicRun[] = [];
  for (let i = 1; i <= WARM_RUNS; i++) {
    await touchCode(classicSrc, `${label}-${i}`);
    const w = await classicBuild(classicSrc, classicWork, classicCache, pipArgs, i);
    console.log(`[${label}] classic warm ${i}: ${w.seconds.toFixed(2)} s  venv ${w.venv}`);
    if (w.venv !== "cached") warn(`classic warm build ${i} rebuilt the venv`);
    cWarm.push(w);
  }

  return {
    venv_bytes: venvBytes,
    classic_venv_bytes: classicVenvBytes,
    slipway: {
      cold,
      warm,
      cold_s: cold.seconds,
      warm_median_s: median(warm.map((w) => w.seconds)),
      warm_phases_median_ms: medianPhases(warm),
    },
    classic: { cold: cCold, warm: cWarm, cold_s: cCold.seconds, warm_median_s: median(cWarm.map((w) => w.seconds)) },
    warnings,
  };
}

function medianPhases(runs: SlipwayRun[]): Record<string, number> {
  const names = [...new Set(runs.flatMap((r) => Object.keys(r.phases_ms)))];
  return Object.fromEntries(names.map((n) => [n, median(runs.map((r) => r.phases_ms[n] ?? 0))]));
}

// --- output --------------------------------------------------------------------------------

function fmtPhases(p: Record<string, number>): string {
  return Object.entries(p)
    .map(([k, v]) => `${k}=${v}ms`)
    .join(" ");
}

const MB = (b: number) => `${(b / 1e6).toFixed(1)} MB`;
const S = (s: number) => `${s.toFixed(2)} s`;
const X = (r: number) => `${r.toFixed(2)}x`;

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? "").length)));
  const line = (r: string[]) => r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join("  ");
  return [line(rows[0]!), widths.map((w) => "-".repeat(w)).join("  "), ...rows.slice(1).map(line)].join("\n");
}

async function gitCommit(): Promise<string | null> {
  const r = await runProcess(["git", "rev-parse", "--short", "HEAD"], { cwd: REPO, env: process.env }).catch(() => undefined);
  if (!r || r.code !== 0) return null;
  const dirty = await runProcess(["git", "status", "--porcelain"], { cwd: REPO, env: process.env });
  return r.stdout.trim() + (dirty.stdout.trim() ? "-dirty" : "");
}

// --- main ----------------------------------------------------------------------------------

async function main(): Promise<void> {
  if (!existsSync(CLI)) throw new Error(`${CLI} does not exist: run \`npm run build\` first (or \`npm run bench:build\`)`);
  const t0 = performance.now();
  const started = new Date();
  const base = await tmpDir("slipway-bench-build");
  try {
    const wheelhouse = await ensureWheelhouse();
    const bigWheels = join(base, "bigwheels");
    const bigNames = await makeBigWheels(bigWheels, BIG_MIB, BIG_WHEELS);
    console.log(`slipway build benchmark — ${os.cpus().length} cores, node ${process.version}, ${PYTHON}`);
    console.log(`temp dir ${base}; wheelhouse ${wheelhouse}; ${WARM_RUNS} warm runs per case`);

    const smallPip = ["--no-index", "--find-links", wheelhouse];
    const bigPip = [...smallPip, "--find-links", bigWheels];
    const small = await benchApp("small", base, smallPip, []);
    const big = await benchApp("big", base, bigPip, bigNames);

    const ratio = {
      classic_over_slipway_warm_small: small.classic.warm_median_s / small.slipway.warm_median_s,
      classic_over_slipway_warm_big: big.classic.warm_median_s / big.slipway.warm_median_s,
      slipway_warm_big_over_small: big.slipway.warm_median_s / small.slipway.warm_median_s,
    };
    const pass = {
      big_venv_at_least_50MB: big.venv_bytes >= BIG_VENV_MIN_BYTES,
      classic_over_slipway_warm_big: ratio.classic_over_slipway_warm_big >= TARGETS.classicOverSlipwayWarmBig,
      slipway_warm_big_over_small: ratio.slipway_warm_big_over_small <= TARGETS.slipwayWarmBigOverSmall,
    };

    console.log("\n== results (seconds: wall clock per build; warm = median of " + WARM_RUNS + "; sizes: artifact file, du -sb of the venv) ==\n");
    const appRow = (label: string, f: AppFigures) => [
      label,
      S(f.slipway.cold_s),
      S(f.slipway.warm_median_s),
      S(f.classic.cold_s),
      S(f.classic.warm_median_s),
      MB(f.slipway.warm[f.slipway.warm.length - 1]!.artifact_bytes),
      MB(f.classic.warm[f.classic.warm.length - 1]!.artifact_bytes),
      MB(f.venv_bytes),
      MB(f.classic_venv_bytes),
      X(f.classic.warm_median_s / f.slipway.warm_median_s),
    ];
    console.log(
      table([
        [
          "app",
          "slipway cold",
          "slipway warm",
          "classic cold",
          "classic warm",
          "slipway artifact",
          "classic artifact",
          "slipway venv",
          "classic venv",
          "classic/slipway warm",
        ],
        appRow("small", small),
        appRow("big", big),
      ]),
    );

    console.log("\nslipway warm-build phases (median ms; from --json phase events):\n");
    const phaseNames = [...new Set([...Object.keys(small.slipway.warm_phases_median_ms), ...Object.keys(big.slipway.warm_phases_median_ms)])];
    const sumSmall = Object.values(small.slipway.warm_phases_median_ms).reduce((a, b) => a + b, 0);
    const sumBig = Object.values(big.slipway.warm_phases_median_ms).reduce((a, b) => a + b, 0);
    console.log(
      table([
        ["phase", "small", "big"],
        ...phaseNames.map((p) => [p, String(small.slipway.warm_phases_median_ms[p] ?? 0), String(big.slipway.warm_phases_median_ms[p] ?? 0)]),
        ["(sum of phases)", String(sumSmall), String(sumBig)],
        ["(wall clock)", String(Math.round(small.slipway.warm_median_s * 1000)), String(Math.round(big.slipway.warm_median_s * 1000))],
      ]),
    );
    console.log("\nslipway cold-build phases (ms):\n");
    const coldNames = [...new Set([...Object.keys(small.slipway.cold.phases_ms), ...Object.keys(big.slipway.cold.phases_ms)])];
    console.log(
      table([
        ["phase", "small", "big"],
        ...coldNames.map((p) => [p, String(small.slipway.cold.phases_ms[p] ?? 0), String(big.slipway.cold.phases_ms[p] ?? 0)]),
      ]),
    );

    const verdict = (ok: boolean) => (ok ? "PASS" : "FAIL");
    console.log("\n== targets ==\n");
    console.log(`${verdict(pass.big_venv_at_least_50MB)}  big app venv ${MB(big.venv_bytes)} >= ${MB(BIG_VENV_MIN_BYTES)} (precondition)`);
    console.log(
      `${verdict(pass.classic_over_slipway_warm_big)}  classic-warm / slipway-warm (big)   = ${X(ratio.classic_over_slipway_warm_big)}  (target >= ${TARGETS.classicOverSlipwayWarmBig}x)`,
    );
    console.log(`info  classic-warm / slipway-warm (small) = ${X(ratio.classic_over_slipway_warm_small)}`);
    console.log(
      `${verdict(pass.slipway_warm_big_over_small)}  slipway-warm big / small             = ${X(ratio.slipway_warm_big_over_small)}  (target <= ${TARGETS.slipwayWarmBigOverSmall})`,
    );
    const warnings = [...small.warnings.map((w) => `small: ${w}`), ...big.warnings.map((w) => `big: ${w}`)];
    for (const w of warnings) console.log(`WARN  ${w}`);

    const totalS = (performance.now() - t0) / 1000;
    const stamp = started
      .toISOString()
      .replace(/\.\d+Z$/, "Z")
      .replace(/:/g, "-");
    const file = join(RESULTS_DIR, `build-${stamp}.json`);
    const strip = (f: AppFigures) => ({
      venv_bytes: f.venv_bytes,
      classic_venv_bytes: f.classic_venv_bytes,
      slipway: {
        cold_s: f.slipway.cold_s,
        warm_median_s: f.slipway.warm_median_s,
        warm_s: f.slipway.warm.map((w) => w.seconds),
        artifact_bytes: { cold: f.slipway.cold.artifact_bytes, warm: f.slipway.warm.map((w) => w.artifact_bytes) },
        phases_ms: { cold: f.slipway.cold.phases_ms, warm: f.slipway.warm.map((w) => w.phases_ms), warm_median: f.slipway.warm_phases_median_ms },
        cache: { cold: [f.slipway.cold.venv_cache, f.slipway.cold.venv_layer_cache], warm: f.slipway.warm.map((w) => [w.venv_cache, w.venv_layer_cache]) },
      },
      classic: {
        cold_s: f.classic.cold_s,
        warm_median_s: f.classic.warm_median_s,
        warm_s: f.classic.warm.map((w) => w.seconds),
        artifact_bytes: { cold: f.classic.cold.artifact_bytes, warm: f.classic.warm.map((w) => w.artifact_bytes) },
      },
      warnings: f.warnings,
    });
    const figures = {
      bench: "build",
      started_at: started.toISOString(),
      total_s: totalS,
      commit: await gitCommit(),
      machine: {
        cpus: os.cpus().length,
        cpu_model: os.cpus()[0]?.model ?? null,
        node: process.version,
        python: PYTHON,
        platform: `${os.platform()} ${os.release()}`,
      },
      params: { warm_runs: WARM_RUNS, big_wheels_mib: BIG_MIB, big_wheels_count: BIG_WHEELS },
      apps: { small: strip(small), big: strip(big) },
      ratios: ratio,
      targets: {
        classic_over_slipway_warm_big: { min: TARGETS.classicOverSlipwayWarmBig, pass: pass.classic_over_slipway_warm_big },
        slipway_warm_big_over_small: { max: TARGETS.slipwayWarmBigOverSmall, pass: pass.slipway_warm_big_over_small },
        big_venv_bytes: { min: BIG_VENV_MIN_BYTES, pass: pass.big_venv_at_least_50MB },
      },
    };
    await mkdir(RESULTS_DIR, { recursive: true });
    await writeFile(file, JSON.stringify(figures, null, 2) + "\n");
    console.log(`\nfigures written to ${file}`);
    console.log(`total bench time ${S(totalS)}`);
  } finally {
    if (process.env["KEEP_TMP"] !== "1") await rm(base, { recursive: true, force: true });
  }
}

runBench(main);
