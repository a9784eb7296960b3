import { mkdir, rm, writeFile, access, readFile, constants } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { EnvironmentError, SlipwayError } from "../errors.js";
import type { Emit } from "../events.js";
import { run } from "../util/exec.js";
import { isErrno } from "../util/fs.js";
import type { InstallSource } from "./install-plan.js";
import { withBuildLock } from "./lock.js";
import { pyprojectRequirements, readPyproject } from "./pyproject.js";

/** Written last: a venv without it is incomplete (a build died) and is rebuilt. */
export const COMPLETE_MARKER = ".slipway-complete";

export interface VenvRequest {
  root: string;
  key: string;
  python: string;
  pipArgs: readonly string[];
  sources: readonly InstallSource[];
  /** A scratch copy of the app tree for pip to run in (local packages build in-tree). */
  scratchTree: () => Promise<string>;
  env: NodeJS.ProcessEnv;
  emit: Emit;
  /** Used when the venv is missing: fill it from the cached layer instead of running pip. */
  restore?: (venvDir: string) => Promise<boolean>;
}

export interface VenvResult {
  path: string;
  cache: "hit" | "miss" | "restored";
  /** pip's summary line ("Successfully installed ..."), on a miss. */
  summary?: string;
}

export function venvPath(root: string, key: string): string {
  return path.join(root, "virtualenvs", key);
}

/** The venv for `key`, at its production path: reused when complete, else (re)built. */
export async function ensureVenv(req: VenvRequest): Promise<VenvResult> {
  const parent = path.join(req.root, "virtualenvs");
  await ensureWritable(req.root, parent);
  const dir = venvPath(req.root, req.key);
  const marker = path.join(dir, COMPLETE_MARKER);
  const reason = `another build is creating venv ${req.key}; waiting for it to finish`;
  return withBuildLock(path.join(parent, `.${req.key}.lock`), { phase: "venv", emit: req.emit, reason }, async () => {
    if (await exists(marker)) return { path: dir, cache: "hit" };
    await rm(dir, { recursive: true, force: true });
    if (req.restore && (await req.restore(dir))) {
      await writeMarker(marker, req.key);
      return { path: dir, cache: "restored" };
    }
    try {
      const summary = await createVenv(req, dir);
      await writeMarker(marker, req.key);
      return { path: dir, cache: "miss", summary };
    } catch (err) {
      await rm(dir, { recursive: true, force: true });
      throw err;
    }
  });
}

/**
 * SOURCE_DATE_EPOCH for the venv's build, unless the user set one: with it, Python's py_compile
 * (which pip and ensurepip use) writes hash-based .pyc files (PEP 552, checked-hash), valid
 * whatever the sources' mtimes. Timestamp-based ones are not: the venv layer stores mtime 0 (and
 * a host unpacks it so), so every Python process on a host would find them stale and compile
 * the imported modules again in memory (about 1 s for Django and Celery), or, as root, rewrite
 * the venv. 1980-01-01: the earliest a zip (a wheel pip builds) can record.
 */
export const VENV_SOURCE_DATE_EPOCH = "315532800";

function venvBuildEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return env["SOURCE_DATE_EPOCH"] ? env : { ...env, SOURCE_DATE_EPOCH: VENV_SOURCE_DATE_EPOCH };
}

async function createVenv(req: VenvRequest, dir: string): Promise<string | undefined> {
  const onLine = (line: string) => req.emit({ type: "output", phase: "venv", line });
  const buildEnv = venvBuildEnv(req.env);
  await run([req.python, "-m", "venv", dir], { env: buildEnv, onLine, step: "create venv" });
  const cwd = await req.scratchTree();
  const reqArgs = await requirementArgs(req.sources, cwd, req.env);
  const pip = [path.join(dir, "bin", "python"), "-m", "pip", "install", ...req.pipArgs, ...reqArgs];
  const env = { ...buildEnv, VIRTUAL_ENV: dir, PATH: `${path.join(dir, "bin")}:${req.env["PATH"] ?? ""}` };
  const { stdout } = await run(pip, { cwd, env, onLine, step: "pip install" });
  return stdout
    .split("\n")
    .reverse()
    .find((l) => l.startsWith("Successfully installed"));
}

/** Turn install sources into pip -r arguments, exporting lock files first. */
async function requirementArgs(sources: readonly InstallSource[], cwd: string, env: NodeJS.ProcessEnv): Promise<string[]> {
  const args: string[] = [];
  let n = 0;
  for (const src of sources) {
    if (src.kind === "requirements") args.push("-r", src.file);
    else if (src.kind === "unsupported") throw new SlipwayError(`cannot install from ${src.file}`, src.hint);
    else {
      const file = path.join(cwd, `.slipway-requirements-${n++}.txt`);
      if (src.kind === "export") {
        const { stdout } = await run(src.argv, { cwd, env, step: `${src.tool} export` });
        await writeFile(file, stdout);
      } else {
        const info = await readPyproject(path.join(cwd, src.file));
        await writeFile(file, pyprojectRequirements(info, src.file).join("\n") + "\n");
      }
      args.push("-r", file);
    }
  }
  return args;
}

async function writeMarker(marker: string, key: string): Promise<void> {
  await writeFile(marker, JSON.stringify({ key, completed_at: new Date().toISOString(), host: os.hostname() }) + "\n");
}

async function ensureWritable(root: string, dir: string): Promise<void> {
  try {
    await mkdir(dir, { recursive: true });
    await access(dir, constants.W_OK);
  } catch (err) {
    if (!isErrno(err, "EACCES", "EPERM", "EROFS")) throw err;
    const user = os.userInfo().username;
    throw new EnvironmentError(
      `${root} is not writable by ${user}: the venv must be built at its production path ${dir}`,
      `run \`sudo mkdir -p ${root} && sudo chown ${user} ${root}\` on this build machine`,
    );
  }
}

async function exists(p: string): Promise<boolean> {
  return access(p).then(
    () => true,
    () => false,
  );
}
