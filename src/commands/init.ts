import { existsSync } from "node:fs";
import { readdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { UsageError } from "../errors.js";
import { parseConfig } from "../config/load.js";
import { detectApp, renderConfig, type DetectedApp } from "../config/init-template.js";

export interface InitOptions {
  cwd: string;
  /** Overwrite an existing slipway.toml. */
  force?: boolean;
}

export interface InitResult {
  file: string;
  detected: DetectedApp;
}

/** Write a commented slipway.toml for the app in `cwd`, from what is found there. */
export async function init(opts: InitOptions): Promise<InitResult> {
  const file = path.join(opts.cwd, "slipway.toml");
  if (existsSync(file) && !opts.force) {
    throw new UsageError(`${file} already exists`, "edit it, or pass --yes to overwrite it");
  }
  const detected = detectApp(opts.cwd, await readdir(opts.cwd));
  const text = renderConfig(detected);
  parseConfig(text, file); // the template must always be a valid config
  await writeFile(file, text);
  return { file, detected };
}
