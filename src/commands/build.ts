import { createReadStream } from "node:fs";
import { mkdtemp, rm, mkdir } from "node:fs/promises";
import { pipeline } from "node:stream/promises";
import os from "node:os";
import path from "node:path";
import { loadConfig } from "../config/load.js";
import { silent, throttledProgress, timed, type Emit } from "../events.js";
import { computeEnvKey } from "../build/env-key.js";
import { planInstall } from "../build/install-plan.js";
import { ensureVenv } from "../build/venv.js";
import { cacheDir, ensureVenvLayer, restoreVenvFromCache } from "../build/layer-cache.js";
import { stageTree } from "../build/stage.js";
import { excludeMatcher, walkTree, type Matcher, type TreeEntry } from "../build/tree.js";
import { CODE_LAYER_WARN_BYTES, largest } from "../util/largest.js";
import { runSteps } from "../build/steps.js";
import { minifyTree } from "../build/minify.js";
import { resolveBuildId } from "../build/build-id.js";
import { gitInfo, type GitInfo } from "../build/git.js";
import { gitFiles } from "../build/git-files.js";
import { findSecrets, SecretsError } from "../build/secrets.js";
import { pyprojectOf, pyprojectRequirements } from "../build/pyproject.js";
import { installProject } from "../build/install-project.js";
import { NON_GIT_EXCLUDE } from "../config/schema.js";
import { writeLayer, type LayerStats } from "../artifact/layer-writer.js";
import { LAYER_SUFFIX } from "../artifact/compress.js";
import { ARTIFACT_FORMAT, artifactFileName, manifestSchema, serializeManifest, type LayerInfo, type Manifest } from "../artifact/manifest.js";
import { writeArtifact } from "../artifact/pack.js";
import { checkLayer, rulesFor } from "../artifact/entries.js";
import { CheckedLayers } from "../artifact/checked-layers.js";
import { loadPrivateKey, resolveKeyPath, type LoadedKey } from "../artifact/keys.js";
import { signManifest } from "../artifact/signature.js";
import { dottedPath } from "../config/toml.js";
import { ConfigError, SlipwayError, UsageError } from "../errors.js";
import { VERSION } from "../version.js";

export interface BuildOptions {
  /** Where to look for the config (and what relative flags are relative to). */
  cwd: string;
  configPath?: string;
  buildId?: string;
  /** Output directory; default build.out, relative to the app dir. */
  out?: string;
  /** Private key file to sign the manifest with (relative to cwd); default build.signing_key. */
  sign?: string;
  /** Refuse to build from a git work tree with changes not committed (exit 2). */
  requireClean?: boolean;
  env?: NodeJS.ProcessEnv;
  emit?: Emit;
  now?: Date;
}

export interface BuildResult {
  artifact: string;
  sha256: string;
  size: number;
  build_id: string;
  app: string;
  venv: { key: string; path: string; cache: "hit" | "miss" | "restored" };
  venv_layer_cache: "hit" | "miss";
  layers: Record<"code" | "venv", LayerStats>;
  /** The key id that signed the manifest, if it was signed. */
  signed_by?: string;
  timings_ms: Record<string, number>;
}

/** 1980-01-01: the layer mtime when neither SOURCE_DATE_EPOCH nor a git commit gives one. */
const FALLBACK_EPOCH = 315_532_800;

