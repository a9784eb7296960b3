import type { Config, RoleConfig, TargetConfig } from "../config/schema.js";
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
  /** The host pulls the layers from the registry (source.ts): the deployer sends it the manifest only. */
  pull?: boolean;
  /** The line the stage writes into the venv's mark: the interpreter the preflight just checked (interpreter-mark.ts). */
  interpreterMark?: string;
}

export interface DeployPlan {
  target: string;
  buildId: string;
  hosts: HostPlan[];
  /** Every switch batch, in order: each role's in turn (roles). */
  batches: string[][];
  /** The batches by role, in the order the roles are written; a host in several roles switches with the first. */
  roles: RoleBatches[];
  steps: string[];
}

export interface RoleBatches {
  role: string;
  /** Every host of the role in this run, also those an earlier role switches. */
  hosts: string[];
  batches: string[][];
}

/**
 * Each role's switch batches, roles in order: a role's own batch size (or `override`, from
 * --batch), over its hosts that an earlier role has not switched already. Pure.
 */
export function roleBatches(roles: readonly Pick<RoleConfig, "name" | "hosts" | "batch">[], override?: number | string): RoleBatches[] {
  const claimed = new Set<string>();
  return roles.map((r) => {
    const own = r.hosts.filter((h) => !claimed.has(h));
    for (const h of own) claimed.add(h);
    return { role: r.name, hosts: [...r.hosts], batches: own.length ? batchesOf(own, override ?? r.batch) : [] };
  });
}

/** Split hosts into switch batches: a count, or a percentage of the hosts (at least one). Pure. */
export function batchesOf(hosts: readonly string[], batch: number | string): string[][] {
  const size = typeof batch === "number" ? batch : Math.max(1, Math.ceil((hosts.length * Number(batch.replace("%", ""))) / 100));
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
  // The file this key's venv was checked against, unchanged, gives the same answer (interpreter-mark.ts).
  const unchanged = state.pythonUnchanged && state.venvPresent;
  if (!have && !unchanged) problems.push(`interpreter ${want.configured} is missing or does not run`);
  else if (have) {
    for (const field of ["executable", "implementation", "version", "abi", "platform"] as const) {
      if (have[field] !== want[field]) problems.push(`interpreter ${want.configured}: ${field} is ${have[field]}, the artifact was built with ${want[field]}`);
    }
  }
  if (!state.rootWritable) problems.push(`${manifest.root} is not writable by the deploy user`);
  const needed = [...new Set(["tar", "sha256sum", ...manifest.layers.map((l) => l.compression)])] as ("tar" | "sha256sum" | "zstd" | "gzip")[];
  for (const tool of needed) if (!state.tools[tool]) problems.push(`${tool} is not installed`);
  if (plan.sendVenv && !state.tools.teeP) {
    problems.push("tee cannot write to /dev/fd/N with -p (GNU coreutils 8.24 or later, and /dev/fd): the venv layer is hashed through it as it unpacks");
  }
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
  /** --batch: every role's batch size; undefined: each role's own. */
  batch: number | string | undefined,
  /** Bytes of the manifest as each host would receive it (manifest-delta.ts); 0 if not given. */
  manifestSize: (host: string) => number = () => 0,
  /** Hosts that pull their layers from the registry (source.ts). */
  pull: ReadonlySet<string> = new Set(),
): DeployPlan {
  const [code, venv] = manifest.layers;
  const hostPlans = hosts.map((host): HostPlan => {
    const s = states.get(host)!;
    const releasePresent = s.releaseManifestSha !== undefined;
    const sendVenv = !s.venvPresent && !releasePresent;
    const pulls = pull.has(host);
    const bytes = releasePresent ? 0 : manifestSize(host) + (pulls ? 0 : code!.size + (sendVenv ? venv!.size : 0));
    const mark = !s.pythonUnchanged && s.python ? s.pythonMark : undefined;
    return { host, sendVenv, releasePresent, bytes, current: s.current, ...(pulls ? { pull: true } : {}), ...(mark ? { interpreterMark: mark } : {}) };
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
    ...[...new Set(target.roles.map((r) => r.restart.manager))].filter((m) => m !== "none").map((m) => `restart (${m})`),
    ...(config.deploy.hooks.after_switch.length ? ["hooks after_switch"] : []),
    "record",
    `prune (keep ${config.deploy.keep_releases})`,
    "unlock",
  ];
  const roles = roleBatches(
    target.roles.map((r) => ({ ...r, hosts: r.hosts.filter((h) => hosts.includes(h)) })),
    batch,
  );
  return { target: targetName, buildId: manifest.build_id, hosts: hostPlans, batches: roles.flatMap((r) => r.batches), roles, steps };
}

export function summarize(plan: DeployPlan): PlanSummary {
  return {
    action: "deploy",
    target: plan.target,
    build_id: plan.buildId,
    batches: plan.batches,
    roles: plan.roles.map((r) => ({ role: r.role, batches: r.batches })),
    hosts: plan.hosts.map((h) => ({
      host: h.host,
      roles: plan.roles.filter((r) => r.hosts.includes(h.host)).map((r) => r.role),
      send: h.releasePresent ? [] : h.pull ? ["manifest"] : h.sendVenv ? ["manifest", "code", "venv"] : ["manifest", "code"],
      ...(h.pull && !h.releasePresent ? { pull: h.sendVenv ? ["code", "venv"] : ["code"] } : {}),
      bytes: h.bytes,
      release: h.releasePresent ? "present" : "new",
      current: h.current,
    })),
    steps: plan.steps,
  };
}
