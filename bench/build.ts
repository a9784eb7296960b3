// Build benchmark: slipway (through the built CLI) against a "classic build script", for three
// apps: the hello example (small), hello plus synthetic wheels whose venv is >= 50 MB (big), and
// the Django example (django: a ~70 MB venv and a build step, collectstatic, that imports Django).
//
//   npm run bench:build          (= npm run build && tsx bench/build.ts)
//
// Per app: a cold build (nothing cached) and BENCH_WARM_RUNS (default 7, at least 3) warm builds
// that change only code (a comment appended to one source file), for slipway and for the classic
// script (which runs the same build step). slipway's own time in a warm build is its wall time
// minus its build steps' time (the `steps` phase). Prints the machine (cores, load), a table and
// PASS/FAIL against issue 13's targets, writes the figures to bench/results/build-<date>.json,
// and exits 0 either way: it reports, it does not gate.
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { appendFile, cp, mkdir, rm, stat, writeFile } from "node:fs/promises";
import os from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { PYTHON, pythonEnv } from "../test/support/env.js";
import { copyExampleApp, tmpDir } from "../test/support/tmp.js";
import { ensureDjangoWheelhouse, ensureWheelhouse, makeBigWheels } from "../test/support/wheelhouse.js";
import { runBench } from "./run.js";
import { median } from "./figures.js";

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const CLI = join(REPO, "dist", "cli.js");
const RESULTS_DIR = join(REPO, "bench", "results");
const WARM_RUNS = Math.max(3, Number(process.env["BENCH_WARM_RUNS"] ?? 7) || 7);
/** Synthetic wheels for the big app: their installed .py/data alone exceed 50 MB. */
const BIG_MIB = 48;
const BIG_WHEELS = 6;
const BIG_VENV_MIN_BYTES = 50_000_000;
/** The Django app stands for "an app with a build step and a venv of at least 30 MB". */
const STEP_APP_MIN_VENV_BYTES = 30_000_000;
/** Issue 13, target 1. */
const TARGETS = { ownWarmStepAppMaxS: 0.3, classicOverSlipwayWarmStepApp: 3.5, ownWarmBigOverSmall: 1.1 };

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
if [ -n "$BUILD_STEP" ]; then (cd "$ws" && PATH="$ws/venv/bin:$PATH" bash -c "$BUILD_STEP"); fi
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
  /** slipway's own time: wall clock minus the build steps' phase. */
  own_s: number;
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
    own_s: r.seconds - (phases["steps"] ?? 0) / 1000,
  };
}

// --- classic -------------------------------------------------------------------------------

interface ClassicRun {
  seconds: number;
  artifact_bytes: number;
  venv: "built" | "cached";
}

async function classicBuild(srcApp: string, work: string, cacheDir: string, pipArgs: string[], n: number, step?: string): Promise<ClassicRun> {
  // Untimed: a fresh workspace (as a CI checkout) and no previous output.
  const ws = join(work, "workspace");
  const outDir = join(work, "out");
  await rm(ws, { recursive: true, force: true });
  await rm(outDir, { recursive: true, force: true });
  await mkdir(outDir, { recursive: true });
  await cp(srcApp, ws, { recursive: true });
  const out = join(outDir, `build-${n}.tar.gz`);
  const env = pythonEnv({ BUILD_STEP: step ?? "" });
  const r = await runProcess(["bash", "-c", CLASSIC_SCRIPT, "classic-build", ws, cacheDir, out, ...pipArgs], { cwd: ws, env });
  if (r.code !== 0) throw new Error(`classic build failed (exit ${r.code}): ${r.stderr.trim() || r.stdout.trim()}`);
  return { seconds: r.seconds, artifact_bytes: (await stat(out)).size, venv: /venv: cached/.test(r.stdout) ? "cached" : "built" };
}

// --- one app -------------------------------------------------------------------------------

interface AppFigures {
  venv_bytes: number;
  classic_venv_bytes: number;
  slipway: {
    cold: SlipwayRun;
    warm: SlipwayRun[];
    cold_s: number;
    warm_median_s: number;
    own_warm_median_s: number;
    warm_phases_median_ms: Record<string, number>;
  };
  classic: { cold: ClassicRun; warm: ClassicRun[]; cold_s: number; warm_median_s: number };
  warnings: string[];
}

const NODE_START_RUNS = 9;

/** Median wall time of `node -e 0`: the part of every warm build that is node's, not slipway's. */
async function nodeStartup(): Promise<number> {
  const runs: number[] = [];
  for (let i = 0; i < NODE_START_RUNS; i++) runs.push((await runProcess([process.execPath, "-e", "0"], { cwd: REPO, env: process.env })).seconds);
  return median(runs);
}

/** One app of the bench: which example, which file a code change touches, its classic build step. */
interface AppCase {
  label: string;
  example: "hello" | "django-shop";
  touch: string;
  pipArgs: string[];
  extraRequirements: string[];
  /** What the classic script runs as the build step (slipway runs the app's [build] steps). */
  step?: string;
}

