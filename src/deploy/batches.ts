import { SlipwayError } from "../errors.js";
import type { Emit } from "../events.js";
import type { HostOutcome } from "../commands/deploy.js";
import { activate, type Activation } from "./activate.js";
import type { DeployPlan } from "./plan.js";
import type { HostSession } from "./session.js";
import { runUserCommand } from "./steps.js";

export interface BatchContext {
  sessions: (host: string) => HostSession;
  activation: (host: string) => Activation;
  afterSwitch: readonly string[];
  currentDir: string;
  buildId: string;
  targetName: string;
  onFailure: "rollback-all" | "stop";
  outcomes: Map<string, HostOutcome>;
  emit: Emit;
}

/**
 * SPEC §5 steps 7–10, batch by batch: each host is drained, switched, restarted, checked and
 * put back. When a host fails (it switches itself back), the deploy stops; with
 * on_failure = "rollback-all" every host already on the new release is switched back too, so
 * the fleet is never left split between versions.
 */
export async function switchInBatches(plan: DeployPlan, ctx: BatchContext): Promise<void> {
  const switched: { host: string; previous?: string }[] = [];
  for (const [index, hosts] of plan.batches.entries()) {
    ctx.emit({ type: "batch", index, hosts });
    const settled = await Promise.allSettled(hosts.map(async (host) => {
      const out = ctx.outcomes.get(host)!;
      const t = performance.now();
      try {
        out.previous = await activate(ctx.activation(host), ctx.buildId);
        switched.push({ host, previous: out.previous });
        const s = ctx.sessions(host);
        for (const cmd of ctx.afterSwitch) {
          await s.step("after-hooks", () => runUserCommand(s, "after-hooks", ctx.currentDir, cmd, ctx.activation(host).env, "an after_switch hook failed"));
        }
        out.result = "ok";
      } catch (err) {
        out.result = "failed";
        out.error = (err as Error).message;
        throw err;
      } finally {
        out.durations_ms["activate"] = Math.round(performance.now() - t);
      }
    }));
    const failures = settled.flatMap((r) => (r.status === "rejected" ? [r.reason as Error] : []));
    if (failures.length === 0) continue;
    const rolledBack = ctx.onFailure === "rollback-all" ? await rollBackAll(switched, ctx) : [];
    const kept = switched.filter((x) => !rolledBack.includes(x.host) && ctx.outcomes.get(x.host)!.result === "ok").map((x) => x.host);
    throw new SlipwayError(
      `deploy of ${ctx.buildId} to ${ctx.targetName} failed:\n${failures.map((f) => f.message).join("\n")}` +
        (rolledBack.length ? `\nrolled back (on_failure = "rollback-all"): ${rolledBack.join(", ")}` : "") +
        (kept.length ? `\nstill on ${ctx.buildId} (on_failure = "stop"): ${kept.join(", ")}` : ""),
      failures.map((f) => (f as SlipwayError).hint).find(Boolean),
    );
  }
}

/** Switch every host that took the new release back to the one it had. Returns the hosts rolled back. */
async function rollBackAll(switched: { host: string; previous?: string }[], ctx: BatchContext): Promise<string[]> {
  const done: string[] = [];
  await Promise.allSettled(switched.map(async ({ host, previous }) => {
    if (!previous) return;
    await activate(ctx.activation(host), previous, { rollbackOnFailure: false });
    ctx.outcomes.get(host)!.result = "rolled-back";
    done.push(host);
  }));
  return done;
}
