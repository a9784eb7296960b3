/**
 * Is a chat request genuine? Slack signs each request (v0: HMAC-SHA256 over timestamp and raw
 * body); Mattermost sends the slash command's token. Both are compared in constant time.
 */
import { createHash, createHmac, timingSafeEqual } from "node:crypto";

/** Slack's own limit: a request older (or newer) than this is refused as a possible replay. */
export const SLACK_MAX_SKEW_S = 300;

export type Verdict =
  | { ok: true }
  | { ok: false; reason: "missing" | "malformed" | "stale" | "bad" | "replayed"; error: string; hint: string; skew_s?: number };

export function slackSignature(secret: string, timestamp: string, body: string): string {
  return `v0=${createHmac("sha256", secret).update(`v0:${timestamp}:${body}`).digest("hex")}`;
}

/**
 * Checks X-Slack-Request-Timestamp and X-Slack-Signature against the raw body. `now` in
 * milliseconds (Date.now()); the timestamp is checked first, so a stale request says so
 * whatever its signature.
 */
export function verifySlack(secret: string, headers: { timestamp?: string; signature?: string }, body: string, now: number): Verdict {
  const { timestamp, signature } = headers;
  if (!timestamp || !signature) {
    return {
      ok: false,
      reason: "missing",
      error: `missing ${!timestamp ? "X-Slack-Request-Timestamp" : "X-Slack-Signature"} header`,
      hint: "point the Slack app's slash command and interactivity URLs at this server; only Slack's signed requests are accepted",
    };
  }
  if (!/^[0-9]{1,12}$/.test(timestamp)) {
    return { ok: false, reason: "malformed", error: "X-Slack-Request-Timestamp is not a number of seconds", hint: "only Slack's signed requests are accepted" };
  }
  const skew = Math.round(now / 1000 - Number(timestamp));
  if (Math.abs(skew) > SLACK_MAX_SKEW_S) {
    return {
      ok: false,
      reason: "stale",
      skew_s: skew,
      error: `request timestamp is ${Math.abs(skew)} s ${skew > 0 ? "old" : "in the future"} (limit ${SLACK_MAX_SKEW_S} s): a replay, or clock skew`,
      hint: "if Slack's requests all fail this way, the server's clock is off: check NTP (timedatectl)",
    };
  }
  const expected = Buffer.from(slackSignature(secret, timestamp, body));
  const given = Buffer.from(signature);
  // timingSafeEqual needs equal lengths; a signature's length is public, so checking it first leaks nothing.
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    return {
      ok: false,
      reason: "bad",
      error: "X-Slack-Signature does not match",
      hint: "the signing secret the server reads ([chat.slack] signing_secret_env / signing_secret_file) must be the Slack app's Signing Secret",
    };
  }
  return { ok: true };
}

/** Mattermost's per-command token; both sides hashed first so the compared buffers have equal length. */
export function verifyMattermost(expected: string, given: string | undefined): Verdict {
  if (!given) {
    return { ok: false, reason: "missing", error: "missing token", hint: "point the Mattermost slash command at this server; only its token is accepted" };
  }
  const a = createHash("sha256").update(expected).digest();
  const b = createHash("sha256").update(given).digest();
  if (!timingSafeEqual(a, b)) {
    return {
      ok: false,
      reason: "bad",
      error: "the slash command's token does not match",
      hint: "the token the server reads ([chat.mattermost] token_env / token_file) must be the slash command's token",
    };
  }
  return { ok: true };
}

/**
 * Refuses a signed request seen before: within the 300 s window a captured request would
 * otherwise verify again (a second deploy from one click). Keyed by signature, kept as long as
 * the timestamp window lets it verify.
 */
export class ReplayGuard {
  private readonly seen = new Map<string, number>();

  constructor(private readonly ttlMs = 2 * SLACK_MAX_SKEW_S * 1000) {}

  /** True the first time a key is offered (within ttl), false after. */
  firstSeen(key: string, now: number): boolean {
    for (const [k, until] of this.seen) {
      if (until > now) break; // insertion order is expiry order
      this.seen.delete(k);
    }
    if (this.seen.has(key)) return false;
    this.seen.set(key, now + this.ttlMs);
    return true;
  }
}
