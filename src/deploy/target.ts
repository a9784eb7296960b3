import type { Config, TargetConfig } from "../config/schema.js";
import { hostsOf } from "../config/roles.js";
import { UsageError } from "../errors.js";

/**
 * The target named on the command line, narrowed to what this run acts on: --roles keeps those
 * roles, --hosts those hosts (of the roles kept); a role left with no host is dropped. The
 * returned target's `roles` and `hosts` are the narrowed ones. Pure.
 */
export function resolveTarget(
  config: Config,
  name: string | undefined,
  hostsFlag?: string,
  rolesFlag?: string,
): { name: string; target: TargetConfig; hosts: string[] } {
  const names = Object.keys(config.targets);
  if (!name)
    throw new UsageError("--target is required", names.length ? `targets in the config: ${names.join(", ")}` : "add a [targets.NAME] table to the config");
  const full = config.targets[name];
  if (!full) {
    throw new UsageError(
      `no target named ${JSON.stringify(name)} in the config`,
      names.length ? `targets: ${names.join(", ")}` : "add a [targets.NAME] table to the config",
    );
  }
  let roles = full.roles;
  if (rolesFlag !== undefined) {
    const wanted = list(rolesFlag);
    const known = full.roles.map((r) => r.name);
    const unknown = wanted.filter((r) => !known.includes(r));
    if (unknown.length || wanted.length === 0) {
      throw new UsageError(`--roles names ${unknown.join(", ") || "no role"}, not a role of targets.${name}`, `roles of ${name}: ${known.join(", ")}`);
    }
    roles = roles.filter((r) => wanted.includes(r.name));
  }
  if (hostsFlag !== undefined) {
    const wanted = list(hostsFlag);
    const inRoles = hostsOf(roles);
    const unknown = wanted.filter((h) => !inRoles.includes(h));
    if (unknown.length || wanted.length === 0) {
      const where = rolesFlag !== undefined ? `the roles given (${roles.map((r) => r.name).join(", ")})` : `targets.${name}`;
      throw new UsageError(`--hosts names ${unknown.join(", ") || "no host"}, not in ${where}`, `hosts: ${inRoles.join(", ")}`);
    }
    roles = roles.map((r) => ({ ...r, hosts: r.hosts.filter((h) => wanted.includes(h)) })).filter((r) => r.hosts.length > 0);
  }
  const hosts = hostsOf(roles);
  return { name, target: { ...full, roles, hosts }, hosts };
}

function list(flag: string): string[] {
  return flag
    .split(",")
    .map((x) => x.trim())
    .filter(Boolean);
}

export function parseBatch(flag: string | undefined): number | string | undefined {
  if (flag === undefined) return undefined;
  if (/^[1-9][0-9]*$/.test(flag)) return Number(flag);
  if (/^([1-9][0-9]?|100)%$/.test(flag)) return flag;
  throw new UsageError(`--batch ${JSON.stringify(flag)} is not a host count or a percentage`, "use e.g. --batch 2 or --batch 25%");
}
