// Package benchmark: `slipway package` of a realistic app (the hello example plus Django,
// Celery, Redis, psycopg2 and whitenoise from the Debian-made wheelhouse), installed for real
// with apt from a local repository (test/support/apt-host.ts) and run under supervisord.
//
//   npm run bench:package        (= npm run build && tsx bench/package.ts)
//
// Measures, in one run:
//   - package time: `slipway package --format deb` with an empty cache (the CLI, whole process:
//     config, artifact checks, staging, three dpkg-deb runs) against `dpkg-deb --build` alone of
//     the very same three trees (unpacked from the packages slipway wrote), median of
//     BENCH_PACKAGE_REPS (3); --format rpm, reported without a baseline; and a code-only build
//     packaged after one that kept its venv package (src/package/venv-cache.ts);
//   - sizes: the per-build release package against the venv package;
//   - bytes apt downloads: installing build 1, then upgrading to build 2 (code only), against a
//     one-package-per-build layout (dh-virtualenv, fpm) that ships the venv every time.
// Writes bench/results/package-<date>.json and exits 0: it reports, it does not gate.
import { spawn, spawnSync } from "node:child_process";
import { connect } from "node:net";
import { appendFile, mkdir, readdir, rm, stat, writeFile } from "node:fs/promises";
import os from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { aptHost } from "../test/support/apt-host.js";
import { packagedApp } from "../test/support/package-app.js";
import { freePort } from "../test/support/supervisor.js";
import { DJANGO_DISTRIBUTIONS, ensureDjangoWheelhouse } from "../test/support/wheelhouse.js";
import { waitFor } from "../test/support/fleet/proc.js";
import { runProcess } from "./process.js";
import { runBench } from "./run.js";

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const CLI = join(REPO, "dist", "cli.js");
const RESULTS_DIR = join(REPO, "bench", "results");
const REPS = Math.max(1, Number(process.env["BENCH_PACKAGE_REPS"] ?? 3) || 3);
/**
 * Targets: `slipway package` within 1.5× of dpkg-deb alone on the same trees (what it adds:
 * starting up, checking the artifact, unpacking its layers, md5sums, scripts), and a code-only
 * upgrade downloading under 5 % of the venv package.
 */
const TARGETS = { overDpkgDeb: 1.5, upgradeOverVenv: 0.05 };

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const MB = (n: number) => `${(n / 1e6).toFixed(2)} MB`;
const KB = (n: number) => `${(n / 1e3).toFixed(1)} KB`;
const s = (n: number) => `${n.toFixed(2)} s`;

/** argv's wall time in seconds (bench/process.ts); a non-zero exit is an error. */
async function timedRun(argv: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<number> {
  const r = await runProcess(argv, opts);
  if (r.code !== 0) throw new Error(`${argv.join(" ")} exited ${r.code}: ${r.stderr || r.stdout}`);
  return r.seconds;
}

async function dirBytes(dir: string): Promise<number> {
  let n = 0;
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) if (e.isFile()) n += (await stat(join(e.parentPath, e.name))).size;
  return n;
}

/** Bytes of the .debs apt put in its cache (then emptied for the next measurement). */
async function fetched(archives: string): Promise<{ bytes: number; files: string[] }> {
  const files = (await readdir(archives)).filter((f) => f.endsWith(".deb"));
  let bytes = 0;
  for (const f of files) bytes += (await stat(join(archives, f))).size;
  for (const f of files) await rm(join(archives, f));
  return { bytes, files };
}

/** Whether something accepts a TCP connection on 127.0.0.1:port. */
function listening(port: number): Promise<true | undefined> {
  return new Promise((done) => {
    const c = connect(port, "127.0.0.1", () => {
      c.destroy();
      done(true);
    }).on("error", () => done(undefined));
  });
}

