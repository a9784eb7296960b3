import { z } from "zod";
import {
  APP_NAME,
  BATCH_PERCENT,
  BUILD_ID,
  COMMAND_NAME,
  DURATION,
  PATH_CHARS,
  SAFE_ABSOLUTE_PATH,
  SSH_DESTINATION,
  TARGET_NAME,
} from "./patterns.js";

/*
 * The configuration contract (SPEC §2). Every key carries its description and default:
 * docs/configuration.md and docs/slipway.schema.json are generated from this file.
 */

const duration = z
  .string()
  .regex(DURATION, { error: 'expected a duration such as "500ms", "35s" or "2m"' });

const absolutePath = z
  .string()
  .refine((p) => p.startsWith("/"), { error: "must be an absolute path (start with /)" })
  .refine((p) => !p.split("/").includes(".."), { error: "must not contain .. components" });

const relativeGlob = z.string().min(1, { error: "must not be empty" });
const command = z.string().min(1, { error: "must not be empty" });

export const appSchema = z.strictObject({
  name: z
    .string()
    .regex(APP_NAME, {
      error: "must match [a-z0-9][a-z0-9._-]{0,63}: lower-case letters, digits, . _ -",
    })
    .describe("The application's name; used in artifact names and lock details."),
  root: absolutePath
    .refine((p) => p !== "/" && !p.endsWith("/"), { error: "must not be / or end with /" })
    // It is an argument of every host step and a line of their output: plain names only.
    .refine((p) => PATH_CHARS.test(p) && !/\/\/|(^|\/)\.(\/|$)/.test(p), {
      error: "may hold only letters, digits and . _ - + @ = , ~ between single slashes (no spaces or . components)",
    })
    .describe(
      "Absolute directory of the app on every host, and on the build machine: the virtualenv is built at <root>/virtualenvs/<key>.",
    ),
  python: z
    .string()
    .min(1)
    .refine((p) => p === "" || SAFE_ABSOLUTE_PATH.test(p) || COMMAND_NAME.test(p), {
      error: "must be an absolute path of plain names, such as /usr/bin/python3.11 (or a command name)",
    })
    .default("/usr/bin/python3")
    .describe("Interpreter that builds the venv; must exist, same version/ABI, on every host."),
});

export const DEFAULT_EXCLUDE = [".git", "**/__pycache__", "*.pyc", "node_modules", ".slipway"];

export const buildSchema = z.strictObject({
  requirements: z
    .array(relativeGlob)
    .prefault(["requirements.txt"])
    .describe(
      "Inputs hashed into the venv key and installed: requirements files (following -r/-c), or pyproject.toml with uv.lock / poetry.lock / pylock.toml.",
    ),
  pip_args: z
    .array(z.string())
    .prefault([])
    .describe('Extra arguments for pip install, e.g. ["--no-index", "--find-links", "wheelhouse"]. Part of the venv key.'),
  include: z.array(relativeGlob).prefault(["."]).describe("Paths (relative to the app) that go into the code layer."),
  exclude: z
    .array(relativeGlob)
    .prefault(DEFAULT_EXCLUDE)
    .describe("Glob patterns left out of the code layer. A pattern without / matches a name at any depth."),
  steps: z
    .array(command)
    .prefault([])
    .describe("Shell commands run in order in the staging copy, venv first on PATH (e.g. collectstatic)."),
  minify: z
    .array(relativeGlob)
    .prefault([])
    .describe("Globs of .js and .css files minified in place (esbuild) in the staging copy, after steps."),
  compression: z.enum(["zstd", "gzip"]).default("zstd").describe("Layer compression."),
  out: z.string().min(1).default("dist").describe("Directory the artifact is written to (relative to the app)."),
  signing_key: z
    .string()
    .default("")
    .describe("Optional ed25519 private key file (PEM, from `slipway keygen`) used to sign the manifest; relative to the config's directory. `--sign` overrides it."),
});

export const migrationsSchema = z.strictObject({
  check: z.string().default("").describe("Command listing pending migrations; its output is shown before the switch."),
  run: z.string().default("").describe("Command applying migrations: once per deploy, on the first host, before any switch."),
  policy: z
    .enum(["warn", "block", "run"])
    .default("warn")
    .describe('"warn" shows pending ones; "block" refuses to switch while any are pending; "run" runs `run`.'),
});

export const hooksSchema = z.strictObject({
  before_switch: z.array(command).prefault([]).describe("Commands run in the new release dir on each host before the switch."),
  after_switch: z.array(command).prefault([]).describe("Commands run in the new release dir on each host after the switch."),
});

