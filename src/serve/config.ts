/**
 * slipway-server.toml: the apps a deploy server serves, who may do what from chat, and where
 * chat secrets come from (environment variables or files, never the config itself).
 */
import { readFile } from "node:fs/promises";
import path from "node:path";
import * as z from "zod";
import { ConfigError } from "../errors.js";
import { APP_NAME, DURATION, TARGET_NAME } from "../config/patterns.js";
import { parseTomlWithLines } from "../config/toml.js";
import { issuesToProblems } from "../config/validate.js";
import { ROLES, type Grant } from "./model.js";

export const SERVER_CONFIG_FILE = "slipway-server.toml";

/** "deployer:ledger/prod", "viewer:*", "admin:ledger" (target * when omitted). */
const GRANT = /^(viewer|deployer|admin):([a-z0-9][a-z0-9._-]{0,63}|\*)(?:\/([a-z0-9][a-z0-9._-]{0,63}|\*))?$/;

export function parseGrant(text: string): Grant | undefined {
  const m = GRANT.exec(text);
  if (!m) return undefined;
  return { role: m[1] as Grant["role"], app: m[2]!, target: m[3] ?? "*" };
}

const grant = z.string().refine((s) => parseGrant(s) !== undefined, {
  message: `a grant is ROLE:APP[/TARGET], ROLE one of ${ROLES.join(", ")}, APP and TARGET a name or *`,
});

const secretSource = {
  /** Name of an environment variable holding the secret. */
  env: z
    .string()
    .regex(/^[A-Z_][A-Z0-9_]*$/)
    .optional(),
  /** A file holding the secret (mode 0600 recommended). */
  file: z.string().optional(),
};

export const serverConfigSchema = z.strictObject({
  server: z
    .strictObject({
      listen: z.string().default("127.0.0.1:8780").describe("host:port the server listens on"),
      data: z.string().default(".slipway-server").describe("Directory of the SQLite database and the artifact store (relative to this file)"),
      public_url: z.string().url().optional().describe("The server's URL as users reach it: links in chat replies"),
      ssh_idle: z.string().regex(DURATION).default("10m").describe("How long a host's ssh connection stays open after its last use"),
      max_upload: z
        .string()
        .regex(/^[0-9]+(k|M|G)?$/)
        .default("4G")
        .describe("Largest artifact accepted"),
      trust_proxy: z.boolean().default(false).describe("Take the client address from X-Forwarded-For (behind a reverse proxy)"),
    })
    .prefault({}),
  apps: z.record(
    z.string().regex(APP_NAME, "an app name: lowercase letters, digits, . _ -"),
    z.strictObject({
      config: z.string().describe("The app's slipway.toml, relative to this file"),
      targets: z
        .record(
          z.string().regex(TARGET_NAME),
          z.strictObject({
            confirm: z.boolean().default(false).describe("Chat and the dashboard ask for a confirmation before deploying here"),
          }),
        )
        .prefault({}),
      webhook: z
        .strictObject({
          url: z.string().url(),
          secret_env: secretSource.env,
          secret_file: secretSource.file,
        })
        .optional()
        .describe("Signed POST (X-Slipway-Signature: sha256=…) when a deploy starts and ends"),
    }),
  ),
  users: z
    .record(
      z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/),
      z.strictObject({
        slack: z.string().optional().describe("Slack user id (U…)"),
        mattermost: z.string().optional().describe("Mattermost user id or username"),
        grants: z.array(grant).default([]),
      }),
    )
    .prefault({}),
  chat: z
    .strictObject({
      slack: z
        .strictObject({
          signing_secret_env: secretSource.env,
          signing_secret_file: secretSource.file,
        })
        .optional(),
      mattermost: z
        .strictObject({
          token_env: secretSource.env,
          token_file: secretSource.file,
        })
        .optional(),
    })
    .prefault({}),
});

export type ServerConfig = z.infer<typeof serverConfigSchema>;

export interface LoadedServerConfig {
  config: ServerConfig;
  file: string;
  dir: string;
  /** Absolute paths. */
  dataDir: string;
  appConfigs: Record<string, string>;
}

export async function loadServerConfig(file: string, overrides: { data?: string; listen?: string } = {}): Promise<LoadedServerConfig> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    throw new ConfigError(
      [{ file, path: "", message: `cannot read: ${(err as Error).message}` }],
      "write a slipway-server.toml (docs/serve.md) or pass --config",
    );
  }
  return resolveServerConfig(parseServerConfig(text, file), file, overrides);
}

export function parseServerConfig(text: string, file: string): ServerConfig {
  const { value, lines } = parseTomlWithLines(text, file);
  const result = serverConfigSchema.safeParse(value);
  if (!result.success) throw new ConfigError(issuesToProblems(result.error.issues, serverConfigSchema, value, file, lines, []));
  return result.data;
}

export function resolveServerConfig(config: ServerConfig, file: string, overrides: { data?: string; listen?: string } = {}): LoadedServerConfig {
  const dir = path.dirname(path.resolve(file));
  if (overrides.listen) config.server.listen = overrides.listen;
  const dataDir = path.resolve(overrides.data ?? path.resolve(dir, config.server.data));
  const appConfigs = Object.fromEntries(Object.entries(config.apps).map(([name, a]) => [name, path.resolve(dir, a.config)]));
  return { config, file: path.resolve(file), dir, dataDir, appConfigs };
}

/** A secret from its environment variable or file; undefined when neither is set. */
export async function readSecret(source: { env?: string; file?: string }, baseDir: string): Promise<string | undefined> {
  if (source.env) {
    const v = process.env[source.env];
    if (v) return v;
  }
  if (source.file) return (await readFile(path.resolve(baseDir, source.file), "utf8")).trim();
  return undefined;
}
