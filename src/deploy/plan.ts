import type { Config, TargetConfig } from "../config/schema.js";
import type { Manifest } from "../artifact/manifest.js";
import type { PlanSummary } from "../events.js";
import type { HostState } from "./probe.js";

export interface HostPlan {
  host: string;
  sendVenv: boolean;
  /** The release dir is already there with this exact manifest: nothing to send or unpack. */
  releasePresent: boolean;
  bytes: number;
  current?: string;
}

export interface DeployPlan {
  target: string;
  buildId: string;
  hosts: HostPlan[];
  batches: string[][];
  steps: string[];
}

/** Split hosts into switch batches: a count, or a percentage of the hosts (at least one). Pure. */
export function batchesOf(hosts: readonly string[], batch: number | string): string[][] {
  const size =
    typeof batch === "number" ? batch : Math.max(1, Math.ceil((hosts.length * Number(batch.replace("%", ""))) / 100));
  const out: string[][] = [];
  for (let i = 0; i < hosts.length; i += size) out.push(hosts.slice(i, i + size));
  return out;
}

/**
 * Everything that makes a host unable to take this artifact, in words that name the
 * difference (SPEC §5 step 2). Pure: the host's state was probed before.
 */
export function incompatibilities(manifest: Manifest, manifestSha: string, state: HostState, plan: Omit<HostPlan, "host">): string[] {
  const problems: string[] = [];
  const want = manifest.env.python;
  const have = state.python;
  if (!have) problems.push(`interpreter ${want.configured} is missing or does not run`);
  else {
    for (const field of ["executable", "implementation", "version", "abi", "platform"] as const) {
      if (have[field] !== want[field]) problems.push(`interpreter ${want.configured}: ${field} is ${have[field]}, the artifact was built with ${want[field]}`);
    }
  }
  if (!state.rootWritable) problems.push(`${manifest.root} is not writable by the deploy user`);
  const needed = [...new Set(["tar", "sha256sum", ...manifest.layers.map((l) => l.compression)])] as (keyof HostState["tools"])[];
  for (const tool of needed) if (!state.tools[tool]) problems.push(`${tool} is not installed`);
  if (state.releaseManifestSha && state.releaseManifestSha !== manifestSha) {
    problems.push(`release ${manifest.build_id} already exists with different contents (build ids must be unique: build again with a new id)`);
  }
  const [code, venv] = manifest.layers;
  const need = (plan.releasePresent ? 0 : code!.size + code!.unpacked_size) + (plan.sendVenv ? venv!.size + venv!.unpacked_size : 0);
  const needKb = Math.ceil((need * 1.1) / 1024) + 10 * 1024;
  if (need > 0 && state.freeKb < needKb) problems.push(`needs ${needKb} KiB free under ${manifest.root}, has ${state.freeKb} KiB`);
  return problems;
}

/** What each host needs and in which batches they switch. Pure: config, manifest and probed states in. */
export function planDeploy(
  config: Config,
  targetName: string,
  target: TargetConfig,
  hosts: readonly string[],
  manifest: Manifest,
  states: ReadonlyMap<string, HostState>,
  batch: number | string,
  /** Bytes of the manifest as each host would receive it (manifest-delta.ts); 0 if not given. */
  manifestSize: (host: string) => number = () => 0,
): DeployPlan {
  const [code, venv] = manifest.layers;
  const hostPlans = hosts.map((host): HostPlan => {
    const s = states.get(host)!;
    const releasePresent = s.releaseManifestSha !== undefined;
    const sendVenv = !s.venvPresent && !releasePresent;
    const bytes = releasePresent ? 0 : manifestSize(host) + code!.size + (sendVenv ? venv!.size : 0);
    return { host, sendVenv, releasePresent, bytes, current: s.current };
  });
  const m = config.deploy.migrations;
  const steps = [
    "lock",
    "preflight",
    "send + verify",
    "unpack",
    ...(m.check ? [`migrations check (${m.policy})`] : []),
    ...(m.policy === "run" ? ["migrations run (first host)"] : []),
    ...(config.deploy.hooks.before_switch.length ? ["hooks before_switch"] : []),
    "switch",
    ...(target.restart.manager !== "command" || target.restart.command ? [`restart (${target.restart.manager})`] : []),
    ...(config.deploy.hooks.after_switch.length ? ["hooks after_switch"] : []),
    "record",
    `prune (keep ${config.deploy.keep_releases})`,
    "unlock",
  ];
  return { target: targetName, buildId: manifest.build_id, hosts: hostPlans, batches: batchesOf(hosts, batch), steps };
}

export function summarize(plan: DeployPlan): PlanSummary {
  return {
    action: "deploy",
    target: plan.target,
    build_id: plan.buildId,
    batches: plan.batches,
    hosts: plan.hosts.map((h) => ({
      host: h.host,
      send: h.releasePresent ? [] : h.sendVenv ? ["manifest", "code", "venv"] : ["manifest", "code"],
      bytes: h.bytes,
      release: h.releasePresent ? "present" : "new",
      current: h.current,
    })),
    steps: plan.steps,
  };
}
