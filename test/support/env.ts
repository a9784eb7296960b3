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
