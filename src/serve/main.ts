/**
 * What the CLI's `serve` commands run: find the server config (./slipway-server.toml, or, in
 * an app's directory without one, that app alone), then start the server or manage tokens.
 */
import { existsSync } from "node:fs";
import path from "node:path";
import { loadConfig } from "../config/load.js";
import { ConfigError } from "../errors.js";
import { loadServerConfig, resolveServerConfig, SERVER_CONFIG_FILE, serverConfigSchema, type LoadedServerConfig } from "./config.js";

export interface ServeFlags {
  cwd: string;
  config?: string;
  listen?: string;
  data?: string;
}

export async function findServerConfig(f: ServeFlags): Promise<LoadedServerConfig> {
  const overrides = { data: f.data ? path.resolve(f.cwd, f.data) : undefined, listen: f.listen };
  if (f.config) return loadServerConfig(path.resolve(f.cwd, f.config), overrides);
  const file = path.join(f.cwd, SERVER_CONFIG_FILE);
  if (existsSync(file)) return loadServerConfig(file, overrides);
  // No server config: serve the app whose slipway.toml is here.
  const app = await loadConfig({ cwd: f.cwd }).catch((err: unknown) => {
    throw new ConfigError(
      [{ file, path: "", message: `no ${SERVER_CONFIG_FILE} here, and no app config to serve alone (${(err as Error).message.split("\n")[0]})` }],
      "write a slipway-server.toml listing your apps (docs/serve.md), or run `slipway serve` in an app's directory",
    );
  });
  const config = serverConfigSchema.parse({ apps: { [app.config.app.name]: { config: path.relative(f.cwd, app.file) || app.file } } });
  return resolveServerConfig(config, file, overrides);
}
