// Build an app through the library, as the CLI does, recording its events.
import { build, type BuildResult } from "../../src/commands/build.js";
import type { SlipwayEvent } from "../../src/events.js";
import { copyExampleApp, tmpDir } from "./tmp.js";
import { pythonEnv } from "./env.js";
import { ensureWheelhouse } from "./wheelhouse.js";

export interface Workspace {
  dir: string;
  app: string;
  root: string;
  cache: string;
  wheelhouse: string;
  env: NodeJS.ProcessEnv;
}

/** A fresh copy of the example app with its own root, slipway cache and offline pip args. */
export async function exampleWorkspace(prefix = "slipway-it"): Promise<Workspace> {
  const dir = await tmpDir(prefix);
  const wheelhouse = await ensureWheelhouse();
  const root = `${dir}/root`;
  const app = await copyExampleApp("hello", `${dir}/app`, { root, pipArgs: ["--no-index", "--find-links", wheelhouse] });
  const cache = `${dir}/cache`;
  return { dir, app, root, cache, wheelhouse, env: pythonEnv({ SLIPWAY_CACHE_DIR: cache }) };
}

export async function buildWith(ws: Workspace, buildId: string, extra: { env?: NodeJS.ProcessEnv } = {}) {
  const events: SlipwayEvent[] = [];
  const result: BuildResult = await build({ cwd: ws.app, env: extra.env ?? ws.env, buildId, emit: (e) => events.push(e) });
  return { result, events };
}
