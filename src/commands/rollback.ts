import { SlipwayError, UsageError } from "../errors.js";
import { isValidBuildId } from "../config/patterns.js";
import { batchesOf } from "../deploy/plan.js";
import { lockAll, lockInfo, unlockAll } from "../deploy/locking.js";
import { listHost, parseListing } from "../deploy/prune.js";
import { layout } from "../deploy/layout.js";
import { activateHost, historyRecord, record } from "../deploy/steps.js";
import { withTarget, type TargetOptions } from "./target-context.js";

export interface RollbackResult {
  target: string;
  hosts: { host: string; from?: string; to: string; result: "ok" | "failed"; error?: string }[];
}

/**
 * Switch `current` back to `previous` (or to --to, a release kept on every host), restart and
 * record. Nothing is transferred: the release is already on the host.
 */
export async function rollback(opts: TargetOptions & { to?: string }): Promise<RollbackResult> {
  if (opts.to !== undefined && !isValidBuildId(opts.to)) throw new UsageError(`--to ${JSON.stringify(opts.to)} is not a valid build id`);
  return withTarget(opts, async ({ config, name, target, sessions, emit }) => {
    const root = config.app.root;
    const info = lockInfo("rollback", name, opts.to);
    await lockAll(sessions, root, info, name);
    const results: RollbackResult["hosts"] = [];
    try {
      const plans = await Promise.all(sessions.map(async (s) => {
        const l = parseListing((await s.step("list", () => s.run("list", listHost(root)))).stdout);
        const to = opts.to ?? l.previous;
        if (!to) throw new SlipwayError(`${s.host}: there is no previous release to roll back to`, "name one with --to BUILD_ID (see `slipway releases`)");
        if (!l.releases.some((r) => r.id === to)) {
          throw new SlipwayError(`${s.host}: release ${to} is not on this host`, `releases there: ${l.releases.map((r) => r.id).join(", ") || "none"}`);
        }
        return { s, from: l.current, to };
      }));
      for (const [index, batch] of batchesOf(plans.map((p) => p.s.host), target.batch).entries()) {
        emit({ type: "batch", index, hosts: batch });
        await Promise.all(plans.filter((p) => batch.includes(p.s.host)).map(async ({ s, from, to }) => {
          const env = {
            SLIPWAY_APP: config.app.name, SLIPWAY_TARGET: name, SLIPWAY_HOST: s.host, SLIPWAY_BUILD_ID: to,
            SLIPWAY_PREVIOUS_BUILD_ID: from ?? "", SLIPWAY_ROOT: root, SLIPWAY_RELEASE_DIR: layout(root).release(to),
          };
          try {
            await activateHost(s, root, to, target.restart, env);
            results.push({ host: s.host, from, to, result: "ok" });
          } catch (err) {
            results.push({ host: s.host, from, to, result: "failed", error: (err as Error).message });
            throw err;
          } finally {
            const r = results.find((x) => x.host === s.host);
            await record(s, root, historyRecord({ action: "rollback", target: name, host: s.host, build_id: to, previous: from, result: r?.result ?? "failed", error: r?.error })).catch(() => {});
          }
        }));
      }
      return { target: name, hosts: results };
    } finally {
      await unlockAll(sessions, root, info.token);
    }
  });
}
