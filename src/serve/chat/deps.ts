/** What the Slack and Mattermost handlers share: the core, outgoing HTTP, logging, clocks. */
import type { Context } from "hono";
import { getConnInfo } from "@hono/node-server/conninfo";
import type { ServerContext } from "../context.js";
import type { FailureLimiter } from "../rate-limit.js";
import type { DeployRow } from "../model.js";
import { followDeploy } from "./follow.js";
import type { Markup } from "./format.js";
import type { Log, ResponsePoster } from "./respond.js";

export interface ChatDeps {
  ctx: ServerContext;
  fetch: typeof fetch;
  log: Log;
  onAuthFailure?: (ip: string) => void;
  /** Failed verifications count per client address, with the key the API and the dashboard use. */
  limiter?: Pick<FailureLimiter, "blockedFor" | "fail">;
  /** The client's address (the server's trust_proxy rule); the peer's address when absent. */
  clientIp?: (c: Context) => string;
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
export function peerIp(c: Context): string {
  try {
    return getConnInfo(c).remote.address ?? "unknown";
  } catch {
    return "unknown";
  }
}

/**
 * Before verifying a request: its client address, and how many seconds it must wait when that
 * address failed too often (0: go ahead). A blocked address waits even with a right signature,
 * so guessing cannot go on.
 */
export function authGate(deps: ChatDeps, c: Context): { ip: string; wait: number } {
  const ip = deps.clientIp?.(c) ?? peerIp(c);
  return { ip, wait: deps.limiter?.blockedFor([`ip:${ip}`]) ?? 0 };
}

/** A request failed verification: counted against its address. */
export function authFailed(deps: ChatDeps, ip: string): void {
  deps.limiter?.fail([`ip:${ip}`]);
  deps.onAuthFailure?.(ip);
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
