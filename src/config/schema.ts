import * as z from "zod";
import {
  APP_NAME,
  BATCH_PERCENT,
  BUILD_ID,
  COMMAND_NAME,
  DURATION,
  PATH_CHARS,
  SAFE_ABSOLUTE_PATH,
  SSH_DESTINATION,
  ROLE_NAME,
  TARGET_NAME,
} from "./patterns.js";

/*
 * The configuration contract (SPEC §2). Every key carries its description and default:
 * docs/configuration.md and docs/slipway.schema.json are generated from this file.
 */

const duration = z.string().regex(DURATION, { error: 'expected a duration such as "500ms", "35s" or "2m"' });

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
    .describe("Absolute directory of the app on every host, and on the build machine: the virtualenv is built at <root>/virtualenvs/<key>."),
  python: z
    .string()
    .min(1)
    .refine((p) => p === "" || SAFE_ABSOLUTE_PATH.test(p) || COMMAND_NAME.test(p), {
      error: "must be an absolute path of plain names, such as /usr/bin/python3.11 (or a command name)",
    })
    .default("/usr/bin/python3")
    .describe("Interpreter that builds the venv; must exist, same version/ABI, on every host."),
});

/** A relative path of plain names: an argument of host steps and a name under <root>/shared. */
const PLAIN_RELATIVE = /^[A-Za-z0-9_][A-Za-z0-9._-]*(\/[A-Za-z0-9_][A-Za-z0-9._-]*)*$/;
/** The same, where a name may start with a dot (.env), but no component is . or .. */
const PLAIN_RELATIVE_DOTS = /^(?!\.\.?(\/|$))[A-Za-z0-9_.][A-Za-z0-9._-]*(\/(?!\.\.?(\/|$))[A-Za-z0-9_.][A-Za-z0-9._-]*)*$/;
const PLAIN_RELATIVE_OR_EMPTY = /^$|^[A-Za-z0-9_][A-Za-z0-9._-]*(\/[A-Za-z0-9_][A-Za-z0-9._-]*)*$/;

export const DEFAULT_EXCLUDE = [".git", "**/__pycache__", "*.pyc", "node_modules", ".slipway"];
/** Left out outside git too, where no .gitignore says so: a local venv, secrets, a dev database. */
export const NON_GIT_EXCLUDE = [".venv", "venv", ".env", "*.sqlite3"];

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
    .describe(
      "Glob patterns left out of the code layer. A pattern without / matches a name at any depth. Inside a git work tree the layer starts from what git would commit (tracked files, and untracked ones no .gitignore ignores); outside git, .venv, venv, .env and *.sqlite3 are left out too.",
    ),
  include_ignored: z
    .array(relativeGlob)
    .prefault([])
    .describe(
      "Paths (relative to the app) that .gitignore ignores but the code layer needs, e.g. assets compiled before the build; taken whole, minus exclude.",
    ),
  allow: z
    .array(relativeGlob)
    .prefault([])
    .describe(
      "Paths (globs from the app's top) let through the secrets guard: a build fails when the code layer would hold a file that looks like a secret (.env, *.pem, *.key, id_rsa, a private key block…).",
    ),
  steps: z.array(command).prefault([]).describe("Shell commands run in order in the staging copy, venv first on PATH (e.g. collectstatic)."),
  minify: z.array(relativeGlob).prefault([]).describe("Globs of .js and .css files minified in place (esbuild) in the staging copy (see minify_when)."),
  minify_when: z
    .enum(["after-steps", "before-steps"])
    .default("after-steps")
    .describe(
      'When minify runs: "after-steps" (on what the steps produced), or "before-steps" (on the sources, so that a step such as Django\'s collectstatic fingerprints and serves the minified bytes).',
    ),
  install_project: z
    .boolean()
    .default(true)
    .describe(
      "When requirements names a pyproject.toml of an installable project, install the project itself (pip --no-deps) at the top of the release, so its package imports from the release dir (src layout too) while the venv depends on the dependencies alone.",
    ),
  compression: z.enum(["zstd", "gzip"]).default("zstd").describe("Layer compression."),
  out: z.string().min(1).default("dist").describe("Directory the artifact is written to (relative to the app)."),
  signing_key: z
    .string()
    .default("")
    .describe(
      "Optional ed25519 private key file (PEM, from `slipway keygen`) used to sign the manifest; relative to the config's directory. `--sign` overrides it.",
    ),
});

