/**
 * `slipway package ARTIFACT --format deb`: the artifact as three OS packages that reproduce the
 * host layout of `slipway deploy` (docs/packages.md):
 *   <app>-venv-<key>        <root>/virtualenvs/<key>, once per venv key;
 *   <app>-release-<build>   <root>/releases/<build> (manifest, completion mark, links), side by
 *                           side with other builds', depending on its venv package;
 *   <app>                   versioned from the build id, depending on the release package; its
 *                           postinst switches `current` as a deploy does (scripts.ts).
 * The artifact is checked as `deploy` checks it first (config, signature, every layer).
 */
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, rm, stat } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { checkAgainstConfig } from "../artifact/admit.js";
import { readHead } from "../artifact/read.js";
import { verifyArtifact } from "../artifact/verify.js";
import type { Manifest } from "../artifact/manifest.js";
import { loadConfig } from "../config/load.js";
import type { Config } from "../config/schema.js";
import { ConfigError, UsageError } from "../errors.js";
import { silent, timed, type Emit } from "../events.js";
import { debArchitecture, rpmArchitecture } from "./control.js";
import { publishApt } from "./apt-repo.js";
import { buildDeb } from "./deb.js";
import type { PackageFormat } from "./names.js";
import { planPackages, type PackagePlan } from "./plan.js";
import type { PackageKind } from "./lintian.js";
import { keep, takeCached, venvPackageKey } from "./venv-cache.js";
import { buildRpm } from "./rpm.js";
import { stageRelease, stageVenv } from "./stage.js";
import { publishYum } from "./yum-repo.js";
import { mkdirs, writeExtras } from "./tree.js";

export interface PackageOptions {
  cwd: string;
  configPath?: string;
  artifact: string;
  format: PackageFormat;
  /** Where the packages go (default: beside the artifact). */
  out?: string;
  /** Also publish them into this apt repository (apt-repo.ts; deb only). */
  aptRepo?: string;
  /** Also publish them into this yum repository (yum-repo.ts; rpm only). */
  yumRepo?: string;
  /** For the cache dir (SLIPWAY_CACHE_DIR, XDG_CACHE_HOME), where the venv package is kept per content. */
  env?: NodeJS.ProcessEnv;
  emit?: Emit;
}

export interface BuiltPackage {
  kind: PackageKind;
  name: string;
  version: string;
  file: string;
  bytes: number;
}

export interface PackageResult {
  app: string;
  build_id: string;
  format: PackageFormat;
  packages: BuiltPackage[];
  /** The apt or yum repository they were published into, and the files it gained. */
  apt_repo?: string;
  yum_repo?: string;
  published?: string[];
}

