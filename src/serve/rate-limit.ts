import { sha256 } from "../util/hash.js";

/**
 * Failed authentication, limited per client address and per presented credential: after
 * `max` failures within `windowMs`, further attempts from that address or with that
 * credential get 429 until the window has passed — also with a right credential, so guessing
 * cannot go on in parallel. Memory holds only the recent failures.
 */
export class FailureLimiter {
  private readonly failures = new Map<string, number[]>();

  constructor(
    private readonly max = 10,
    private readonly windowMs = 60_000,
  ) {}

  private recent(key: string, now: number): number[] {
    const list = (this.failures.get(key) ?? []).filter((t) => now - t < this.windowMs);
    if (list.length) this.failures.set(key, list);
    else this.failures.delete(key);
    return list;
  }

  /** Seconds to wait when any of `keys` is over the limit; 0 when the attempt may go ahead. */
  blockedFor(keys: readonly string[], now = Date.now()): number {
    let wait = 0;
    for (const k of keys) {
      const list = this.recent(k, now);
      if (list.length >= this.max) wait = Math.max(wait, Math.ceil((list[0]! + this.windowMs - now) / 1000));
    }
    return wait;
  }

  fail(keys: readonly string[], now = Date.now()): void {
    for (const k of keys) this.failures.set(k, [...this.recent(k, now), now]);
    if (this.failures.size > 10_000) {
      for (const k of [...this.failures.keys()]) this.recent(k, now);
    }
  }
}

/**
 * The limiter's keys for one authentication attempt: the client's address, and the presented
 * credential by its SHA-256 — never the credential itself. The API and the dashboard's login
 * use the same keys, so a token guessed at through both counts once.
 */
export function authKeys(ip: string, credential: string): string[] {
  return [`ip:${ip}`, `token:${sha256(credential)}`];
}

export type Attempt<T> = { ok: T } | { failed: true } | { blockedFor: number };

/**
 * One authentication attempt under the limiter: refused without trying while any key is over
 * the limit; a failure (`authenticate` answers undefined) counts against every key; a success
 * counts against none.
 */
export function attempt<T>(
  limiter: Pick<FailureLimiter, "blockedFor" | "fail"> | undefined,
  keys: readonly string[],
  authenticate: () => T | undefined,
  now = Date.now(),
): Attempt<T> {
  const wait = limiter?.blockedFor(keys, now) ?? 0;
  if (wait) return { blockedFor: wait };
  const ok = authenticate();
  if (ok !== undefined) return { ok };
  limiter?.fail(keys, now);
  return { failed: true };
}
