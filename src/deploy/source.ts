import type { SourceConfig, TargetConfig } from "../config/schema.js";
import { sourceOf } from "../config/roles.js";
import { endpointOf } from "../s3/client.js";
import { registryProblem, storeProblem, type HostState } from "./probe.js";

/** Which hosts pull their layers from the registry (or S3 store), and what preflight found. */
export interface SourceChoice {
  /** Hosts that pull (their source is a registry or store they reached at preflight). */
  pull: Set<string>;
  /** Hosts that could not reach their source and are sent the layers over ssh (fallback = "push"), with why. */
  pushedInstead: { host: string; why: string }[];
  /** Hosts that could not reach their source with no fallback: the deploy is refused (exit 3). */
  problems: { host: string; why: string }[];
}

/**
 * The S3 endpoint the hosts fetch from: the deployer's (AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL),
 * since the presigned URLs it sends name it; AWS S3 itself otherwise.
 */
export function s3Origin(env: NodeJS.ProcessEnv = process.env): string {
  return new URL(endpointOf(env).url ?? "https://s3.amazonaws.com").origin;
}

/** The registry a host pulls from, as its origin; "" when it has none. Pure. */
export function registryOrigin(target: TargetConfig, host: string): string {
  const url = sourceOf(target, host)?.registry;
  return url ? new URL(url).origin : "";
}

/** What a host's preflight GETs to see whether it reaches its source, or "" (push mode). Pure but for the environment. */
export function preflightUrl(target: TargetConfig, host: string, env: NodeJS.ProcessEnv = process.env): string {
  const src = sourceOf(target, host);
  if (src?.registry) return `${registryOrigin(target, host)}/v2/`;
  if (src?.s3) return `${s3Origin(env)}/`;
  return "";
}

/** Where the source is: the registry's or the S3 store's origin. */
function originOf(src: SourceConfig, env: NodeJS.ProcessEnv): string {
  return src.registry ? new URL(src.registry).origin : s3Origin(env);
}

/** Decide each host's source from the config and the preflight (probe.ts registry_status). Pure but for the environment. */
export function chooseSources(
  target: TargetConfig,
  hosts: readonly string[],
  states: ReadonlyMap<string, HostState>,
  env: NodeJS.ProcessEnv = process.env,
): SourceChoice {
  const choice: SourceChoice = { pull: new Set(), pushedInstead: [], problems: [] };
  for (const host of hosts) {
    const src = sourceOf(target, host);
    if (!src) continue;
    const status = states.get(host)?.registryStatus ?? "";
    const why = src.registry ? registryProblem(status) : storeProblem(status);
    if (!why) choice.pull.add(host);
    else if (src.fallback === "push") choice.pushedInstead.push({ host, why: `cannot reach ${originOf(src, env)}: ${why}` });
    else choice.problems.push({ host, why: `cannot reach the ${src.registry ? "registry" : "S3 store"} ${originOf(src, env)}: ${why}` });
  }
  return choice;
}
