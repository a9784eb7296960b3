import { existsSync } from "node:fs";
import path from "node:path";
import { EnvironmentError, CommandFailedError } from "../errors.js";
import { run } from "../util/exec.js";

/**
 * The files git would commit from the app dir: tracked ones plus untracked ones that no
 * .gitignore (or .git/info/exclude, or core.excludesFile) ignores, as paths relative to the
 * app dir. Undefined when the app dir is not inside a git work tree.
 *
 * A directory that looks like a repository but that git refuses to read (not installed, or
 * "dubious ownership") is an error, not "outside git": falling back to a plain walk there
 * would ship what the user's .gitignore keeps out — a local .env, a .venv.
 */
export async function gitFiles(appDir: string, env: NodeJS.ProcessEnv): Promise<string[] | undefined> {
  // One git process on the usual path; why it failed is asked only when it did.
  const out = await git(appDir, env, ["ls-files", "-z", "--cached", "--others", "--exclude-standard", "--", "."]).catch((err: unknown) => err as Error);
  if (out instanceof Error) return notListed(appDir, env, out);
  const files = out.split("\0").filter(Boolean);
  if (files.length === 0) {
    throw new EnvironmentError(
      `git lists no file under ${appDir}: nothing would be in the code layer`,
      "commit the app's files (or stop ignoring them: `git check-ignore -v <file>` says which .gitignore line does)",
    );
  }
  // ls-files repeats a path with unmerged stages; keep one of each.
  return [...new Set(files)];
}

/** ls-files failed: outside git (undefined), or a repository git cannot read (an error). */
async function notListed(appDir: string, env: NodeJS.ProcessEnv, listing: Error): Promise<undefined> {
  const inside = await git(appDir, env, ["rev-parse", "--is-inside-work-tree"]).catch((err: unknown) => err as Error);
  if (inside instanceof Error) {
    const repo = enclosingRepo(appDir);
    if (!repo) return undefined;
    // (git's last lines are its advice; "dubious ownership" is on the first.)
    throw new EnvironmentError(
      `${repo} is a git repository, but git cannot read it: ${reason(inside)}`,
      /dubious ownership/.test(inside instanceof CommandFailedError ? inside.output : inside.message)
        ? `run the build as the repository's owner, or mark it safe: git config --global --add safe.directory ${repo}`
        : "install git (slipway builds the code layer from what git would commit, so .gitignore is honoured)",
    );
  }
  if (inside.trim() !== "true") return undefined;
  throw listing;
}

async function git(cwd: string, env: NodeJS.ProcessEnv, args: string[]): Promise<string> {
  // -c core.quotePath: names as they are (with -z they are never quoted anyway).
  return (await run(["git", "-c", "core.quotePath=false", ...args], { cwd, env, step: "git", keep: 4096 })).stdout;
}

function reason(err: Error): string {
  const text = err instanceof CommandFailedError ? err.output || err.message : String(err);
  return text
    .split("\n")
    .map((l) => l.trim())
    .filter(Boolean)
    .slice(-2)
    .join(" ");
}

/** The nearest dir at or above `dir` holding a `.git` (a dir, or a file for worktrees and submodules). */
function enclosingRepo(dir: string): string | undefined {
  for (let d = path.resolve(dir); ; d = path.dirname(d)) {
    if (existsSync(path.join(d, ".git"))) return d;
    if (path.dirname(d) === d) return undefined;
  }
}
