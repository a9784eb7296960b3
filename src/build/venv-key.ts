import { sha256 } from "../util/hash.js";
import type { PythonInfo } from "./interpreter.js";
import type { KeyInput } from "./requirements.js";

/** Bump when the way a venv is built changes its bytes, so old cached venvs are not reused. */
export const VENV_KEY_FORMAT = 2; // 2: hash-based .pyc files (venv.ts VENV_SOURCE_DATE_EPOCH)

export interface VenvKeyParts {
  root: string;
  /** The interpreter as configured: the venv's bin/python links to this path. */
  python: string;
  interpreter: PythonInfo;
  pipArgs: readonly string[];
  inputs: readonly KeyInput[];
}

/** The venv key: a hash of everything that changes the venv's bytes, and of nothing else. Pure. */
export function venvKey(parts: VenvKeyParts): string {
  const canonical = JSON.stringify({
    format: VENV_KEY_FORMAT,
    root: parts.root,
    python: parts.python,
    interpreter: {
      executable: parts.interpreter.executable,
      implementation: parts.interpreter.implementation,
      version: parts.interpreter.version,
      abi: parts.interpreter.abi,
      platform: parts.interpreter.platform,
    },
    pip_args: parts.pipArgs,
    inputs: parts.inputs.map((i) => [i.path, i.sha256]),
  });
  return sha256(canonical).slice(0, 16);
}
