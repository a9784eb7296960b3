import type { HaproxyConfig } from "../config/schema.js";
import { UsageError } from "../errors.js";

/**
 * Batches that would take every server a balancer maps out of rotation at once: the backend
 * would answer 503 until they are back. Pure; `allow_full_drain = true` opts a balancer out.
 */
export function fullDrains(batches: readonly (readonly string[])[], configs: readonly HaproxyConfig[]): string[] {
  const problems: string[] = [];
  for (const c of configs) {
    const mapped = Object.keys(c.servers);
    if (c.allow_full_drain || mapped.length === 0) continue;
    for (const batch of batches) {
      if (mapped.every((h) => batch.includes(h))) {
        problems.push(
          `a batch of ${batch.length} (${batch.join(", ")}) drains every server of backend ${c.backend} (${mapped.map((h) => c.servers[h]).join(", ")}) at once`,
        );
        break;
      }
    }
  }
  return problems;
}

export const FULL_DRAIN_HINT =
  "use a smaller batch (batch = 1, or a percentage below 100%), or set allow_full_drain = true in the haproxy table if the backend has other servers or the downtime is accepted";

/** Refuse (exit 2, before anything is touched) batches that would empty a backend. */
export function refuseFullDrain(batches: readonly (readonly string[])[], configs: readonly HaproxyConfig[]): void {
  const problems = fullDrains(batches, configs);
  if (problems.length) throw new UsageError(`refused: ${problems.join("; ")} — the backend would answer 503 meanwhile`, FULL_DRAIN_HINT);
}
