import { UsageError } from "../errors.js";
import { describeHolder, parseLockReply, peekLock, releaseLock } from "../deploy/lock.js";
import { withTarget, type TargetOptions } from "./target-context.js";

export interface UnlockResult {
  target: string;
  hosts: { host: string; held_by?: string; released: boolean }[];
}

/**
 * Clear a lock left by a deploy that died. Shows who holds it and asks `confirm` first
 * (the CLI asks on a terminal, or takes --yes).
 */
export async function unlock(opts: TargetOptions & { confirm: (held: string[]) => Promise<boolean> }): Promise<UnlockResult> {
  return withTarget(opts, async ({ config, name, sessions }) => {
    const root = config.app.root;
    const states = await Promise.all(sessions.map(async (s) => {
      const peek = parseLockReply((await s.run("unlock", peekLock(root))).stdout);
      const held = peek.state === "held";
      return { s, held, holder: peek.state === "held" ? describeHolder(peek.holder) : undefined };
    }));
    const held = states.filter((x) => x.held).map((x) => `${x.s.host}: locked by ${x.holder}`);
    if (held.length === 0) return { target: name, hosts: states.map((x) => ({ host: x.s.host, released: false })) };
    if (!(await opts.confirm(held))) throw new UsageError("not unlocked", "pass --yes to unlock without asking");
    await Promise.all(states.filter((x) => x.held).map((x) => x.s.step("unlock", () => x.s.run("unlock", releaseLock(root, "")))));
    return { target: name, hosts: states.map((x) => ({ host: x.s.host, held_by: x.holder, released: x.held })) };
  });
}
