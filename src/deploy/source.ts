import type { TargetConfig } from "../config/schema.js";
import { sourceOf } from "../config/roles.js";
import { registryProblem, type HostState } from "./probe.js";

/** Which hosts pull their layers from the registry, and what preflight found. */
export interface SourceChoice {
  /** Hosts that pull (their source is a registry they reached at preflight). */
  pull: Set<string>;
  /** Hosts that could not reach their registry and are sent the layers over ssh (fallback = "push"), with why. */
  pushedInstead: { host: string; why: string }[];
  /** Hosts that could not reach their registry with no fallback: the deploy is refused (exit 3). */
  problems: { host: string; why: string }[];
}

/** The registry a host pulls from, as its origin (for the preflight's GET /v2/). Pure. */
export function registryOrigin(target: TargetConfig, host: string): string {
  const url = sourceOf(target, host)?.registry;
  return url ? new URL(url).origin : "";
}

/** Decide each host's source from the config and the preflight (probe.ts registry_status). Pure. */
export function chooseSources(target: TargetConfig, hosts: readonly string[], states: ReadonlyMap<string, HostState>): SourceChoice {
  const choice: SourceChoice = { pull: new Set(), pushedInstead: [], problems: [] };
  for (const host of hosts) {
    const src = sourceOf(target, host);
    if (!src) continue;
    const why = registryProblem(states.get(host)?.registryStatus ?? "");
    if (!why) choice.pull.add(host);
    else if (src.fallback === "push") choice.pushedInstead.push({ host, why: `cannot reach ${new URL(src.registry).origin}: ${why}` });
    else choice.problems.push({ host, why: `cannot reach the registry ${new URL(src.registry).origin}: ${why}` });
  }
  return choice;
}
