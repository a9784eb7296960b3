import os from "node:os";
import path from "node:path";

/**
 * slipway's cache dir on this machine: $SLIPWAY_CACHE_DIR, else $XDG_CACHE_HOME/slipway, else
 * ~/.cache/slipway. Its own module (node:os and node:path only), so the CLI's launcher can
 * find the code cache without loading the build code.
 */
export function cacheDir(env: NodeJS.ProcessEnv): string {
  if (env["SLIPWAY_CACHE_DIR"]) return env["SLIPWAY_CACHE_DIR"];
  const base = env["XDG_CACHE_HOME"] || path.join(os.homedir(), ".cache");
  return path.join(base, "slipway");
}
