/**
 * The chat endpoints, mounted by the server under /chat: Slack's slash command and
 * interactivity, Mattermost's slash command. A platform without a configured secret answers 404.
 */
import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import type { Context } from "hono";
import type { ServerContext } from "../context.js";
import type { FailureLimiter } from "../rate-limit.js";
import { type ChatDeps, DEFAULT_FOLLOW_LIMIT_MS } from "./deps.js";
import { MattermostHandlers } from "./mattermost.js";
import { SlackHandlers } from "./slack.js";

export interface ChatRouteOptions {
  fetch?: typeof fetch;
  /** One line per request and per failed post; never a token, signature or response_url. */
  log?: (msg: string) => void;
  /** Called with the peer's address on every failed verification (the core rate-limits). */
  onAuthFailure?: (ip: string) => void;
  /** Failed verifications count per client address (the server's limiter, shared with the API): over the limit, 429. */
  limiter?: Pick<FailureLimiter, "blockedFor" | "fail">;
  /** The client's address (the server's trust_proxy rule); the peer's address when absent. */
  clientIp?: (c: Context) => string;
  /** Milliseconds since the epoch; tests move it. */
  now?: () => number;
  /** How long a deploy's progress is posted (default 29 minutes: response_url lives 30). */
  followLimitMs?: number;
  /** At least this long between two progress posts (default 10 s). */
  progressEveryMs?: number;
  /** Aborting it stops every follow (server shutdown). */
  signal?: AbortSignal;
}

/** Slack and Mattermost payloads are small forms; anything bigger is not theirs. */
const MAX_BODY = 64 * 1024;

export function chatRoutes(ctx: ServerContext, secrets: { slackSigningSecret?: string; mattermostToken?: string }, opts: ChatRouteOptions = {}): Hono {
  const deps: ChatDeps = {
    ctx,
    fetch: opts.fetch ?? fetch,
    log: opts.log ?? ((msg) => process.stderr.write(`${msg}\n`)),
    onAuthFailure: opts.onAuthFailure,
    limiter: opts.limiter,
    clientIp: opts.clientIp,
    now: opts.now ?? Date.now,
    followLimitMs: opts.followLimitMs ?? DEFAULT_FOLLOW_LIMIT_MS,
    progressEveryMs: opts.progressEveryMs,
    signal: opts.signal,
  };
  const app = new Hono();
  app.use(
    "*",
    bodyLimit({ maxSize: MAX_BODY, onError: (c) => c.json({ error: `request body over ${MAX_BODY} bytes`, hint: "chat requests are small forms" }, 413) }),
  );

  const notConfigured = (platform: string, keys: string) => () =>
    new Response(
      JSON.stringify({ error: `${platform} is not configured on this server`, hint: `set ${keys} under [chat.${platform}] in slipway-server.toml` }),
      {
        status: 404,
        headers: { "content-type": "application/json" },
      },
    );

  if (secrets.slackSigningSecret) {
    const slack = new SlackHandlers(deps, secrets.slackSigningSecret);
    app.post("/slack/commands", slack.commands);
    app.post("/slack/actions", slack.actions);
  } else {
    app.post("/slack/*", notConfigured("slack", "signing_secret_env or signing_secret_file"));
  }
  if (secrets.mattermostToken) {
    app.post("/mattermost/commands", new MattermostHandlers(deps, secrets.mattermostToken).commands);
  } else {
    app.post("/mattermost/*", notConfigured("mattermost", "token_env or token_file"));
  }
  return app;
}