export const migrationsSchema = z.strictObject({
  check: z.string().default("").describe("Command listing pending migrations; its output is shown before the switch."),
  run: z.string().default("").describe("Command applying migrations: once per deploy, on the first host, before any switch."),
  policy: z
    .enum(["warn", "block", "run"])
    .default("warn")
    .describe('"warn" shows pending ones; "block" refuses to switch while any are pending; "run" runs `run`.'),
  role: z.string().default("").describe("The role whose first host checks and runs migrations (default: the target's first role)."),
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
    .describe(
      "Public key files (PEM, the .pub from `slipway keygen`), relative to the config's directory; non-empty ⇒ deploy refuses artifacts not signed by one of them.",
    ),
  shared: z
    .array(
      z.string().regex(PLAIN_RELATIVE, {
        error: "must be a relative path of plain names (no .., no leading /)",
      }),
    )
    .prefault([])
    .describe("Directories under <root>/shared linked into every release at the same relative path."),
  linked_files: z
    .array(z.string().regex(PLAIN_RELATIVE_DOTS, { error: "must be a relative path of plain names (no . or .. components, no leading /)" }))
    .prefault([])
    .describe(
      "Files under <root>/shared linked into every release at the same relative path (e.g. .env, config/local.py); a deploy refuses (exit 3) a host that lacks one, and a build whose code layer holds one.",
    ),
  assets: z
    .string()
    .regex(PLAIN_RELATIVE_OR_EMPTY, { error: "must be a relative path of plain names (no .., no leading /), or empty" })
    .default("")
    .describe(
      "The release's directory of fingerprinted static files (e.g. staticfiles): before any host switches, each host's current release gains the new release's files it lacks, and the new release those of the releases it replaces (hard links, add only), so a page from either version finds its assets on every host.",
    ),
  migrations: migrationsSchema.prefault({}),
  hooks: hooksSchema.prefault({}),
});

const sshSchema = z.strictObject({
  config: z.string().default("").describe("ssh_config file passed with -F (empty: ssh's default)."),
  identity: z.string().default("").describe("Identity file passed with -i."),
  known_hosts: z.string().default("").describe("UserKnownHostsFile; host keys stay strictly checked."),
  options: z
    .array(z.string().regex(/^[A-Za-z]+=.*$/, { error: 'must look like "Name=value"' }))
    .prefault([])
    .describe(
      'Extra ssh -o options, e.g. ["ConnectTimeout=5"]. They win over slipway\'s own: ConnectTimeout=10, ServerAliveInterval=5 and ServerAliveCountMax=2 (a host silent for 15 s is lost).',
    ),
  step_timeout: duration
    .default("30m")
    .describe(
      "Deadline for one command on a host, counted from the last byte sent to it: past it the command's session is stopped and the step fails. Raise it for hooks or migrations that run longer.",
    ),
  parallel_connects: z
    .int()
    .min(1)
    .max(1000)
    .default(16)
    .describe("ssh handshakes in flight at once (a bastion's MaxStartups drops the ones beyond its limit)."),
  persist: duration
    .optional()
    .describe(
      "Keep each host's ssh connection open this long after a run (e.g. \"10m\"), so the next deploy or rollback from this machine pays no handshake. Off by default. Keyed by user, destination and the host's keys in known_hosts (a host without an entry under the name written in hosts is not kept); a kept connection that does not answer within 2 s is closed and replaced.",
    ),
});

const restartSchema = z.strictObject({
  manager: z
    .enum(["supervisord", "systemd", "command", "none"])
    .default("command")
    .describe(
      'How the app is restarted. "command" needs `command`; "none" says that nothing on these hosts needs a restart (a target without a restart table is refused, so the old process cannot go on serving unnoticed).',
    ),
  programs: z
    .array(z.string().regex(/^[A-Za-z0-9_.:@-]+$/, { error: "must be a program or unit name" }))
    .prefault([])
    .describe("supervisord programs or systemd units to restart."),
  conf: z.string().default("").describe("supervisord config file (supervisorctl -c)."),
  command: z.string().default("").describe('Restart command for manager = "command".'),
  scope: z.enum(["system", "user"]).default("system").describe('systemd only: "user" manages the deploy user\'s units (systemctl --user).'),
  action: z
    .enum(["restart", "reload"])
    .default("restart")
    .describe('systemd only: "reload" for units whose ExecReload starts the new release (a plain HUP to gunicorn does not).'),
  sudo: z
    .boolean()
    .default(false)
    .describe(
      "systemd only (system units): run `sudo -n systemctl …`, for a deploy user that is not root; it needs a NOPASSWD sudoers line for exactly that command (docs/zero-downtime.md).",
    ),
});

