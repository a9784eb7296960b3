/**
 * Delayed replies: POST JSON to the request's response_url. The URL is a bearer credential
 * (anyone holding it can post to the channel), so it never reaches a log line.
 */

/** Slack accepts at most 5 posts to one response_url (within 30 minutes). */
export const RESPONSE_URL_POSTS = 5;

export type Log = (msg: string) => void;

export class ResponsePoster {
  private used = 0;

  constructor(
    private readonly url: string,
    private readonly label: string,
    private readonly fetchFn: typeof fetch,
    private readonly log: Log,
    private readonly limit = RESPONSE_URL_POSTS,
  ) {}

  get remaining(): number {
    return this.limit - this.used;
  }

  /** Posts one message; false when the budget is spent or the post failed (logged, redacted). */
  async post(body: Record<string, unknown>): Promise<boolean> {
    if (this.used >= this.limit) {
      this.log(`chat ${this.label}: response_url=[redacted] budget of ${this.limit} posts spent, message dropped`);
      return false;
    }
    this.used++;
    try {
      const res = await this.fetchFn(this.url, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(10_000),
      });
      if (!res.ok) {
        this.log(`chat ${this.label}: post to response_url=[redacted] answered HTTP ${res.status}`);
        return false;
      }
      await res.body?.cancel();
      return true;
    } catch (err) {
      // The error's text may quote the URL (fetch failed for https://hooks…): log only its kind.
      this.log(`chat ${this.label}: post to response_url=[redacted] failed (${(err as Error).name})`);
      return false;
    }
  }
}

/** A response_url worth posting to: absolute http(s). Anything else is ignored, not fetched. */
export function usableResponseUrl(value: string | undefined): string | undefined {
  if (!value) return undefined;
  try {
    const u = new URL(value);
    return u.protocol === "https:" || u.protocol === "http:" ? u.toString() : undefined;
  } catch {
    return undefined;
  }
}
