import { execFile } from "node:child_process";
import { promisify } from "node:util";

const execFileAsync = promisify(execFile);
// Environment for running pip/python in tests, independent of the developer's
// or CI's pip configuration (PIP_FIND_LINKS, PIP_INDEX_URL, ...).

/** The system interpreter the example app and fixtures are built with. */
export const PYTHON = "/usr/bin/python3";

/**
 * A copy of process.env with every PIP_* variable and PYTHONDONTWRITEBYTECODE
 * removed, pip's config files ignored and prompts disabled, plus `extra`.
 */
export function pythonEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (key.startsWith("PIP_") || key === "PYTHONDONTWRITEBYTECODE") continue;
    env[key] = value;
  }
  env.PIP_CONFIG_FILE = "/dev/null";
  env.PIP_NO_INPUT = "1";
  return { ...env, ...extra };
}

/** Run argv (pythonEnv unless `env` is given) and resolve its stdout; a failure says what ran and what it printed. */
export async function execText(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<string> {
  try {
    const { stdout } = await execFileAsync(cmd, args, { env: pythonEnv(), maxBuffer: 64 << 20, ...opts });
    return stdout;
  } catch (err) {
    const e = err as Error & { stdout?: string; stderr?: string };
    throw new Error(`${cmd} ${args.join(" ")} failed:\n${e.stdout ?? ""}${e.stderr ?? e.message}`);
  }
}