async function main(): Promise<void> {
  const wheelhouse = await ensureDjangoWheelhouse();
  const app = await packagedApp("bench-package", {
    // The hello app with a Django-sized venv: the wheelhouse's distributions as requirements.
    edit: (toml) => toml.replace(/^pip_args\s*=\s*\[/m, `pip_args = ["--find-links", ${JSON.stringify(wheelhouse)}, `),
    prepare: async (ws) => {
      await appendFile(join(ws.app, "requirements.txt"), `\n${DJANGO_DISTRIBUTIONS.join("\n")}\n`);
    },
  });
  const { ws } = app;
  try {
    const env = ws.env;
    const out = (label: string) => join(ws.dir, label);

    // 1. Package time, slipway against dpkg-deb of the same trees.
    const slipwayDeb: number[] = [];
    const slipwayRpm: number[] = [];
    // Cold: an empty cache each time, so the venv package is made. Warm: build 2 (code only)
    // after build 1 kept its venv package, as CI packages one commit after another.
    const coldEnv = (i: number, f: string) => ({ ...env, SLIPWAY_CACHE_DIR: join(ws.dir, `cold-cache-${f}-${i}`) });
    const slipwayDebWarm: number[] = [];
    const slipwayRpmWarm: number[] = [];
    for (let i = 0; i < REPS; i++) {
      slipwayDeb.push(
        await timedRun(["node", CLI, "package", app.artifacts["1"]!, "--format", "deb", "--out", out(`deb-${i}`)], { cwd: ws.app, env: coldEnv(i, "deb") }),
      );
      slipwayRpm.push(
        await timedRun(["node", CLI, "package", app.artifacts["1"]!, "--format", "rpm", "--out", out(`rpm-${i}`)], { cwd: ws.app, env: coldEnv(i, "rpm") }),
      );
      slipwayDebWarm.push(
        await timedRun(["node", CLI, "package", app.artifacts["2"]!, "--format", "deb", "--out", out(`deb-warm-${i}`)], {
          cwd: ws.app,
          env: coldEnv(i, "deb"),
        }),
      );
      slipwayRpmWarm.push(
        await timedRun(["node", CLI, "package", app.artifacts["2"]!, "--format", "rpm", "--out", out(`rpm-warm-${i}`)], {
          cwd: ws.app,
          env: coldEnv(i, "rpm"),
        }),
      );
    }
    const debs = (await readdir(out("deb-0"))).filter((f) => f.endsWith(".deb")).sort();
    const trees: string[] = [];
    for (const d of debs) {
      const tree = join(ws.dir, "trees", d);
      await mkdir(dirname(tree), { recursive: true });
      await timedRun(["dpkg-deb", "-R", join(out("deb-0"), d), tree]);
      trees.push(tree);
    }
    const dpkgDeb: number[] = [];
    for (let i = 0; i < REPS; i++) {
      let total = 0;
      for (const tree of trees) {
        const target = join(ws.dir, "baseline", `${i}-${trees.indexOf(tree)}.deb`);
        await mkdir(dirname(target), { recursive: true });
        total += await timedRun(["dpkg-deb", "--root-owner-group", "-Zxz", "-z6", "--build", tree, target], {
          env: { ...process.env, SOURCE_DATE_EPOCH: "1577836800" },
        });
      }
      dpkgDeb.push(total);
    }

    // 2. Sizes, and 3. what apt downloads: build 1 published and installed, then build 2 (code only).
    // apt fetches over HTTP from loopback, as from a mirror, so what it downloads lands in its cache.
    const port = await freePort();
    const hostDir = join(ws.dir, "host");
    const repoDir = join(hostDir, "apt-repo");
    await mkdir(repoDir, { recursive: true });
    const http = spawn("/usr/bin/python3", ["-m", "http.server", "--bind", "127.0.0.1", "--directory", repoDir, String(port)], { stdio: "ignore" });
    process.on("exit", () => http.kill());
    await waitFor(`the HTTP server of the apt repository on port ${port}`, 10_000, () => listening(port));
    const host = await aptHost(hostDir, { url: `http://127.0.0.1:${port}` });
    const packaged: Record<string, { kind: string; name: string; bytes: number }[]> = {};
    const downloads: Record<string, { bytes: number; files: string[] }> = {};
    for (const b of ["1", "2"]) {
      const r = spawnSync("node", [CLI, "--json", "package", app.artifacts[b]!, "--format", "deb", "--out", out(`debs-${b}`), "--apt-repo", host.repo], {
        cwd: ws.app,
        env,
        encoding: "utf8",
      });
      if (r.status !== 0) throw new Error(`slipway package (build ${b}) exited ${r.status}: ${r.stderr}`);
      packaged[b] = (JSON.parse(r.stdout.trim().split("\n").at(-1)!) as { packages: { kind: string; name: string; bytes: number }[] }).packages;
      let a = host.apt("update");
      if (a.code !== 0) throw new Error(`apt-get update: ${a.out}`);
      a = host.apt("install", "hello");
      if (a.code !== 0) throw new Error(`apt-get install (build ${b}): ${a.out}`);
      const served = await app.served();
      if (served !== b) throw new Error(`after installing build ${b}, the app serves ${String(served)}`);
      downloads[b] = await fetched(host.archives);
    }
    const size = (b: string, kind: string) => packaged[b]!.find((p) => p.kind === kind)!.bytes;
    const upgrade = downloads["2"]!;
    const venvBytes = await dirBytes(join(app.root, "virtualenvs"));

    const result = {
      machine: { cpus: os.cpus().length, load: os.loadavg() },
      reps: REPS,
      venv_bytes_on_disk: venvBytes,
      package_seconds: {
        slipway_deb: median(slipwayDeb),
        dpkg_deb_same_trees: median(dpkgDeb),
        overhead_deb: median(slipwayDeb) - median(dpkgDeb),
        ratio_deb: median(slipwayDeb) / median(dpkgDeb),
        slipway_rpm: median(slipwayRpm),
        code_only_deb: median(slipwayDebWarm),
        code_only_rpm: median(slipwayRpmWarm),
        all: { slipway_deb: slipwayDeb, dpkg_deb: dpkgDeb, slipway_rpm: slipwayRpm, code_only_deb: slipwayDebWarm, code_only_rpm: slipwayRpmWarm },
      },
      package_bytes: {
        venv: size("1", "venv"),
        release: size("1", "release"),
        meta: size("1", "meta"),
        release_over_venv: size("1", "release") / size("1", "venv"),
        venv_same_for_build_2: size("2", "venv") === size("1", "venv") && packaged["2"]![0]!.name === packaged["1"]![0]!.name,
      },
      apt_bytes: {
        install_build_1: downloads["1"]!.bytes,
        upgrade_to_build_2: upgrade.bytes,
        upgrade_files: upgrade.files,
        one_package_per_build: size("2", "venv") + size("2", "release"),
        upgrade_over_one_package: upgrade.bytes / (size("2", "venv") + size("2", "release")),
        upgrade_over_venv: upgrade.bytes / size("2", "venv"),
      },
    };
    const pass = {
      overhead: result.package_seconds.ratio_deb <= TARGETS.overDpkgDeb,
      upgrade: result.apt_bytes.upgrade_over_venv <= TARGETS.upgradeOverVenv && !upgrade.files.some((f) => f.includes("-venv-")),
    };
    const verdict = (ok: boolean) => (ok ? "PASS" : "FAIL");
    console.log(
      `machine: ${result.machine.cpus} CPUs, load ${result.machine.load.map((l) => l.toFixed(2)).join(" ")}; venv ${MB(venvBytes)} on disk; ${REPS} reps`,
    );
    console.log("");
    console.log("package time (median)");
    console.log(`  slipway package --format deb   ${s(result.package_seconds.slipway_deb)}`);
    console.log(
      `  dpkg-deb --build, same trees   ${s(result.package_seconds.dpkg_deb_same_trees)}   (slipway ${result.package_seconds.ratio_deb.toFixed(2)}×)`,
    );
    console.log(`  slipway package --format rpm   ${s(result.package_seconds.slipway_rpm)}`);
    console.log(`  code-only build, venv package kept: deb ${s(result.package_seconds.code_only_deb)}, rpm ${s(result.package_seconds.code_only_rpm)}`);
    console.log("package sizes (deb)");
    console.log(`  venv ${MB(result.package_bytes.venv)}   release ${KB(result.package_bytes.release)}   meta ${KB(result.package_bytes.meta)}`);
    console.log(
      `  release / venv = ${(result.package_bytes.release_over_venv * 100).toFixed(2)} %; build 2's venv package is build 1's: ${result.package_bytes.venv_same_for_build_2}`,
    );
    console.log("apt downloads");
    console.log(`  install build 1                ${MB(result.apt_bytes.install_build_1)}`);
    console.log(`  upgrade to build 2 (code only) ${KB(result.apt_bytes.upgrade_to_build_2)}   (${upgrade.files.join(", ")})`);
    console.log(
      `  one package per build would be ${MB(result.apt_bytes.one_package_per_build)}   (slipway ${(result.apt_bytes.upgrade_over_one_package * 100).toFixed(2)} % of it)`,
    );
    console.log("");
    console.log(
      `${verdict(pass.overhead)}  slipway package ${result.package_seconds.ratio_deb.toFixed(2)}× dpkg-deb alone <= ${TARGETS.overDpkgDeb}× (slipway's own ${s(result.package_seconds.overhead_deb)})`,
    );
    console.log(
      `${verdict(pass.upgrade)}  a code-only upgrade downloads no venv package, ${(result.apt_bytes.upgrade_over_venv * 100).toFixed(2)} % of the venv package <= ${TARGETS.upgradeOverVenv * 100} %`,
    );
    await mkdir(RESULTS_DIR, { recursive: true });
    const file = join(RESULTS_DIR, `package-${new Date().toISOString().replace(/[:.]/g, "-")}.json`);
    await writeFile(file, `${JSON.stringify({ ...result, targets: TARGETS, pass }, null, 2)}\n`);
    console.log(`\nwritten ${file}`);
  } finally {
    app.sup.stop();
  }
}

runBench(main);
