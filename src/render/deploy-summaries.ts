import type { DeployResult } from "../commands/deploy.js";
import type { RollbackResult } from "../commands/rollback.js";
import type { ReleasesResult } from "../commands/releases.js";
import type { PruneResult } from "../commands/prune.js";
import type { UnlockResult } from "../commands/unlock.js";
import { bytes, duration } from "./format.js";

type Out = (line: string) => void;

export function deploySummary(r: DeployResult): (out: Out) => void {
  return (out) => {
    const p = r.plan;
    if (r.dry_run) {
      out(`plan: deploy ${r.build_id} to ${r.target} (dry run: nothing was changed)`);
      for (const h of p.hosts) {
        const roles = h.roles?.length ? ` [${h.roles.join(", ")}]` : "";
        out(
          `  ${h.host.padEnd(28)}${roles} current ${h.current ?? "—"}; ${h.release === "present" ? "release already there, sends nothing" : `sends ${h.send.join(" + ")} (${bytes(h.bytes)})${h.pull ? `, pulls ${h.pull.join(" + ")} from the registry` : ""}`}`,
        );
      }
      if (p.roles && p.roles.length > 1) {
        for (const r of p.roles)
          out(`  role ${r.role}: ${r.batches.length ? r.batches.map((b) => `[${b.join(", ")}]`).join(" → ") : "(every host switched with an earlier role)"}`);
      } else out(`  batches: ${p.batches.map((b) => `[${b.join(", ")}]`).join(" → ")}`);
      out(`  steps: ${p.steps.join(" → ")}`);
      return;
    }
    out(`deployed ${r.build_id} to ${r.target} (${r.hosts.length} host${r.hosts.length === 1 ? "" : "s"})`);
    for (const h of r.hosts) out(`  ${h.host.padEnd(28)} ${h.result}  previous ${h.previous ?? "—"}  sent ${bytes(h.bytes_sent)}`);
    if (r.migrations) out(`  migrations: ${r.migrations.pending} pending (checked on ${r.migrations.host})`);
    out(`  verify ${duration(r.timings_ms["verify"] ?? 0)}, stage ${duration(r.timings_ms["stage"] ?? 0)}`);
  };
}

export function rollbackSummary(r: RollbackResult): (out: Out) => void {
  return (out) => {
    out(`rolled back ${r.target}`);
    for (const h of r.hosts) out(`  ${h.host.padEnd(28)} ${h.from ?? "—"} → ${h.to}  ${h.result}`);
  };
}

export function releasesSummary(r: ReleasesResult): (out: Out) => void {
  return (out) => {
    for (const h of r.hosts) {
      out(`${h.host}  (free ${bytes(h.freeKb * 1024)})`);
      for (const rel of h.releases) {
        const mark = rel.id === h.current ? "current " : rel.id === h.previous ? "previous" : "        ";
        out(
          `  ${mark} ${rel.id.padEnd(32)} ${bytes(rel.kb * 1024).padStart(10)}  venv ${rel.venv ?? "—"}  ${new Date(rel.mtime * 1000).toISOString()}${rel.incomplete ? "  (incomplete: deploy it again to use it)" : ""}`,
        );
      }
      for (const v of h.venvs) out(`  venv     ${v.key}  ${bytes(v.kb * 1024).padStart(10)}${v.complete ? "" : "  (incomplete)"}`);
    }
  };
}

export function pruneSummary(r: PruneResult): (out: Out) => void {
  return (out) => {
    out(`pruned ${r.target} (keep ${r.keep})`);
    for (const h of r.hosts)
      out(
        `  ${h.host.padEnd(28)} kept ${h.keep.join(", ") || "—"}; removed ${[...h.removeReleases, ...h.removeVenvs.map((v) => `venv ${v}`)].join(", ") || "nothing"}`,
      );
  };
}

export function unlockSummary(r: UnlockResult): (out: Out) => void {
  return (out) => {
    const released = r.hosts.filter((h) => h.released);
    const kept = r.hosts.filter((h) => h.kept);
    if (released.length) out(`unlocked ${r.target} on ${released.map((h) => h.host).join(", ")}`);
    for (const h of kept) out(`  ${h.host}: not unlocked — ${h.kept}`);
    if (!released.length && !kept.length) out(`${r.target} was not locked`);
  };
}
