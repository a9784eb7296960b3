import os from "node:os";
import { randomUUID } from "node:crypto";
import { LockedError } from "../errors.js";
import { acquireLock, describeHolder, parseLockReply, peekLock, releaseLock, type LockInfo, type LockState } from "./lock.js";
import type { HostSession } from "./session.js";
import { settleAll } from "../util/pool.js";

export function lockInfo(action: string, target: string, buildId?: string): LockInfo {
  return {
    token: randomUUID(),
    user: os.userInfo().username,
    from: os.hostname(),
    action,
    target,
    build_id: buildId,
    since: new Date().toISOString(),
    pid: process.pid,
  };
}

/**
 * Lock every host before anything else (SPEC §5 step 1). If any lock is held by someone
 * else, release the ones just taken and fail with exit 4 naming the holder: nothing changed.
 */
export async function lockAll(
  sessions: readonly HostSession[],
  root: string,
  info: LockInfo,
  target: string,
  opts: { peeked?: boolean; clean?: boolean } = {},
): Promise<void> {
  // Look first without writing (unless the caller's preflight already did): a lock held
  // anywhere must leave every host untouched.
  if (!opts.peeked) {
    const peeks = await settleAll(
      sessions.map((s) =>
        s.step(
          "lock",
          async () => parseLockReply((await s.run("lock", peekLock(root))).stdout),
          (p) => (p.state === "free" ? "free" : "held"),
        ),
      ),
    );
    rejectHeld(
      target,
      sessions.map((s, i) => [s.host, peeks[i]!]),
    );
  }
  const outcomes = await Promise.allSettled(
    sessions.map((s) => s.step("lock", async () => parseLockReply((await s.run("lock", acquireLock(root, info, opts.clean))).stdout))),
  );
  const held = (i: number) => {
    const o = outcomes[i]!;
    return o.status === "fulfilled" && o.value.state === "held";
  };
  const acquired = (i: number) => {
    const o = outcomes[i]!;
    return o.status === "fulfilled" && o.value.state === "acquired";
  };
  if (sessions.every((_, i) => acquired(i))) return;
  // Release by token wherever it may be ours: also where the acquire failed, since a reply lost
  // after the host ran it leaves our lock there (releasing by token never removes another's).
  await unlockAll(
    sessions.filter((_, i) => !held(i)),
    root,
    info.token,
  );
  const failure = outcomes.find((o) => o.status === "rejected");
  if (failure && failure.status === "rejected") throw failure.reason;
  rejectHeld(
    target,
    sessions.flatMap((s, i) => {
      const o = outcomes[i]!;
      return o.status === "fulfilled" ? [[s.host, o.value] as const] : [];
    }),
  );
  throw lockedError(target, []); // not reached: an acquire that did not fail answers "acquired" or "held"
}

/** Exit 4 naming each holder if any of these locks (read or just tried) is held: nothing changed. */
export function rejectHeld(target: string, locks: readonly (readonly [host: string, lock: LockState])[]): void {
  const held = locks.flatMap(([host, l]) => (l.state === "held" ? [`${host}: locked by ${describeHolder(l.holder)}`] : []));
  if (held.length) throw lockedError(target, held);
}

export function lockedError(target: string, held: string[]): LockedError {
  return new LockedError(
    `target ${target} is locked — nothing was changed\n${held.join("\n")}`,
    `wait for that deploy to finish, or if it died, run \`slipway unlock --target ${target}\``,
  );
}

/** Release our locks; never throws (it runs in `finally`, also after failures). */
export async function unlockAll(sessions: readonly HostSession[], root: string, token: string): Promise<void> {
  await Promise.allSettled(sessions.map((s) => s.step("unlock", () => s.run("unlock", releaseLock(root, token)))));
}