const healthSchema = z.strictObject({
  url: z.string().default("").describe("URL polled on the host after restart; 2xx naming the build (see expect_build) = healthy."),
  command: z
    .string()
    .default("")
    .describe(
      "Alternative to url for workers: a command that exits 0 when healthy. It runs with SLIPWAY_BUILD_ID and SLIPWAY_RELEASE_DIR set: check that the new release answers.",
    ),
  timeout: duration.default("30s").describe("How long to wait for healthy."),
  expect_build: z
    .boolean()
    .default(true)
    .describe(
      "url only: the answer must name the build being deployed (an X-Build-Id header or a JSON build_id equal to it, else the build id as a whole word in the body, e.g. the release path), so an old process still holding the port fails the check. false: any 2xx.",
    ),
});

const haproxySchema = z.strictObject({
  socket: z.string().min(1).describe('Runtime API: a unix socket path, or "tcp:HOST:PORT".'),
  host: z.string().default("local").describe('Where the socket is: an ssh destination, or "local".'),
  backend: z.string().min(1).describe("Backend name in HAProxy."),
  servers: z.record(z.string(), z.string().min(1)).prefault({}).describe("Host → HAProxy server name."),
  drain_timeout: duration.default("35s").describe("Wait at most this long for in-flight requests before restarting."),
  capacity_timeout: duration
    .default("60s")
    .describe(
      "Before draining a host, wait at most this long for every other server that was in rotation to be UP again; then the deploy fails, with that host untouched.",
    ),
  allow_full_drain: z
    .boolean()
    .default(false)
    .describe("Allow a batch that drains every server of the backend at once (the backend answers 503 meanwhile). Otherwise such a batch is refused."),
});

const BATCH_ERROR = 'must be a host count (1 or more) or a percentage from 1% to 100% like "25%"';

const hostList = z
  .array(z.string().regex(SSH_DESTINATION, { error: "must be an ssh destination like deploy@app-01 or deploy@app-02:2222" }))
  .min(1, { error: "needs at least one host" });

const batchSchema = z.union([z.int().min(1), z.string().regex(BATCH_PERCENT, { error: BATCH_ERROR })], { error: BATCH_ERROR });

const haproxyTables = z.union([haproxySchema, z.array(haproxySchema).min(1)]);

/**
 * Where hosts get the layers (docs/distribution.md): by default the deployer sends them over
 * ssh; with a registry each host pulls the blobs it lacks from it, by digest.
 */
const REGISTRY_URL = /^https?:\/\/[^/\s@]+\/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*$/;
const REGISTRY_URL_ERROR = 'must be http(s)://HOST[:PORT]/REPOSITORY, e.g. "http://registry.internal:5000/ledger" (no credentials, no tag)';