export const deploySchema = z.strictObject({
  keep_releases: z.int().min(1).max(1000).default(5).describe("Releases kept per host (current and previous always kept)."),
  trusted_keys: z
    .array(z.string().min(1))
    .prefault([])
    .describe("Public key files (PEM, the .pub from `slipway keygen`), relative to the config's directory; non-empty ⇒ deploy refuses artifacts not signed by one of them."),
  shared: z
    .array(
      z
        .string()
        .regex(/^[A-Za-z0-9_][A-Za-z0-9._-]*(\/[A-Za-z0-9_][A-Za-z0-9._-]*)*$/, {
          error: "must be a relative path of plain names (no .., no leading /)",
        }),
    )
    .prefault([])
    .describe("Directories under <root>/shared linked into every release at the same relative path."),
  migrations: migrationsSchema.prefault({}),
  hooks: hooksSchema.prefault({}),
});

const sshSchema = z.strictObject({
  config: z.string().default("").describe("ssh_config file passed with -F (empty: ssh's default)."),
  identity: z.string().default("").describe("Identity file passed with -i."),
  known_hosts: z.string().default("").describe("UserKnownHostsFile; host keys stay strictly checked."),
  options: z.array(z.string().regex(/^[A-Za-z]+=.*$/, { error: 'must look like "Name=value"' })).prefault([])
    .describe('Extra ssh -o options, e.g. ["ConnectTimeout=5"].'),
});

const restartSchema = z.strictObject({
  manager: z.enum(["supervisord", "systemd", "command"]).default("command").describe("How the app is restarted."),
  programs: z.array(z.string().regex(/^[A-Za-z0-9_.:@-]+$/, { error: "must be a program or unit name" })).prefault([])
    .describe("supervisord programs or systemd units to restart."),
  conf: z.string().default("").describe("supervisord config file (supervisorctl -c)."),
  command: z.string().default("").describe('Restart command for manager = "command".'),
  scope: z.enum(["system", "user"]).default("system").describe('systemd only: "user" manages the deploy user\'s units (systemctl --user).'),
  action: z
    .enum(["restart", "reload"])
    .default("restart")
    .describe('systemd only: "reload" for units whose ExecReload starts the new release (a plain HUP to gunicorn does not).'),
});

const healthSchema = z.strictObject({
  url: z.string().default("").describe("URL polled on the host after restart; 2xx = healthy."),
  command: z.string().default("").describe("Alternative to url for workers: a command that exits 0 when healthy."),
  timeout: duration.default("30s").describe("How long to wait for healthy."),
});

const haproxySchema = z.strictObject({
  socket: z.string().min(1).describe('Runtime API: a unix socket path, or "tcp:HOST:PORT".'),
  host: z.string().default("local").describe('Where the socket is: an ssh destination, or "local".'),
  backend: z.string().min(1).describe("Backend name in HAProxy."),
  servers: z.record(z.string(), z.string().min(1)).prefault({}).describe("Host → HAProxy server name."),
  drain_timeout: duration.default("35s").describe("Wait at most this long for in-flight requests before restarting."),
});

const BATCH_ERROR = 'must be a host count (1 or more) or a percentage from 1% to 100% like "25%"';

export const targetSchema = z.strictObject({
  hosts: z
    .array(z.string().regex(SSH_DESTINATION, { error: "must be an ssh destination like deploy@app-01 or deploy@app-02:2222" }))
    .min(1, { error: "needs at least one host" })
    .describe("ssh destinations ([user@]host[:port]); for transport local, a label."),
  transport: z.enum(["ssh", "local"]).default("ssh").describe('"ssh", or "local" for this machine without ssh.'),
  batch: z
    .union([z.int().min(1), z.string().regex(BATCH_PERCENT, { error: BATCH_ERROR })], { error: BATCH_ERROR })
    .default(1)
    .describe('Hosts switched at a time: a count or a percentage such as "25%".'),
  on_failure: z.enum(["rollback-all", "stop"]).default("rollback-all").describe("What to do with already-switched hosts when one fails."),
  ssh: sshSchema.prefault({}),
  restart: restartSchema.prefault({}),
  health: healthSchema.prefault({}),
  haproxy: z
    .union([haproxySchema, z.array(haproxySchema).min(1)])
    .optional()
    .describe("Drain each host in HAProxy before its restart. A table, or an array of tables when several load balancers front the backend."),
});

export const configSchema = z.strictObject({
  app: appSchema,
  build: buildSchema.prefault({}),
  deploy: deploySchema.prefault({}),
  targets: z
    .record(z.string().regex(TARGET_NAME, { error: "target names must match [a-z0-9][a-z0-9._-]{0,63}" }), targetSchema)
    .prefault({})
    .describe("Named deploy targets."),
});

export type Config = z.infer<typeof configSchema>;
export type TargetConfig = z.infer<typeof targetSchema>;
export type BuildConfig = z.infer<typeof buildSchema>;
export type HaproxyConfig = z.infer<typeof haproxySchema>;
export { BUILD_ID };
