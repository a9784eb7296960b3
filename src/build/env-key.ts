import type { Config } from "../config/schema.js";
import { probeInterpreter, type PythonInfo } from "./interpreter.js";
import { collectInputs, type KeyInput } from "./requirements.js";
import { venvKey } from "./venv-key.js";

export interface EnvKey {
  key: string;
  interpreter: PythonInfo;
  inputs: KeyInput[];
}

/** Ask the interpreter, hash the requirement inputs, and derive the venv key for this config. */
export async function computeEnvKey(config: Config, appDir: string, configFile: string, env: NodeJS.ProcessEnv): Promise<EnvKey> {
  const interpreter = await probeInterpreter(config.app.python, env);
  const inputs = await collectInputs(appDir, config.build.requirements, configFile);
  const key = venvKey({ root: config.app.root, python: config.app.python, interpreter, pipArgs: config.build.pip_args, inputs });
  return { key, interpreter, inputs };
}