// s3://BUCKET[/PREFIX], as src/s3/url.ts parses it (which also names what is wrong in a bad one).
const S3_URL = /^s3:\/\/[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](?:\/[A-Za-z0-9!_.*'()-]+)*\/?$/;
const S3_URL_ERROR = 'must be s3://BUCKET/PREFIX, e.g. "s3://artifacts/ledger" (endpoint and credentials come from the AWS environment)';

const sourceSchema = z
  .strictObject({
    registry: z
      .string()
      .regex(REGISTRY_URL, { error: REGISTRY_URL_ERROR })
      .optional()
      .describe(
        "An OCI distribution registry and repository, as both the deployer and the hosts reach it: the deploy pushes the image there (what the registry lacks), and each host pulls the layers it lacks with curl, verifying each digest.",
      ),
    s3: z
      .string()
      .regex(S3_URL, { error: S3_URL_ERROR })
      .refine(
        (u) =>
          !u
            .split("/")
            .slice(3)
            .some((p) => p === "." || p === ".."),
        { error: "must not have a . or .. part" },
      )
      .optional()
      .describe(
        "Instead of a registry, an S3 bucket and key prefix (docs/distribution.md): the deploy stores the layers there (`slipway push --to s3://`, what it lacks), and each host fetches the layers it lacks with curl from a short-lived presigned URL the deployer sends on the session's stdin, verifying each sha256.",
      ),
    publish_to: z
      .string()
      .regex(REGISTRY_URL, { error: REGISTRY_URL_ERROR })
      .optional()
      .describe(
        "Where the deployer pushes the image, when the hosts read through something else (a peer-to-peer front end on each host, a pull-through mirror); default: registry.",
      ),
    fallback: z
      .enum(["push", "fail"])
      .default("fail")
      .describe(
        'A host that cannot reach the registry (or S3 store) at preflight: "fail" refuses the deploy (exit 3) before anything changes; "push" sends it the layers over ssh.',
      ),
  })
  .refine((s) => (s.registry === undefined) !== (s.s3 === undefined), { error: "give exactly one of registry and s3" })
  .refine((s) => s.publish_to === undefined || s.registry !== undefined, {
    error: "publish_to goes with registry (an S3 source is written where it is read)",
    path: ["publish_to"],
  });

/** One kind of host in a target (web, worker…). Unset keys are the target's. */
export const roleSchema = z.strictObject({
  hosts: hostList.describe("ssh destinations of this role's hosts; a host may be in several roles."),
  restart: restartSchema.optional().describe("This role's restart; default: the target's."),
  health: healthSchema.optional().describe("This role's health check; default: the target's."),
  haproxy: haproxyTables
    .optional()
    .describe("This role's HAProxy drain; default: the target's (a role whose hosts are behind no balancer: leave it out of the target's table)."),
  batch: batchSchema.optional().describe("Hosts of this role switched at a time; default: the target's batch."),
  source: sourceSchema.optional().describe("Where this role's hosts get the layers; default: the target's."),
});

export const targetSchema = z.strictObject({
  hosts: hostList
    .optional()
    .describe("ssh destinations ([user@]host[:port]); for transport local, a label. A target has hosts (one role, named web) or roles, not both."),
  roles: z
    .record(z.string().regex(ROLE_NAME, { error: "role names must match [a-z][a-z0-9_-]{0,31}" }), roleSchema)
    .optional()
    .describe(
      "Kinds of host deployed together, switched in the order written (e.g. web, then worker); each inherits restart, health, haproxy and batch from the target.",
    ),
  transport: z.enum(["ssh", "local"]).default("ssh").describe('"ssh", or "local" for this machine without ssh.'),
  batch: batchSchema.default(1).describe('Hosts switched at a time: a count or a percentage such as "25%".'),
  on_failure: z.enum(["rollback-all", "stop"]).default("rollback-all").describe("What to do with already-switched hosts when one fails."),
  ssh: sshSchema.prefault({}),
  restart: restartSchema.prefault({}),
  health: healthSchema.prefault({}),
  haproxy: haproxyTables
    .optional()
    .describe("Drain each host in HAProxy before its restart. A table, or an array of tables when several load balancers front the backend."),
  source: sourceSchema
    .optional()
    .describe("Hosts pull the layers from an OCI registry or an S3 store instead of receiving them over ssh (docs/distribution.md); default: sent over ssh."),
});

export const imageSchema = z.strictObject({
  entrypoint: z
    .array(z.string())
    .optional()
    .describe('The OCI image\'s Entrypoint (`slipway image`), e.g. ["gunicorn", "ledger.wsgi"]; run in <root>/current with the venv first on PATH.'),
  cmd: z.array(z.string()).optional().describe("The OCI image's Cmd: the entrypoint's arguments, or the command when there is no entrypoint."),
  env: z
    .record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/), z.string())
    .prefault({})
    .describe("More environment variables in the image's config (never secrets: the config is readable by anyone who can pull the image)."),
  ports: z.array(z.number().int().min(1).max(65535)).prefault([]).describe("TCP ports the image's process listens on (ExposedPorts)."),
});

