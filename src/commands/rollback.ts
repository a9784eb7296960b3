import { SlipwayError, UsageError } from "../errors.js";
import { isValidBuildId } from "../config/patterns.js";
import { roleBatches } from "../deploy/plan.js";
import { lockInfo, rejectHeld, unlockAll } from "../deploy/locking.js";
import type { HostListing } from "../deploy/prune.js";
import { parsePreflightAndLock, preflightAndLock } from "../deploy/rollback-preflight.js";
import { finishHost } from "../deploy/finish.js";
import { layout } from "../deploy/layout.js";
import { historyRecord } from "../deploy/steps.js";
import { forHost } from "../config/roles.js";
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
    const root = ctx.config.app.root;
    const balancers = openBalancers(ctx.target);
    try {
      // Together: the HAProxy servers, and on every host (once connected) the lock taken and
      // what the host has, in one round trip. A refusal releases the locks this run took (one
      // more round trip), so it leaves every host as it was.
      const info = lockInfo("rollback", ctx.name, opts.to);
      const taking = ctx.sessions.map(async (s) => {
        await s.connect();
        return s.step(
          "preflight",
          async () => parsePreflightAndLock((await s.run("preflight", preflightAndLock(root, info))).stdout),
          (p) => (p.lock.state === "held" ? "locked" : `current ${p.listing.current ?? "none"}`),
        );
      });
      let plans: HostRollback[];
      try {
        await settleAll<unknown>([checkServers(balancers, ctx.hosts), ...taking]); // all settle; the first failure, in this order, is thrown
        const peeks = await Promise.all(taking);
        rejectHeld(
          ctx.name,
          ctx.sessions.map((s, i) => [s.host, peeks[i]!.lock]),
        );
        if (opts.to === undefined) agreeOnPrevious(ctx.sessions.map((s, i) => [s.host, peeks[i]!.listing]));
        plans = ctx.sessions.map((s, i) => ({ s, drained: peeks[i]!.drained, ...rollbackDestination(s.host, peeks[i]!.listing, opts.to) }));
      } catch (err) {
        // Release by token wherever the lock may be ours: also where the reply was lost after
        // the host ran it (releasing by token never removes another run's lock).
        const outcomes = await Promise.allSettled(taking);
        const ours = ctx.sessions.filter((_, i) => {
          const o = outcomes[i]!;
          return !(o.status === "fulfilled" && o.value.lock.state === "held");
        });
        await unlockAll(ours, root, info.token);
        throw err;
      }
      const results: RollbackResult["hosts"] = [];
      try {
        await rollBackHosts(ctx, balancers, plans, results);
        return { target: ctx.name, hosts: results };
      } finally {
        // Record (hosts that were switched or tried) and unlock: one round trip per host.
        await Promise.allSettled(
          ctx.sessions.map((s) => {
            const r = results.find((x) => x.host === s.host);
            const line = r
              ? JSON.stringify(
                  historyRecord({ action: "rollback", target: ctx.name, host: s.host, build_id: r.to, previous: r.from, result: r.result, error: r.error }),
                )
              : undefined;
            return s.step(
              "finish",
              () => s.run("finish", finishHost(root, line, info.token, [])),
              () => (r ? "recorded, unlocked" : "unlocked"),
            );
          }),
        );
      }
    } finally {
      await closeBalancers(balancers);
    }
  });
}

interface HostRollback {
  s: HostSession;
  /** HAProxy servers a killed earlier run left drained for this host (drained.ts). */
  drained?: string[];
  from?: string;
  to: string;
}

async function rollBackHosts(
  { config, name, target, emit }: TargetContext,
  balancers: Balancer[],
  plans: HostRollback[],
  results: RollbackResult["hosts"],
): Promise<void> {
  const root = config.app.root;
  // Roles in the order written, each in its own batches (a host in several roles goes with the first).
  const hosts = plans.map((p) => p.s.host);
  const batches = roleBatches(target.roles.map((r) => ({ ...r, hosts: r.hosts.filter((h) => hosts.includes(h)) }))).flatMap((r) => r.batches);
  for (const [index, batch] of batches.entries()) {
    emit({ type: "batch", index, hosts: batch });
    await settleAll(
      plans
        .filter((p) => batch.includes(p.s.host))
        .map(async ({ s, from, to, drained }) => {
          const env = {
            SLIPWAY_APP: config.app.name,
            SLIPWAY_TARGET: name,
            SLIPWAY_HOST: s.host,
            SLIPWAY_BUILD_ID: to,
            SLIPWAY_PREVIOUS_BUILD_ID: from ?? "",
            SLIPWAY_ROOT: root,
            SLIPWAY_RELEASE_DIR: layout(root).release(to),
          };
          const r: RollbackResult["hosts"][number] = { host: s.host, from, to, result: "failed" };
          results.push(r);
          try {
            await activate({ session: s, root, ...forHost(target, s.host), balancers, env, emit, drainedBefore: drained, oneTrip: true }, to);
            r.result = "ok";
          } catch (err) {
            r.error = (err as Error).message;
            throw err;
          }
        }),
    );
  }
}

/** Where a host goes (pure): --to, else its `previous`; the release must be on the host, and complete (complete.ts). */
export function rollbackDestination(host: string, l: HostListing, to?: string): { from?: string; to: string } {
  const dest = to ?? l.previous;
  if (!dest)
    throw new SlipwayError(
      `${host}: there is no previous release to roll back to — nothing was changed`,
      "name one with --to BUILD_ID (see `slipway releases`)",
    );
  const release = l.releases.find((r) => r.id === dest);
  if (!release) {
    throw new SlipwayError(
      `${host}: release ${dest} is not on this host — nothing was changed`,
      `releases there: ${l.releases.map((r) => r.id).join(", ") || "none"}`,
    );
  }
  if (release.incomplete) {
    throw new SlipwayError(
      `${host}: release ${dest} is incomplete on this host (a prune or crash left part of it, or an older slipway made it and it is neither current nor previous) — nothing was changed`,
      `deploy the artifact of ${dest} again: the deploy stages it whole and switches to it`,
    );
  }
  return { from: l.current, to: dest };
}

/**
 * Without --to, every host must agree on where `previous` leads (pure): a deploy that failed
 * part-way, or a rollback of some hosts, can leave hosts whose `previous` differ, and rolling
 * each back to its own would leave the fleet on several releases. Refuses (exit 2), naming
 * each host's choice and the releases every host could go to.
 */
export function agreeOnPrevious(hosts: readonly (readonly [host: string, listing: HostListing])[]): void {
  const choices = new Set(hosts.map(([, l]) => l.previous ?? ""));
  if (choices.size <= 1) return;
  const width = Math.max(...hosts.map(([h]) => h.length));
  const lines = hosts.map(([h, l]) => `  ${h.padEnd(width)}  current ${l.current ?? "none"}, previous ${l.previous ?? "none"}`);
  const everywhere = hosts
    .map(([, l]) => new Set(l.releases.filter((r) => !r.incomplete).map((r) => r.id)))
    .reduce((a, b) => new Set([...a].filter((id) => b.has(id))));
  throw new UsageError(
    `the hosts disagree about the previous release — nothing was changed:\n${lines.join("\n")}`,
    `pick one with --to BUILD_ID${everywhere.size ? ` (on every host: ${[...everywhere].join(", ")})` : " (no release is on every host: deploy one)"}`,
  );
}
