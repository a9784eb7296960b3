import { UsageError } from "../errors.js";
import { describeHolder, parseLockReply, peekLock, releaseLock, type LockInfo, type LockState } from "../deploy/lock.js";
import { withTarget, type TargetOptions } from "./target-context.js";

export interface UnlockResult {
  target: string;
  /**
   * `kept`: the lock shown was gone or replaced by another when the answer came (a new deploy
   * took it meanwhile) and was left alone — or it had no readable token and --force was not given.
   */
  hosts: { host: string; held_by?: string; released: boolean; kept?: string }[];
}

export interface UnlockOptions extends TargetOptions {
  confirm: (held: string[]) => Promise<boolean>;
  /** Remove whatever lock is there when the answer comes, not only the one shown. */
  force?: boolean;
  /** Only locks whose holder this accepts are shown and removed (a deploy server clears its own dead runs' locks). */
  holder?: (h: LockInfo) => boolean;
}

/**
 * Clear a lock left by a deploy that died. Shows who holds it and asks `confirm` first (the
 * CLI asks on a terminal, or takes --yes). The answer may come minutes later: only the lock
 * that was shown is removed — by its token, compared on the host — so a deploy that took the
 * lock meanwhile keeps it. `force` removes any lock.
 */
export async function unlock(opts: UnlockOptions): Promise<UnlockResult> {
  return withTarget(opts, async ({ config, name, sessions }) => {
    const root = config.app.root;
    const states = await Promise.all(
      sessions.map(async (s) => {
        const peek = parseLockReply((await s.run("unlock", peekLock(root))).stdout);
        return { s, peek, holder: peek.state === "held" ? describeHolder(peek.holder) : undefined };
      }),
    );
    const mine = (x: (typeof states)[number]) => !opts.holder || (x.peek.state === "held" && x.peek.holder !== undefined && opts.holder(x.peek.holder));
    const held = states.filter((x) => x.peek.state === "held" && mine(x));
    if (held.length === 0) return { target: name, hosts: states.map((x) => ({ host: x.s.host, released: false })) };
    if (!(await opts.confirm(held.map((x) => `${x.s.host}: locked by ${x.holder}`))))
      throw new UsageError("not unlocked", "pass --yes to unlock without asking");
    const hosts = await Promise.all(
      states.map(async (x): Promise<UnlockResult["hosts"][number]> => {
        if (x.peek.state !== "held") return { host: x.s.host, released: false };
        if (!mine(x)) return { host: x.s.host, held_by: x.holder, released: false, kept: "held by another run" };
        const token = x.peek.holder?.token;
        if (!opts.force && !token) {
          return {
            host: x.s.host,
            held_by: x.holder,
            released: false,
            kept: "its lock has no readable token to compare: run unlock again with --force to remove it",
          };
        }
        const reply = (await x.s.step("unlock", () => x.s.run("unlock", releaseLock(root, opts.force ? "" : token!)))).stdout;
        return { host: x.s.host, held_by: x.holder, ...releaseOutcome(reply) };
      }),
    );
    return { target: name, hosts };
  });
}

/** What release_lock answered: released, absent (someone else released it), or not-ours (replaced). */
function releaseOutcome(reply: string): { released: boolean; kept?: string } {
  const [first, ...rest] = reply.split("\n");
  if (first?.trim() === "released") return { released: true };
  if (first?.trim() === "absent") return { released: false, kept: "the lock was already gone" };
  const now: LockState = parseLockReply(["held", ...rest].join("\n"));
  const by = now.state === "held" ? describeHolder(now.holder) : "another run";
  return { released: false, kept: `the lock was replaced meanwhile, now held by ${by}: left as it is (run unlock again, or --force)` };
}
