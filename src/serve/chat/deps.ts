/** What the Slack and Mattermost handlers share: the core, outgoing HTTP, logging, clocks. */
import type { Context } from "hono";
import { getConnInfo } from "@hono/node-server/conninfo";
import type { ServerContext } from "../context.js";
import type { DeployRow } from "../model.js";
import { followDeploy } from "./follow.js";
import type { Markup } from "./format.js";
import type { Log, ResponsePoster } from "./respond.js";

export interface ChatDeps {
  ctx: ServerContext;
  fetch: typeof fetch;
  log: Log;
  onAuthFailure?: (ip: string) => void;
  /** Milliseconds since the epoch (tests move the clock). */
  now: () => number;
  /** How long a deploy is followed; Slack's response_url stops working after 30 minutes. */
  followLimitMs: number;
  progressEveryMs?: number;
  /** Aborts every follow (server shutdown). */
  signal?: AbortSignal;
}

export const DEFAULT_FOLLOW_LIMIT_MS = 29 * 60_000;

/** The peer's address for rate limiting; "unknown" when not served by @hono/node-server. */
export function clientIp(c: Context): string {
  try {
    return getConnInfo(c).remote.address ?? "unknown";
  } catch {
    return "unknown";
  }
}

/** Follows a deploy after the HTTP answer went out; failures are logged, never thrown. */
export function followInBackground(
  deps: ChatDeps,
  label: string,
  row: DeployRow,
  poster: ResponsePoster,
  md: Markup,
  body: (text: string) => Record<string, unknown>,
): void {
  const signals = [AbortSignal.timeout(deps.followLimitMs), ...(deps.signal ? [deps.signal] : [])];
  const outlet = {
    get remaining() {
      return poster.remaining;
    },
    send: (text: string) => poster.post(body(text)),
  };
  followDeploy(deps.ctx.reads, row.id, outlet, {
    md,
    publicUrl: deps.ctx.publicUrl,
    signal: AbortSignal.any(signals),
    progressEveryMs: deps.progressEveryMs,
  }).then(
    (end) => deps.log(`chat ${label}: deploy #${row.id} followed to ${end?.state ?? "unknown"}`),
    (err: unknown) => deps.log(`chat ${label}: following deploy #${row.id} failed: ${(err as Error).message}`),
  );
}

/** A slash command name as the platform sent it, or the default when it looks odd. */
export function slashName(value: string | undefined): string {
  return value && /^\/[A-Za-z0-9_-]{1,32}$/.test(value) ? value : "/slipway";
}
