import { SlipwayError } from "../errors.js";
import type { Emit } from "../events.js";
import type { HostOutcome } from "./outcome.js";
import { activate, type Activation, type Before } from "./activate.js";
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

interface Switched {
  host: string;
  before: Before;
}

/**
 * SPEC §5 steps 7–10, batch by batch: each host is drained, switched, restarted, checked and
 * put back. When a host fails (it switches itself back), the deploy stops; with
 * on_failure = "rollback-all" every host already on the new release is switched back too, in
 * the same batches, so the fleet is never left split between versions and never has more
 * hosts out of rotation at once than the deploy had.
 */
export async function switchInBatches(plan: DeployPlan, ctx: BatchContext): Promise<void> {
  const switched: Switched[] = [];
  for (const [index, hosts] of plan.batches.entries()) {
    ctx.emit({ type: "batch", index, hosts });
    const settled = await Promise.allSettled(
      hosts.map(async (host) => {
        const out = ctx.outcomes.get(host)!;
        const t = performance.now();
        try {
          const before = await activate(ctx.activation(host), ctx.buildId);
          out.previous = before.current;
          switched.push({ host, before });
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
      }),
    );
    const failures = settled.flatMap((r) => (r.status === "rejected" ? [r.reason as Error] : []));
    if (failures.length === 0) continue;
    const { done: rolledBack, failed: notBack } = ctx.onFailure === "rollback-all" ? await rollBackAll(plan.batches, switched, ctx) : { done: [], failed: [] };
    const kept = switched.filter((x) => !rolledBack.includes(x.host) && ctx.outcomes.get(x.host)!.result === "ok").map((x) => x.host);
    throw new SlipwayError(
      `deploy of ${ctx.buildId} to ${ctx.targetName} failed:\n${failures.map((f) => f.message).join("\n")}` +
        (rolledBack.length ? `\nrolled back (on_failure = "rollback-all"): ${rolledBack.join(", ")}` : "") +
        (notBack.length ? `\nnot rolled back:\n${notBack.map((e) => e.message).join("\n")}` : "") +
        (kept.length ? `\nstill on ${ctx.buildId} (on_failure = "${ctx.onFailure}"): ${kept.join(", ")}` : ""),
      failures.map((f) => (f as SlipwayError).hint).find(Boolean),
    );
  }
}

/**
 * Switch every host that took the new release back to the release it had, with `previous` as
 * it was, batch by batch in the deploy's own batches (a host that fails to switch back does not
 * stop the others). Returns the hosts rolled back.
 */
async function rollBackAll(batches: readonly string[][], switched: readonly Switched[], ctx: BatchContext): Promise<{ done: string[]; failed: Error[] }> {
  const done: string[] = [];
  const failed: Error[] = [];
  for (const batch of batches) {
    const now = switched.filter((x) => batch.includes(x.host) && x.before.current && x.before.current !== ctx.buildId);
    if (now.length === 0) continue;
    const settled = await Promise.allSettled(
      now.map(async ({ host, before }) => {
        await activate(ctx.activation(host), before.current!, { rollbackOnFailure: false, previous: before.previous });
        ctx.outcomes.get(host)!.result = "rolled-back";
        done.push(host);
      }),
    );
    for (const r of settled) if (r.status === "rejected") failed.push(r.reason as Error);
  }
  return { done, failed };
}