async function touchCode(appDir: string, file: string, tag: string): Promise<void> {
  await appendFile(join(appDir, file), `# bench code change ${tag}\n`);
}

async function benchApp(app: AppCase, base: string): Promise<AppFigures> {
  const { label, pipArgs, extraRequirements } = app;
  const warnings: string[] = [];
  const warn = (m: string) => {
    warnings.push(m);
    console.log(`  ! ${m}`);
  };
  const root = join(base, `${label}-root`);
  const cache = join(base, `${label}-cache`);
  const slipwayApp = await copyExampleApp(app.example, join(base, `${label}-app`), { root, pipArgs });
  const classicSrc = await copyExampleApp(app.example, join(base, `${label}-classic-src`), { root, pipArgs });
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
    await touchCode(slipwayApp, app.touch, `${label}-${i}`);
    const w = await slipwayBuild(slipwayApp, cache, `${label}-warm-${i}`);
    console.log(
      `[${label}] slipway warm ${i}: ${w.seconds.toFixed(2)} s (own ${w.own_s.toFixed(3)} s)  venv ${w.venv_cache}, venv layer ${w.venv_layer_cache}  ${fmtPhases(w.phases_ms)}`,
    );
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
  const cCold = await classicBuild(classicSrc, classicWork, classicCache, pipArgs, 0, app.step);
  console.log(`  ${cCold.seconds.toFixed(2)} s  venv ${cCold.venv}`);
  if (cCold.venv !== "built") warn("classic cold build found a cached venv");
  const classicVenvBytes = await duBytes(join(classicWork, "workspace", "venv"));
  const cWarm: ClassicRun[] = [];
  for (let i = 1; i <= WARM_RUNS; i++) {
    await touchCode(classicSrc, app.touch, `${label}-${i}`);
    const w = await classicBuild(classicSrc, classicWork, classicCache, pipArgs, i, app.step);
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
      own_warm_median_s: median(warm.map((w) => w.own_s)),
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
    const djangoWheelhouse = await ensureDjangoWheelhouse();
    const bigWheels = join(base, "bigwheels");
    const bigNames = await makeBigWheels(bigWheels, BIG_MIB, BIG_WHEELS);
    const load = () =>
      os
        .loadavg()
        .map((l) => l.toFixed(2))
        .join(" ");
    const loadStart = load();
    console.log(`slipway build benchmark — ${os.cpus().length} cores (${os.cpus()[0]?.model ?? "?"}), load ${loadStart}, node ${process.version}, ${PYTHON}`);
    console.log(`temp dir ${base}; wheelhouses ${wheelhouse}, ${djangoWheelhouse}; ${WARM_RUNS} warm runs per case`);

    const smallPip = ["--no-index", "--find-links", wheelhouse];
    const small = await benchApp({ label: "small", example: "hello", touch: "hello/app.py", pipArgs: smallPip, extraRequirements: [] }, base);
    const big = await benchApp(
      { label: "big", example: "hello", touch: "hello/app.py", pipArgs: [...smallPip, "--find-links", bigWheels], extraRequirements: bigNames },
      base,
    );
    const django = await benchApp(
      {
        label: "django",
        example: "django-shop",
        touch: "shop/urls.py",
        pipArgs: ["--no-index", "--find-links", djangoWheelhouse],
        extraRequirements: [],
        step: "python manage.py collectstatic --noinput",
      },
      base,
    );
    const apps = { small, big, django };
    // The floor no CLI written for node can go under: node's own start-up, measured in this run.
    const nodeStart = await nodeStartup();

    const ratio = {
      classic_over_slipway_warm_small: small.classic.warm_median_s / small.slipway.warm_median_s,
      classic_over_slipway_warm_big: big.classic.warm_median_s / big.slipway.warm_median_s,
      classic_over_slipway_warm_django: django.classic.warm_median_s / django.slipway.warm_median_s,
      slipway_own_warm_big_over_small: big.slipway.own_warm_median_s / small.slipway.own_warm_median_s,
    };
    const pass = {
      big_venv_at_least_50MB: big.venv_bytes >= BIG_VENV_MIN_BYTES,
      django_venv_at_least_30MB: django.venv_bytes >= STEP_APP_MIN_VENV_BYTES,
      own_warm_django: django.slipway.own_warm_median_s <= TARGETS.ownWarmStepAppMaxS,
      classic_over_slipway_warm_django: ratio.classic_over_slipway_warm_django >= TARGETS.classicOverSlipwayWarmStepApp,
      own_warm_big_over_small: ratio.slipway_own_warm_big_over_small <= TARGETS.ownWarmBigOverSmall,
    };

    console.log(
      "\n== results (seconds: wall clock per build; warm = median of " +
        WARM_RUNS +
        "; own = wall minus build steps; sizes: artifact file, du -sb of the venv) ==\n",
    );
    const appRow = (label: string, f: AppFigures) => [
      label,
      S(f.slipway.cold_s),
      S(f.slipway.warm_median_s),
      S(f.slipway.own_warm_median_s),
      S(f.classic.cold_s),
      S(f.classic.warm_median_s),
      MB(f.slipway.warm[f.slipway.warm.length - 1]!.artifact_bytes),
      MB(f.classic.warm[f.classic.warm.length - 1]!.artifact_bytes),
      MB(f.venv_bytes),
      X(f.classic.warm_median_s / f.slipway.warm_median_s),
    ];
    console.log(
      table([
        [
          "app",
          "slipway cold",
          "slipway warm",
          "own (warm)",
          "classic cold",
          "classic warm",
          "slipway artifact",
          "classic artifact",
          "venv",
          "classic/slipway warm",
        ],
        ...Object.entries(apps).map(([label, f]) => appRow(label, f)),
      ]),
    );

    console.log("\nslipway warm-build phases (median ms; from --json phase events):\n");
    const phaseTable = (pick: (f: AppFigures) => Record<string, number>) => {
      const names = [...new Set(Object.values(apps).flatMap((f) => Object.keys(pick(f))))];
      return table([
        ["phase", ...Object.keys(apps)],
        ...names.map((p) => [p, ...Object.values(apps).map((f) => String(pick(f)[p] ?? 0))]),
        ["(sum of phases)", ...Object.values(apps).map((f) => String(Object.values(pick(f)).reduce((x, y) => x + y, 0)))],
      ]);
    };
    console.log(phaseTable((f) => f.slipway.warm_phases_median_ms));
    console.log("\nslipway cold-build phases (ms):\n");
    console.log(phaseTable((f) => f.slipway.cold.phases_ms));

    const verdict = (ok: boolean) => (ok ? "PASS" : "FAIL");
    console.log(`\n== targets (issue 13, target 1; load at start ${loadStart}, now ${load()}) ==\n`);
    console.log(
      `${verdict(pass.django_venv_at_least_30MB)}  django app venv ${MB(django.venv_bytes)} >= ${MB(STEP_APP_MIN_VENV_BYTES)}, with a build step (precondition)`,
    );
    console.log(`${verdict(pass.big_venv_at_least_50MB)}  big app venv ${MB(big.venv_bytes)} >= ${MB(BIG_VENV_MIN_BYTES)} (precondition)`);
    console.log(
      `${verdict(pass.own_warm_django)}  slipway's own time, warm build, django app = ${S(django.slipway.own_warm_median_s)}  (target <= ${S(TARGETS.ownWarmStepAppMaxS)}; steps took ${django.slipway.warm_phases_median_ms["steps"] ?? 0} ms)`,
    );
    console.log(
      `${verdict(pass.classic_over_slipway_warm_django)}  classic-warm / slipway-warm, django app   = ${X(ratio.classic_over_slipway_warm_django)}  (target >= ${TARGETS.classicOverSlipwayWarmStepApp}x)`,
    );
    console.log(
      `${verdict(pass.own_warm_big_over_small)}  slipway own time, warm, big / small       = ${X(ratio.slipway_own_warm_big_over_small)}  (target <= ${TARGETS.ownWarmBigOverSmall}x: ${S(big.slipway.own_warm_median_s)} / ${S(small.slipway.own_warm_median_s)})`,
    );
    console.log(
      `info  node's own start-up (\`node -e 0\`, median of ${NODE_START_RUNS}) = ${S(nodeStart)}: slipway's own time above it, django app = ${S(django.slipway.own_warm_median_s - nodeStart)}`,
    );
    console.log(`info  classic-warm / slipway-warm: small ${X(ratio.classic_over_slipway_warm_small)}, big ${X(ratio.classic_over_slipway_warm_big)}`);
    const warnings = Object.entries(apps).flatMap(([label, f]) => f.warnings.map((w) => `${label}: ${w}`));
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
        own_warm_median_s: f.slipway.own_warm_median_s,
        own_warm_s: f.slipway.warm.map((w) => w.own_s),
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
        loadavg_start: loadStart,
        loadavg_end: load(),
        node: process.version,
        node_start_median_s: nodeStart,
        python: PYTHON,
        platform: `${os.platform()} ${os.release()}`,
      },
      params: { warm_runs: WARM_RUNS, big_wheels_mib: BIG_MIB, big_wheels_count: BIG_WHEELS },
      apps: Object.fromEntries(Object.entries(apps).map(([label, f]) => [label, strip(f)])),
      ratios: ratio,
      targets: {
        own_warm_django_s: { max: TARGETS.ownWarmStepAppMaxS, value: django.slipway.own_warm_median_s, pass: pass.own_warm_django },
        classic_over_slipway_warm_django: {
          min: TARGETS.classicOverSlipwayWarmStepApp,
          value: ratio.classic_over_slipway_warm_django,
          pass: pass.classic_over_slipway_warm_django,
        },
        own_warm_big_over_small: { max: TARGETS.ownWarmBigOverSmall, value: ratio.slipway_own_warm_big_over_small, pass: pass.own_warm_big_over_small },
        big_venv_bytes: { min: BIG_VENV_MIN_BYTES, pass: pass.big_venv_at_least_50MB },
        django_venv_bytes: { min: STEP_APP_MIN_VENV_BYTES, pass: pass.django_venv_at_least_30MB },
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
