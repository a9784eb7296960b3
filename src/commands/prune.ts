import { UsageError } from "../errors.js";
import { lockAll, lockInfo, unlockAll } from "../deploy/locking.js";
import type { PrunePlan } from "../deploy/prune.js";
import { historyRecord, pruneHost, record } from "../deploy/steps.js";
import { settleAll } from "../util/pool.js";
import { withTarget, type TargetOptions } from "./target-context.js";

export interface PruneResult {
  target: string;
  keep: number;
  hosts: ({ host: string } & PrunePlan)[];
}

/** Remove old releases (never current or previous) and venvs no kept release uses, on every host. */
export async function prune(opts: TargetOptions & { keep?: string }): Promise<PruneResult> {
  return withTarget(opts, async ({ config, name, sessions }) => {
    const keep = opts.keep === undefined ? config.deploy.keep_releases : Number(opts.keep);
    if (!Number.isInteger(keep) || keep < 1) throw new UsageError(`--keep ${JSON.stringify(opts.keep)} must be a whole number ≥ 1`);
    const root = config.app.root;
    const info = lockInfo("prune", name);
    await lockAll(sessions, root, info, name);
    try {
      const hosts = await settleAll(
        sessions.map(async (s) => {
          const plan = await pruneHost(s, root, keep);
          await record(
            s,
            root,
            historyRecord({ action: "prune", target: name, host: s.host, result: "ok", removed: [...plan.removeReleases, ...plan.removeVenvs] }),
          );
          return { host: s.host, ...plan };
        }),
      );
      return { target: name, keep, hosts };
    } finally {
      await unlockAll(sessions, root, info.token);
    }
  });
}