export async function build(opts: BuildOptions): Promise<BuildResult> {
  const emit = opts.emit ?? silent;
  const env = opts.env ?? process.env;
  const timings: Record<string, number> = {};
  const phase = async <T>(name: Parameters<typeof timed>[1], body: () => Promise<T>, detail?: (r: T) => string) => {
    const { result, ms } = await timed(emit, name, body, detail);
    timings[name] = (timings[name] ?? 0) + ms;
    return result;
  };

  const { config, file: configFile, appDir } = await phase("config", () => loadConfig({ cwd: opts.cwd, configPath: opts.configPath }));
  const { app, build: cfg } = config;
  // git's answers are asked side by side (three git processes at once, not five one after another).
  const listing = gitFiles(appDir, env);
  listing.catch(() => {}); // awaited below; a failure before then must not go unhandled
  const git = await gitInfo(appDir, env);
  if (opts.requireClean) requireClean(git, appDir);
  const now = opts.now ?? new Date();
  const buildId = resolveBuildId(opts.buildId, env, now, git?.commit.slice(0, 7));
  const outDir = opts.out ? path.resolve(opts.cwd, opts.out) : path.resolve(appDir, cfg.out);
  // Inside git the code layer starts from what git would commit; outside, from a walk that
  // leaves out what a .gitignore usually would.
  const tracked = await phase(
    "files",
    () => listing,
    (f) => (f ? `${f.length} files from git` : "not a git work tree"),
  );
  const exclude = withoutOutput(excludeMatcher(tracked ? cfg.exclude : [...cfg.exclude, ...NON_GIT_EXCLUDE]), appDir, outDir);
  // Read the key before the long part of the build, so a bad one fails in a second.
  const signingKey = await signingKeyFor(opts, cfg.signing_key, appDir, emit);

  // Dependencies slipway cannot read fail here, in a second, not after the venv is made.
  const bare = planInstall(cfg.requirements).some((s) => s.kind === "pyproject-dependencies");
  const pyproject = bare || cfg.install_project ? await pyprojectOf(appDir, cfg.requirements) : undefined;
  if (pyproject && bare) pyprojectRequirements(pyproject.info, pyproject.rel);
  const project = cfg.install_project && pyproject?.info.installable ? pyproject.info : undefined;

  const { key, interpreter, inputs } = await phase(
    "interpreter",
    () => computeEnvKey(config, appDir, configFile, env),
    (k) => `${k.interpreter.implementation} ${k.interpreter.version} ${k.interpreter.abi}, venv key ${k.key}`,
  );

  const work = await mkdtemp(path.join(os.tmpdir(), `slipway-build-${app.name}-`));
  try {
    const stage = (dest: string) =>
      stageTree({ appDir, include: cfg.include, exclude, dest, configFile, gitFiles: tracked, includeIgnored: cfg.include_ignored });
    // pip's own scratch copies are never shipped: they hold every file, ignored ones too (a
    // gitignored wheelhouse that pip_args or a requirement names), less a local venv.
    const scratchExclude = withoutOutput(excludeMatcher([...cfg.exclude, ...NON_GIT_EXCLUDE]), appDir, outDir);
    const scratch = async (name: string) => {
      const dest = path.join(work, name);
      await stageTree({ appDir, include: cfg.include, exclude: scratchExclude, dest, configFile });
      return dest;
    };
    const venv = await phase(
      "venv",
      () =>
        ensureVenv({
          root: app.root,
          key,
          python: app.python,
          pipArgs: cfg.pip_args,
          sources: planInstall(cfg.requirements),
          scratchTree: () => scratch("pip-tree"),
          restore: (dir) => restoreVenvFromCache(dir, key, cfg.compression, env),
          env,
          emit,
        }),
      (v) => `${v.cache} ${key}${v.summary ? ` — ${v.summary}` : ""}`,
    );
    emit({ type: "venv", key, path: venv.path, cache: venv.cache });
    const venvLayer = await phase(
      "venv-layer",
      () => ensureVenvLayer(venv.path, key, cfg.compression, env, emit),
      (l) => `${l.cache}, ${l.stats.size} bytes`,
    );

    const tree = path.join(work, "tree");
    await phase(
      "stage",
      () => stage(tree),
      (e) => `${e.length} entries`,
    );
    const stepEnv = {
      ...env,
      PATH: `${path.join(venv.path, "bin")}:${env["PATH"] ?? ""}`,
      VIRTUAL_ENV: venv.path,
      PYTHONHOME: undefined,
      SLIPWAY_APP: app.name,
      SLIPWAY_BUILD_ID: buildId,
      SLIPWAY_ROOT: app.root,
    };
    if (project) {
      await phase(
        "project",
        async () =>
          installProject({
            python: path.join(venv.path, "bin", "python"),
            source: await scratch("project-src"),
            tree,
            scratch: path.join(work, "project-site"),
            project,
            pipArgs: cfg.pip_args,
            env: { ...env, VIRTUAL_ENV: venv.path, PYTHONHOME: undefined },
            emit,
          }),
        (r) => `${project.name ?? "the project"} installed at the release's top: ${r.added.join(", ") || "nothing new"}`,
      );
    }
    const minify = () =>
      phase(
        "minify",
        async () => minifyTree(tree, await walkTree(tree, exclude), cfg.minify, cacheDir(env)),
        (m) => `${m.files} files (${m.cached} cached), ${m.bytesBefore} → ${m.bytesAfter} bytes`,
      );
    if (cfg.minify_when === "before-steps") await minify();
    if (cfg.steps.length) await phase("steps", () => runSteps(cfg.steps, tree, stepEnv, emit));
    if (cfg.minify_when === "after-steps") await minify();

    const mtime = new Date(1000 * sourceDateEpoch(env, git?.time));
    const codeFile = path.join(work, `code${LAYER_SUFFIX[cfg.compression]}`);
    const codeLayer = await phase(
      "code-layer",
      async () => {
        const entries = await walkTree(tree, exclude);
        rejectLinkedInLayer(config.deploy.linked_files, entries, configFile);
        const secrets = await findSecrets(tree, entries, cfg.allow);
        if (secrets.length) throw new SecretsError(secrets);
        warnIfLarge(entries, emit);
        const progress = throttledProgress(
          emit,
          "code-layer",
          "bytes",
          entries.reduce((n, e) => n + e.size, 0),
        );
        const stats = await writeLayer({ dir: tree, entries, mtime, compression: cfg.compression, out: codeFile, onProgress: progress.update });
        progress.flush();
        return stats;
      },
      (s) => `${s.files} entries, ${s.size} bytes, sha256 ${s.sha256.slice(0, 12)}`,
    );

    const manifest: Manifest = {
      format: ARTIFACT_FORMAT,
      app: app.name,
      build_id: buildId,
      created_at: now.toISOString(),
      git: git ? { commit: git.commit, dirty: git.dirty } : null,
      root: app.root,
      env: { key, python: { ...interpreter, configured: app.python }, inputs },
      layers: [layerInfo("code", codeLayer), layerInfo("venv", venvLayer.stats)],
      builder: { slipway_version: VERSION, hostname: os.hostname() },
    };
    checkManifest(manifest);
    const manifestBytes = serializeManifest(manifest);
    await mkdir(outDir, { recursive: true });
    const artifact = await phase(
      "artifact",
      async () => {
        // What deploy would refuse is refused here, where the fix is: a new venv layer and every code layer.
        const checked = new CheckedLayers(cacheDir(env));
        await checkBuiltLayer(manifest, manifest.layers[0]!, codeFile, checked);
        if (venvLayer.cache === "miss") await checkBuiltLayer(manifest, manifest.layers[1]!, venvLayer.file, checked);
        return writeArtifact(
          path.join(outDir, artifactFileName(app.name, buildId)),
          {
            manifest: manifestBytes,
            signature: signingKey && signManifest(manifestBytes, signingKey.key),
            layers: [
              [manifest.layers[0]!.member, codeFile],
              [manifest.layers[1]!.member, venvLayer.file],
            ],
          },
          mtime,
        );
      },
      (a) => `${a.path} (${a.size} bytes)${signingKey ? `, signed by key ${signingKey.id}` : ""}`,
    );
    return {
      artifact: artifact.path,
      sha256: artifact.sha256,
      size: artifact.size,
      build_id: buildId,
      app: app.name,
      venv: { key, path: venv.path, cache: venv.cache },
      venv_layer_cache: venvLayer.cache,
      layers: { code: codeLayer, venv: venvLayer.stats },
      ...(signingKey ? { signed_by: signingKey.id } : {}),
      timings_ms: timings,
    };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** A linked file (deploy.linked_files) comes from <root>/shared on each host: the release must not hold one of its own. */
function rejectLinkedInLayer(linked: readonly string[], entries: readonly TreeEntry[], configFile: string): void {
  const problems = linked.flatMap((f, i) =>
    entries.some((e) => e.rel === f)
      ? [
          {
            file: configFile,
            path: `deploy.linked_files[${i}]`,
            message: `${f} is in the code layer too: each host links <root>/shared/${f} there`,
            hint: `remove ${f} from the repository (or add it to .gitignore / build.exclude), or from deploy.linked_files`,
          },
        ]
      : [],
  );
  if (problems.length) throw new ConfigError(problems);
}

function warnIfLarge(entries: readonly TreeEntry[], emit: Emit): void {
  const total = entries.reduce((n, e) => n + e.size, 0);
  if (total <= CODE_LAYER_WARN_BYTES) return;
  const top = largest(
    entries.filter((e) => e.type === "file"),
    5,
  )
    .map((f) => `${f.rel} (${f.size} bytes)`)
    .join(", ");
  emit({
    type: "log",
    level: "warn",
    message: `the code layer holds ${total} bytes (over ${CODE_LAYER_WARN_BYTES}): every deploy sends it; largest: ${top} — leave what hosts need not have out with build.exclude or .gitignore`,
  });
}

function requireClean(git: GitInfo | undefined, appDir: string): void {
  if (!git) throw new UsageError(`--require-clean: ${appDir} is not in a git work tree with a commit`, "build from a git checkout, or drop --require-clean");
  if (git.dirty) {
    throw new UsageError(
      `--require-clean: ${appDir} has changes that are not committed (git status lists them)`,
      "commit or stash them, or add the files to .gitignore — the artifact must be what the commit says",
    );
  }
}

function signingKeyFor(opts: BuildOptions, configured: string, appDir: string, emit: Emit): Promise<LoadedKey | undefined> {
  if (opts.sign) return loadPrivateKey(path.resolve(opts.cwd, opts.sign), "--sign", emit);
  if (configured) return loadPrivateKey(resolveKeyPath(configured, appDir), "build.signing_key", emit);
  return Promise.resolve(undefined);
}

/** The manifest must pass the checks every reader applies (limits, names), or the artifact is useless. */
function checkManifest(m: Manifest): void {
  const parsed = manifestSchema.safeParse(m);
  if (parsed.success) return;
  const issue = parsed.error.issues[0]!;
  throw new SlipwayError(
    `the manifest of this build would be refused: ${dottedPath(issue.path) || "(top)"} ${issue.message}`,
    "see docs/security.md for what an artifact may hold",
  );
}

/** Entry-check a layer this build wrote; a pass is recorded, so deploying it here does not unpack it again. */
async function checkBuiltLayer(m: Manifest, layer: LayerInfo, file: string, checked: CheckedLayers): Promise<void> {
  const rules = rulesFor(m, layer);
  const check = checkLayer(layer.compression, rules);
  await pipeline(createReadStream(file), check.input);
  try {
    await checked.record(layer.sha256, rules, await check.result);
  } catch (err) {
    const fix =
      layer.name === "code"
        ? "exclude it in build.exclude, or change it in the app (see docs/security.md)"
        : "the virtualenv holds something hosts refuse (see docs/security.md); fix the package that installs it";
    throw new SlipwayError(`the ${layer.name} layer would be refused by deploy: ${(err as Error).message}`, fix);
  }
}

function layerInfo(name: "code" | "venv", s: LayerStats): Manifest["layers"][number] {
  const member = `${name}${LAYER_SUFFIX[s.compression]}` as Manifest["layers"][number]["member"];
  return { name, member, compression: s.compression, sha256: s.sha256, size: s.size, unpacked_size: s.unpacked_size, files: s.files };
}

/** The output dir and slipway's own work dir never go into the code layer. */
function withoutOutput(exclude: Matcher, appDir: string, outDir: string): Matcher {
  const outRel = path.relative(appDir, outDir).split(path.sep).join("/");
  const inside = outRel !== "" && !outRel.startsWith("..") && !path.isAbsolute(outRel);
  return (rel) => exclude(rel) || rel === ".slipway" || (inside && (rel === outRel || rel.startsWith(`${outRel}/`)));
}

function sourceDateEpoch(env: NodeJS.ProcessEnv, commitTime?: number): number {
  const sde = Number(env["SOURCE_DATE_EPOCH"]);
  if (env["SOURCE_DATE_EPOCH"] && Number.isInteger(sde) && sde >= 0) return sde;
  return commitTime || FALLBACK_EPOCH;
}