export async function packageArtifact(opts: PackageOptions): Promise<PackageResult> {
  const emit = opts.emit ?? silent;
  if (opts.format !== "deb" && opts.format !== "rpm") throw new UsageError(`--format ${JSON.stringify(opts.format)}: expected deb or rpm`, "e.g. --format deb");
  if (opts.aptRepo && opts.format !== "deb") throw new UsageError("--apt-repo takes .deb packages", "use it with --format deb");
  if (opts.yumRepo && opts.format !== "rpm") throw new UsageError("--yum-repo takes .rpm packages", "use it with --format rpm");
  const file = path.resolve(opts.cwd, opts.artifact);
  if (!existsSync(file)) throw new UsageError(`${opts.artifact}: no such file`, "give the path of a .tar built by `slipway build`");
  const { config, appDir, file: configFile } = await loadConfig({ cwd: opts.cwd, configPath: opts.configPath });
  const restart = config.package?.restart;
  if (!restart) {
    throw new ConfigError(
      [{ file: configFile, path: "package.restart", message: "is missing: the packages' postinst must restart the app after switching current" }],
      'add [package.restart] with manager = "supervisord", "systemd" or "command" (or "none" if nothing needs a restart)',
    );
  }
  if (!config.package?.maintainer) {
    throw new ConfigError(
      [{ file: configFile, path: "package.maintainer", message: "is missing: every package names its maintainer" }],
      'e.g. maintainer = "Ops Team <ops@example.com>"',
    );
  }
  const needs = { supervisord: "programs", systemd: "programs", command: "command", none: "" }[restart.manager];
  const missing =
    needs === "programs"
      ? restart.programs.length === 0 && !(restart.manager === "systemd" && config.package?.systemd)
      : needs === "command" && !restart.command;
  if (missing) {
    throw new ConfigError([{ file: configFile, path: `package.restart.${needs}`, message: `is empty, and manager = "${restart.manager}" needs it` }]);
  }
  const head = await readHead(file);
  const m = head.manifest;
  await checkAgainstConfig(file, head, config, appDir);
  await timed(emit, "verify", () => verifyArtifact(file, { head }));

  const outDir = path.resolve(opts.cwd, opts.out ?? path.dirname(file));
  await mkdir(outDir, { recursive: true });
  const work = await mkdtemp(path.join(os.tmpdir(), "slipway-package-"));
  try {
    const packages = (
      await timed(emit, "package", () => buildPackages(file, m, head.manifestBytes, config, opts.format, work, outDir, opts.env ?? process.env, emit))
    ).result;
    const result: PackageResult = { app: m.app, build_id: m.build_id, format: opts.format, packages };
    if (opts.aptRepo) {
      const repo = path.resolve(opts.cwd, opts.aptRepo);
      result.published = await publishApt(
        repo,
        packages.map((p) => p.file),
        debArchitecture(m.env.python.platform),
        m.app,
      );
      result.apt_repo = repo;
      emit({ type: "log", level: "info", message: `apt repository ${repo}: ${result.published.length} package(s) added` });
    }
    if (opts.yumRepo) {
      const repo = path.resolve(opts.cwd, opts.yumRepo);
      result.published = await publishYum(
        repo,
        packages.map((p) => p.file),
      );
      result.yum_repo = repo;
      emit({ type: "log", level: "info", message: `yum repository ${repo}: ${result.published.length} package(s) added` });
    }
    return result;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** Stage each planned package's tree and build it in the format asked for. */
async function buildPackages(
  file: string,
  m: Manifest,
  manifestBytes: Buffer,
  config: Config,
  format: PackageFormat,
  work: string,
  outDir: string,
  env: NodeJS.ProcessEnv,
  emit: Emit,
): Promise<BuiltPackage[]> {
  const plan = planPackages(m, config, format);
  if (plan.warning) emit({ type: "log", level: "warn", message: plan.warning });
  const maintainer = config.package!.maintainer!;
  const root = m.root.replace(/^\/+/, "");
  const stageOf = async (kind: PackageKind): Promise<{ stage: string; dir: string }> => {
    if (kind === "venv") return stageVenv(file, m, path.join(work, "venv"));
    if (kind === "release") return stageRelease(file, m, manifestBytes, config, path.join(work, "release"));
    const stage = path.join(work, "meta");
    await mkdirs(stage, "usr/share");
    if (plan.meta.unit) await writeExtras(stage, [{ name: plan.meta.unit.path, type: "file", content: Buffer.from(plan.meta.unit.text), mode: 0o644 }]);
    return { stage, dir: "" };
  };
  const arch = format === "deb" ? debArchitecture(m.env.python.platform) : rpmArchitecture(m.env.python.platform);
  const venvKey = venvPackageKey({ format, plan: plan.venv, arch, maintainer, layerSha256: m.layers.find((l) => l.name === "venv")!.sha256 });

  const make = async (p: PackagePlan, { stage, dir }: { stage: string; dir: string }): Promise<string> => {
    if (format === "deb")
      return buildDeb(
        {
          stage,
          kind: p.kind,
          root,
          systemd: p.systemd,
          epoch: p.epoch,
          change: p.change,
          control: {
            package: p.name,
            version: p.version,
            architecture: p.archAll ? "all" : arch,
            maintainer,
            depends: p.depends,
            section: p.kind === "meta" ? "metapackages" : "misc",
            priority: "optional",
            summary: p.summary,
            description: p.description,
          },
          scripts: p.scripts,
        },
        outDir,
      );
    return buildRpm(
      {
        name: p.name,
        version: p.version,
        arch: p.archAll ? "noarch" : arch,
        packager: maintainer,
        summary: p.summary,
        description: p.description,
        requires: p.depends,
        stage,
        files: dir ? [`/${dir}`] : p.unit ? [`/${p.unit.path}`] : [],
        scripts: { post: p.scripts.postinst, preun: p.scripts.prerm, postun: p.scripts.postrm },
        epoch: p.epoch,
        change: p.change,
      },
      work,
      outDir,
    );
  };

  const built: BuiltPackage[] = [];
  for (const p of [plan.venv, plan.release, plan.meta]) {
    const cached = p.kind === "venv" ? await takeCached(env, venvKey, outDir) : undefined;
    const out = cached ?? (await make(p, await stageOf(p.kind)));
    if (p.kind === "venv" && !cached) await keep(env, venvKey, out);
    const bytes = (await stat(out)).size;
    built.push({ kind: p.kind, name: p.name, version: p.version, file: out, bytes });
    emit({
      type: "log",
      level: "info",
      message: `${p.kind} package ${p.name} ${p.version}: ${path.basename(out)} (${bytes} bytes${cached ? ", kept from an earlier build of this venv" : ""})`,
    });
  }
  return built;
}
