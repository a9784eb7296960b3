import { UsageError } from "../errors.js";
import { describeHolder, parseInfo, releaseLock } from "../deploy/lock.js";
import { sh } from "../deploy/layout.js";
import { withTarget, type TargetOptions } from "./target-context.js";

export interface UnlockResult {
  target: string;
  hosts: { host: string; held_by?: string; released: boolean }[];
}

const READ_LOCK = `[ -d "$1/.slipway/lock" ] && { echo held; cat "$1/.slipway/lock/info" 2>/dev/null; } || echo free`;

/**
 * Clear a lock left by a deploy that died. Shows who holds it and asks `confirm` first
 * (the CLI asks on a terminal, or takes --yes).
 */
export async function unlock(opts: TargetOptions & { confirm: (held: string[]) => Promise<boolean> }): Promise<UnlockResult> {
  return withTarget(opts, async ({ config, name, sessions }) => {
    const root = config.app.root;
    const states = await Promise.all(sessions.map(async (s) => {
      const out = (await s.run("unlock", sh(READ_LOCK, root))).stdout;
      const held = out.startsWith("held");
      return { s, held, holder: held ? describeHolder(parseInfo(out.split("\n").slice(1).join("\n").trim())) : undefined };
    }));
    const held = states.filter((x) => x.held).map((x) => `${x.s.host}: locked by ${x.holder}`);
    if (held.length === 0) return { target: name, hosts: states.map((x) => ({ host: x.s.host, released: false })) };
    if (!(await opts.confirm(held))) throw new UsageError("not unlocked", "pass --yes to unlock without asking");
    await Promise.all(states.filter((x) => x.held).map((x) => x.s.step("unlock", () => x.s.run("unlock", releaseLock(root, "")))));
    return { target: name, hosts: states.map((x) => ({ host: x.s.host, held_by: x.holder, released: x.held })) };
  });
}
