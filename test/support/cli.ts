// Run the built CLI (dist/cli.js) as a user would, capturing its output and exit code.
import { spawnSync } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const CLI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..", "dist", "cli.js");

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
  /** stdout parsed as JSON lines (with --json). */
  json: () => Record<string, unknown>[];
}

export function slipway(args: string[], opts: { cwd: string; env?: NodeJS.ProcessEnv; prefix?: string[] }): CliRun {
  const argv = [...(opts.prefix ?? []), process.execPath, CLI, ...args];
  const r = spawnSync(argv[0]!, argv.slice(1), { cwd: opts.cwd, env: opts.env ?? process.env, encoding: "utf8", timeout: 300_000 });
  return {
    code: r.status ?? -1,
    stdout: r.stdout,
    stderr: r.stderr,
    json: () =>
      r.stdout
        .trim()
        .split("\n")
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}