/** `[package.systemd]`: the unit `slipway package` generates and ships in the meta package. */
export const packageSystemdSchema = z.strictObject({
  unit: z
    .string()
    .regex(/^[A-Za-z0-9_.@-]+\.service$/, { error: "must be a unit file name ending in .service" })
    .optional()
    .describe("The unit's name (default: <app>.service); restarted by the meta package's postinst."),
  exec_start: z
    .string()
    .min(1, { error: "must not be empty" })
    .describe("ExecStart, run in <root>/current (e.g. <root>/current/virtualenv/bin/gunicorn app.wsgi)."),
  user: z
    .string()
    .regex(/^[a-z_][a-z0-9_-]{0,31}$/, { error: "must be a user name" })
    .default("")
    .describe("User= (empty: root)."),
  environment_file: z.string().default("").describe("EnvironmentFile= (optional: a missing file is skipped), e.g. <root>/shared/.env."),
  restart: z.enum(["no", "on-failure", "always", "on-abnormal"]).default("on-failure").describe("Restart= policy."),
});

/** `[package]`: what the maintainer scripts of `slipway package` do on the host (docs/packages.md). */
export const packageSchema = z.strictObject({
  restart: z
    .strictObject({
      manager: z.enum(["supervisord", "systemd", "command", "none"]).describe("How the meta package's postinst restarts the app after switching `current`."),
      programs: z
        .array(z.string().regex(/^[A-Za-z0-9_.:@-]+$/, { error: "must be a program or unit name" }))
        .prefault([])
        .describe("supervisord programs or systemd units (default with [package.systemd]: its unit)."),
      conf: z.string().default("").describe("supervisord config file."),
      command: z.string().default("").describe('Restart command for manager = "command", run in <root>/current.'),
    })
    .optional()
    .describe('Required (manager = "none" says nothing needs a restart).'),
  health: healthSchema.prefault({}).describe("Checked after the restart; on failure the postinst switches back and exits non-zero."),
  systemd: packageSystemdSchema.optional().describe("Generate and ship a systemd unit for the app."),
  maintainer: z
    .string()
    .regex(/^[^<>\r\n]+ <[^<>@\s]+@[^<>@\s]+>$/, { error: 'must look like "Name <address@example.com>"' })
    .optional()
    .describe('The packages\' Maintainer field, e.g. "Ops Team <ops@example.com>"; required by `slipway package`.'),
});

export const configSchema = z.strictObject({
  app: appSchema,
  build: buildSchema.prefault({}),
  deploy: deploySchema.prefault({}),
  image: imageSchema.prefault({}).describe("The OCI image `slipway image` writes from an artifact (docs/distribution.md)."),
  package: packageSchema.optional().describe("The .deb/.rpm packages `slipway package` writes from an artifact (docs/packages.md); required by it."),
  targets: z
    .record(z.string().regex(TARGET_NAME, { error: "target names must match [a-z0-9][a-z0-9._-]{0,63}" }), targetSchema)
    .prefault({})
    .describe("Named deploy targets."),
});

/** A role as a deploy uses it: every key resolved (the role's own, else the target's). */
export interface RoleConfig {
  name: string;
  hosts: string[];
  restart: z.infer<typeof restartSchema>;
  health: z.infer<typeof healthSchema>;
  haproxy?: z.infer<typeof haproxyTables>;
  batch: number | string;
  source?: SourceConfig;
}

type ParsedTarget = z.infer<typeof targetSchema>;
/** A target after loading (config/roles.ts): `hosts` is every host of every role, `roles` is never empty. */
export type TargetConfig = Omit<ParsedTarget, "hosts" | "roles"> & { hosts: string[]; roles: RoleConfig[] };
export type ParsedConfig = z.infer<typeof configSchema>;
export type Config = Omit<ParsedConfig, "targets"> & { targets: Record<string, TargetConfig> };
export type RestartConfig = z.infer<typeof restartSchema>;
export type HealthConfig = z.infer<typeof healthSchema>;
export type PackageConfig = z.infer<typeof packageSchema>;
export type BuildConfig = z.infer<typeof buildSchema>;
export type HaproxyConfig = z.infer<typeof haproxySchema>;
export type SourceConfig = z.infer<typeof sourceSchema>;
export { BUILD_ID };
