import { SlipwayError, UsageError } from "../errors.js";
import { isValidBuildId } from "../config/patterns.js";
import { batchesOf } from "../deploy/plan.js";
import { lockAll, lockInfo, unlockAll } from "../deploy/locking.js";
import { listHost, parseListing } from "../deploy/prune.js";
import { layout } from "../deploy/layout.js";
import { historyRecord, record } from "../deploy/steps.js";
import { activate } from "../deploy/activate.js";
import type { HostSession } from "../deploy/session.js";
import { checkServers, closeBalancers, openBalancers, type Balancer } from "../lb/balancers.js";
import { settleAll } from "../util/pool.js";
import { withTarget, type TargetContext, type TargetOptions } from "./target-context.js";

export interface RollbackResult {
  target: string;
  hosts: { host: string; from?: string; to: string; result: "ok" | "failed"; error?: string }[];
}

/**
 * Switch `current` back to `previous` (or to --to, a release kept on every host): drained,
 * restarted, health-checked and put back like a deploy, batch by batch, and recorded.
 * Nothing is transferred: the release is already on the host.
 */
export async function rollback(opts: TargetOptions & { to?: string }): Promise<RollbackResult> {
  if (opts.to !== undefined && !isValidBuildId(opts.to)) throw new UsageError(`--to ${JSON.stringify(opts.to)} is not a valid build id`);
  return withTarget(opts, async (ctx) => {
    const balancers = openBalancers(ctx.target);
    try {
      await checkServers(balancers, ctx.hosts);
      const info = lockInfo("rollback", ctx.name, opts.to);
      await lockAll(ctx.sessions, ctx.config.app.root, info, ctx.name);
      try {
        return await rollBackHosts(ctx, balancers, opts.to);
      } finally {
        await unlockAll(ctx.sessions, ctx.config.app.root, info.token);
      }
    } finally {
      await closeBalancers(balancers);
    }
  });
}

async function rollBackHosts({ config, name, target, sessions, emit }: TargetContext, balancers: Balancer[], to?: string): Promise<RollbackResult> {
  const root = config.app.root;
  const plans = await settleAll(sessions.map((s) => destination(s, root, to)));
  const results: RollbackResult["hosts"] = [];
  for (const [index, batch] of batchesOf(plans.map((p) => p.s.host), target.batch).entries()) {
    emit({ type: "batch", index, hosts: batch });
    await settleAll(plans.filter((p) => batch.includes(p.s.host)).map(async ({ s, from, to }) => {
      const env = {
        SLIPWAY_APP: config.app.name, SLIPWAY_TARGET: name, SLIPWAY_HOST: s.host, SLIPWAY_BUILD_ID: to,
        SLIPWAY_PREVIOUS_BUILD_ID: from ?? "", SLIPWAY_ROOT: root, SLIPWAY_RELEASE_DIR: layout(root).release(to),
      };
      const r: RollbackResult["hosts"][number] = { host: s.host, from, to, result: "failed" };
      results.push(r);
      try {
        await activate({ session: s, root, target, balancers, env, emit }, to);
        r.result = "ok";
      } catch (err) {
        r.error = (err as Error).message;
        throw err;
      } finally {
        await record(s, root, historyRecord({ action: "rollback", target: name, host: s.host, build_id: to, previous: from, result: r.result, error: r.error })).catch(() => {});
      }
    }));
  }
  return { target: name, hosts: results };
}

/** Where this host goes: --to, else its `previous`; the release must be on the host. */
async function destination(s: HostSession, root: string, to?: string): Promise<{ s: HostSession; from?: string; to: string }> {
  const l = parseListing((await s.step("list", () => s.run("list", listHost(root)))).stdout);
  const dest = to ?? l.previous;
  if (!dest) throw new SlipwayError(`${s.host}: there is no previous release to roll back to`, "name one with --to BUILD_ID (see `slipway releases`)");
  if (!l.releases.some((r) => r.id === dest)) {
    throw new SlipwayError(`${s.host}: release ${dest} is not on this host`, `releases there: ${l.releases.map((r) => r.id).join(", ") || "none"}`);
  }
  return { s, from: l.current, to: dest };
}
