import { cp, readdir, rm } from "node:fs/promises";
import { existsSync } from "node:fs";
import path from "node:path";
import type { Emit } from "../events.js";
import { run } from "../util/exec.js";
import type { PyprojectInfo } from "./pyproject.js";

export interface InstallProjectRequest {
  /** The venv's python (pip runs from it; its packages are what the project's imports see). */
  python: string;
  /** A scratch copy of the app to build from: setuptools writes egg-info and build/ into it. */
  source: string;
  /** The release tree; the project's package lands at its top. */
  tree: string;
  /** An empty dir pip installs into first. */
  scratch: string;
  project: PyprojectInfo;
  pipArgs: readonly string[];
  env: NodeJS.ProcessEnv;
  emit: Emit;
}

/**
 * Install the app's own package (`pip install --no-deps --target`) and move what pip wrote to
 * the top of the release tree: the release dir is where processes start (gunicorn, celery,
 * manage.py, `python -m` all put it on sys.path), so a src-layout package imports from a
 * release with no configuration, and the venv stays a function of the dependencies alone.
 * A name already at the top (a flat-layout package, its own source) is left as it is.
 * Console scripts (bin/) are not installed: run them with `python -m`.
 */
export async function installProject(req: InstallProjectRequest): Promise<{ added: string[] }> {
  const onLine = (line: string) => req.emit({ type: "output", phase: "project", line });
  const argv = [req.python, "-m", "pip", "install", "--no-deps", "--no-compile", "--target", req.scratch, ...req.pipArgs, req.source];
  await run(argv, { cwd: req.source, env: req.env, onLine, step: `pip install of the project (${req.project.name ?? "pyproject.toml"})` });
  const added: string[] = [];
  for (const name of (await readdir(req.scratch)).sort()) {
    if (name === "bin" || existsSync(path.join(req.tree, name))) continue;
    await cp(path.join(req.scratch, name), path.join(req.tree, name), { recursive: true, verbatimSymlinks: true });
    added.push(name);
  }
  await rm(req.scratch, { recursive: true, force: true });
  return { added };
}
