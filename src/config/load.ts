import { readFile } from "node:fs/promises";
import { existsSync } from "node:fs";
import path from "node:path";
import { ConfigError } from "../errors.js";
import { configSchema, type Config } from "./schema.js";
import { dottedPath, parseTomlWithLines } from "./toml.js";
import { issuesToProblems, lineOf } from "./validate.js";
import { checkRules, toConfigProblems } from "./rules.js";
import { checkRoleShape, resolveRoles } from "./roles.js";

export interface LoadedConfig {
  config: Config;
  /** The file the config came from. */
  file: string;
  /** The app's directory: where the config file lives; relative config paths start here. */
  appDir: string;
}

/** Find and load the config: --config PATH, else ./slipway.toml, else [tool.slipway] in ./pyproject.toml. */
export async function loadConfig(opts: { cwd: string; configPath?: string }): Promise<LoadedConfig> {
  const file = findConfigFile(opts.cwd, opts.configPath);
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    throw new ConfigError([{ file, path: "", message: `cannot read: ${(err as Error).message}` }]);
  }
  const isPyproject = path.basename(file) === "pyproject.toml";
  return { config: parseConfig(text, file, isPyproject), file, appDir: path.dirname(file) };
}

function findConfigFile(cwd: string, configPath?: string): string {
  if (configPath) return path.resolve(cwd, configPath);
  const toml = path.join(cwd, "slipway.toml");
  if (existsSync(toml)) return toml;
  const pyproject = path.join(cwd, "pyproject.toml");
  if (existsSync(pyproject)) return pyproject;
  throw new ConfigError(
    [{ file: toml, path: "", message: "no slipway.toml here, and no pyproject.toml with [tool.slipway]" }],
    "run `slipway init` to write one, or pass --config PATH",
  );
}

/** Parse and validate config text. `pyproject` reads the [tool.slipway] table. Pure. */
export function parseConfig(text: string, file: string, pyproject = false): Config {
  const { value, lines } = parseTomlWithLines(text, file);
  const prefix = pyproject ? ["tool", "slipway"] : [];
  const raw = pyproject ? (value["tool"] as Record<string, unknown> | undefined)?.["slipway"] : value;
  if (raw === undefined) {
    throw new ConfigError(
      [{ file, path: "tool.slipway", message: "pyproject.toml has no [tool.slipway] table" }],
      "add [tool.slipway.app] with name and root, or run `slipway init`",
    );
  }
  const result = configSchema.safeParse(raw);
  if (!result.success) {
    const problems = issuesToProblems(result.error.issues, configSchema, raw, file, lines, prefix);
    throw new ConfigError(problems.sort((a, b) => (a.line ?? 0) - (b.line ?? 0)));
  }
  const shape = checkRoleShape(result.data);
  const config = resolveRoles(result.data);
  // Rules read the resolved roles: checked once the shape (hosts or roles, each once) is right.
  const ruleProblems = shape.some((p) => p.fatal) ? shape : [...shape, ...checkRules(config)];
  if (ruleProblems.length > 0) {
    const at = (p: (string | number)[]) => lineOf(lines, [...prefix, ...p]);
    const problems = toConfigProblems(ruleProblems, file, at, dottedPath);
    throw new ConfigError(problems.sort((a, b) => (a.line ?? 0) - (b.line ?? 0)));
  }
  return config;
}
