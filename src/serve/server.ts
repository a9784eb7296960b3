/**
 * `slipway serve`: one process, one SQLite file and an artifact store under the data dir.
 * Wires the core to the HTTP layers (api/, web/, chat/) and listens.
 */
import { mkdirSync } from "node:fs";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { serve as listen, type HttpBindings, type ServerType } from "@hono/node-server";
import { Hono, type Context } from "hono";
import { ArtifactStore } from "./artifact-store.js";
import { readSecret, type LoadedServerConfig } from "./config.js";
import type { ServerContext } from "./context.js";
import { Core } from "./core.js";
import { openDb, type Db } from "./db.js";
import { ServeError } from "./errors.js";
import { apiRoutes } from "./api/routes.js";
import { FailureLimiter } from "./rate-limit.js";
import { SshPool } from "./ssh-pool.js";
import { Store } from "./store.js";
import { chatUsers, TokenAuth } from "./tokens.js";
import type { Actor, DeployEvent, Grant } from "./model.js";
import { parseDuration } from "../config/patterns.js";
import { parseGrant } from "./config.js";
import { chatRoutes } from "./chat/routes.js";
import { webRoutes } from "./web/routes.js";
import { sendWebhook, type WebhookTarget } from "./webhook.js";

export interface RunningServer {
  url: string;
  port: number;
  core: Core;
  db: Db;
  close(): Promise<void>;
}

export interface ServeOptions {
  server: LoadedServerConfig;
  /** One line per request and per deploy state change; never a secret. */
  log?: (line: string) => void;
  onEvent?: (e: DeployEvent) => void;
}

const SIZE = /^([0-9]+)(k|M|G)?$/;

export function parseSize(text: string): number {
  const m = SIZE.exec(text);
  if (!m) throw new Error(`${text}: not a size`);
  return Number(m[1]) * ({ k: 1024, M: 1024 ** 2, G: 1024 ** 3 }[m[2] as "k" | "M" | "G"] ?? 1);
}

