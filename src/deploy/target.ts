import type { Config, TargetConfig } from "../config/schema.js";
import { UsageError } from "../errors.js";

/** The target named on the command line, and the hosts this run acts on (--hosts narrows them). */
export function resolveTarget(config: Config, name: string | undefined, hostsFlag?: string): { name: string; target: TargetConfig; hosts: string[] } {
  const names = Object.keys(config.targets);
  if (!name) throw new UsageError("--target is required", names.length ? `targets in the config: ${names.join(", ")}` : "add a [targets.NAME] table to the config");
  const target = config.targets[name];
  if (!target) {
    throw new UsageError(`no target named ${JSON.stringify(name)} in the config`, names.length ? `targets: ${names.join(", ")}` : "add a [targets.NAME] table to the config");
  }
  if (!hostsFlag) return { name, target, hosts: [...target.hosts] };
  const wanted = hostsFlag.split(",").map((h) => h.trim()).filter(Boolean);
  const unknown = wanted.filter((h) => !target.hosts.includes(h));
  if (unknown.length || wanted.length === 0) {
    throw new UsageError(`--hosts names ${unknown.join(", ") || "no host"}, not in targets.${name}.hosts`, `hosts of ${name}: ${target.hosts.join(", ")}`);
  }
  return { name, target, hosts: target.hosts.filter((h) => wanted.includes(h)) };
}

export function parseBatch(flag: string | undefined): number | string | undefined {
  if (flag === undefined) return undefined;
  if (/^[1-9][0-9]*$/.test(flag)) return Number(flag);
  if (/^([1-9][0-9]?|100)%$/.test(flag)) return flag;
  throw new UsageError(`--batch ${JSON.stringify(flag)} is not a host count or a percentage`, 'use e.g. --batch 2 or --batch 25%');
}