export async function startServer(opts: ServeOptions): Promise<RunningServer> {
  const { server } = opts;
  const log = opts.log ?? ((l: string) => process.stderr.write(`${l}\n`));
  mkdirSync(path.join(server.dataDir, "tmp"), { recursive: true, mode: 0o700 });
  const db = openDb(path.join(server.dataDir, "slipway.db"));
  const store = new Store(db);
  const artifacts = new ArtifactStore(store, server.dataDir);
  const pool = new SshPool(Math.round(parseDuration(server.config.server.ssh_idle) / 1000));
  const hooks = new Map<string, WebhookTarget>();
  for (const [name, a] of Object.entries(server.config.apps)) {
    if (!a.webhook) continue;
    const secret = await readSecret({ env: a.webhook.secret_env, file: a.webhook.secret_file }, server.dir);
    if (secret) hooks.set(name, { url: a.webhook.url, secret });
    else log(`app ${name}: webhook has no secret (set ${a.webhook.secret_env ?? a.webhook.secret_file ?? "secret_env"}); not sent`);
  }
  const onEvent = (e: DeployEvent) => {
    opts.onEvent?.(e);
    if (e.event.type !== "state") return;
    const row = store.deploy(e.deploy_id);
    const hook = row && hooks.get(row.app);
    if (!row || !hook) return;
    void sendWebhook(hook, e.event.state === "running" ? "deploy.started" : "deploy.finished", row, log);
  };
  const core = new Core({ server, store, artifacts, pool, onEvent });
  const tokens = new TokenAuth(db, store);
  const users = chatUsers(server.config);
  const userGrants = (user: string): Grant[] => (server.config.users[user]?.grants ?? []).map((g) => parseGrant(g)!);
  const grantsOf = (actor: Actor): readonly Grant[] => {
    if (actor.token_id !== undefined) {
      const r = db.prepare("SELECT grants FROM tokens WHERE id = ? AND revoked_at IS NULL").get(actor.token_id) as { grants: string } | undefined;
      return r ? (JSON.parse(r.grants) as Grant[]) : [];
    }
    return actor.via === "slack" || actor.via === "mattermost" ? userGrants(actor.user) : [];
  };
  const ctx: ServerContext = {
    actions: core.actionsFor(grantsOf),
    reads: { ...core.reads, status: (app, target) => core.status(app, target), apps: () => appsOf(core) },
    auth: tokens,
    sessions: tokens,
    chatUsers: users,
    needsConfirm: (app, target) => core.needsConfirm(app, target),
    ...(server.config.server.public_url ? { publicUrl: server.config.server.public_url } : {}),
  };

  const trustProxy = server.config.server.trust_proxy;
  const clientIp = (c: Context) => {
    if (trustProxy) {
      const fwd = c.req.header("x-forwarded-for")?.split(",")[0]?.trim();
      if (fwd) return fwd;
    }
    return (c.env as HttpBindings | undefined)?.incoming?.socket?.remoteAddress ?? "unknown";
  };
  const limiter = new FailureLimiter();
  const app = new Hono<{ Bindings: HttpBindings }>();
  app.use("*", async (c, next) => {
    const t0 = performance.now();
    await next();
    // The path only: no query string, no header, no body (tokens, cookies, signatures, response_url).
    log(`${c.req.method} ${new URL(c.req.url).pathname} ${c.res.status} ${Math.round(performance.now() - t0)}ms`);
  });
  app.route("/api", apiRoutes({ core, artifacts, auth: tokens, sessions: tokens, limiter, maxUpload: parseSize(server.config.server.max_upload), clientIp }));
  const slack = server.config.chat.slack;
  const mattermost = server.config.chat.mattermost;
  const secrets = {
    slackSigningSecret: slack ? await readSecret({ env: slack.signing_secret_env, file: slack.signing_secret_file }, server.dir) : undefined,
    mattermostToken: mattermost ? await readSecret({ env: mattermost.token_env, file: mattermost.token_file }, server.dir) : undefined,
  };
  const shutdown = new AbortController();
  app.route("/chat", chatRoutes(ctx, secrets, { log, limiter, clientIp, signal: shutdown.signal }));
  app.route("/", webRoutes(ctx, { limiter, clientIp, log }));
  app.notFound((c) => c.json({ error: `no route ${c.req.method} ${new URL(c.req.url).pathname}`, hint: "see /api/openapi.json" }, 404));
  app.onError((err, c) => {
    if (err instanceof ServeError) return c.json(err.toJSON(), err.status as 400);
    if ((err as { code?: string }).code === "SQLITE_CONSTRAINT_PRIMARYKEY") return c.json({ error: "it exists already" }, 409);
    log(`error ${c.req.method} ${new URL(c.req.url).pathname}: ${(err as Error).stack ?? err}`);
    return c.json({ error: "internal error", hint: "see the server's log" }, 500);
  });

  const [host, portText] = splitListen(server.config.server.listen);
  const http: ServerType = await new Promise((resolve) => {
    const s = listen({ fetch: app.fetch, hostname: host, port: Number(portText) }, () => resolve(s));
  });
  const port = (http.address() as AddressInfo).port;
  for (const name of core.appNames()) {
    try {
      core.appConfig(name);
    } catch (err) {
      log(`app ${name}: ${(err as Error).message}`);
    }
  }
  await core.recover();
  const url = `http://${host.includes(":") ? `[${host}]` : host}:${port}`;
  log(`slipway serve: listening on ${url}, data in ${server.dataDir}`);
  return {
    url,
    port,
    core,
    db,
    async close() {
      shutdown.abort();
      const closed = new Promise<void>((r) => http.close(() => r()));
      (http as { closeAllConnections?: () => void }).closeAllConnections?.();
      await closed;
      await core.close();
      await pool.close();
      db.close();
    },
  };
}

function splitListen(listen: string): [string, string] {
  const m = /^\[?([^\]]*?)\]?:([0-9]{1,5})$/.exec(listen);
  if (!m) throw new ServeError(400, `listen ${JSON.stringify(listen)}: expected HOST:PORT`, "e.g. 127.0.0.1:8780");
  return [m[1]!, m[2]!];
}

function appsOf(core: Core): { name: string; targets: string[] }[] {
  return core.appNames().map((name) => {
    let targets: string[] = [];
    try {
      targets = Object.keys(core.appConfig(name).targets);
    } catch {}
    return { name, targets };
  });
}
