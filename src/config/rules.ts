import type { ConfigProblem } from "../errors.js";
import type { Config, HealthConfig, RestartConfig, TargetConfig } from "./schema.js";
import { roleBatches } from "../deploy/plan.js";
import { FULL_DRAIN_HINT, fullDrains } from "../lb/full-drain.js";

export interface RuleProblem {
  path: (string | number)[];
  message: string;
  hint?: string;
}

/** Cross-field rules the per-key schema cannot express. Pure: config in, problems out. */
export function checkRules(config: Config): RuleProblem[] {
  const problems: RuleProblem[] = [];
  const { migrations } = config.deploy;
  if (migrations.policy === "run" && !migrations.run) {
    problems.push({
      path: ["deploy", "migrations", "run"],
      message: 'is empty but policy = "run"',
      hint: 'set run to the command that applies migrations, or use policy = "warn" or "block"',
    });
  }
  for (const [name, target] of Object.entries(config.targets)) {
    const at = (...rest: (string | number)[]) => ["targets", name, ...rest];
    const { haproxy } = target;
    for (const used of tablesInUse(target, "restart")) {
      const where = used.role ? at("roles", used.role, "restart") : at("restart");
      problems.push(...restartRules(used.table).map((p) => ({ ...p, path: [...where, ...p.path] })));
    }
    for (const used of tablesInUse(target, "health")) {
      const where = used.role ? at("roles", used.role, "health") : at("health");
      problems.push(...healthRules(used.table).map((p) => ({ ...p, path: [...where, ...p.path] })));
    }
    if (target.transport === "local" && target.hosts.length !== 1) {
      problems.push({
        path: at("hosts"),
        message: 'transport = "local" deploys to this machine: give exactly one host (a label such as "localhost")',
      });
    }
    // Each haproxy table once: the target's (which roles without their own inherit), then each role's own.
    const tables: { haproxy: NonNullable<typeof haproxy>; at: (string | number)[]; hosts: string[]; label: string }[] = [];
    if (haproxy !== undefined) tables.push({ haproxy, at: at("haproxy"), hosts: target.hosts, label: `targets.${name}.hosts` });
    for (const role of target.roles) {
      if (role.haproxy !== undefined && role.haproxy !== haproxy) {
        tables.push({ haproxy: role.haproxy, at: at("roles", role.name, "haproxy"), hosts: role.hosts, label: `targets.${name}.roles.${role.name}.hosts` });
      }
    }
    const batches = roleBatches(target.roles).flatMap((r) => r.batches);
    for (const t of tables) {
      const balancers = Array.isArray(t.haproxy) ? t.haproxy : [t.haproxy];
      for (const [i, lb] of balancers.entries()) {
        for (const host of Object.keys(lb.servers)) {
          if (!t.hosts.includes(host)) {
            problems.push({
              path: Array.isArray(t.haproxy) ? [...t.at, i, "servers", host] : [...t.at, "servers", host],
              message: `names ${host}, which is not in ${t.label}`,
              hint: "use the host exactly as written in hosts",
            });
          }
        }
        for (const message of fullDrains(batches, [lb])) problems.push({ path: at("batch"), message, hint: FULL_DRAIN_HINT });
      }
    }
  }
  return problems;
}

/**
 * The restart (or health) tables a target's hosts use: each role's own, and the target's when a
 * role inherits it (a target-level default no role uses is not checked). A role inherits by
 * reference (config/roles.ts), which is how one is told from the other.
 */
function tablesInUse<K extends "restart" | "health">(target: Config["targets"][string], key: K): { role?: string; table: TargetConfig[K] }[] {
  const roles = target.roles ?? [];
  const own = roles.filter((r) => r[key] !== target[key]).map((r) => ({ role: r.name, table: r[key] as TargetConfig[K] }));
  return roles.length === 0 || own.length < roles.length ? [{ table: target[key] }, ...own] : own;
}

/** Rules of one health table; paths are relative to it. */
function healthRules(health: HealthConfig): RuleProblem[] {
  const problems: RuleProblem[] = [];
  if (health.url && health.command) problems.push({ path: [], message: "sets both url and command", hint: "keep one of them" });
  if (health.url && !/^https?:\/\/[^\s]+$/.test(health.url)) problems.push({ path: ["url"], message: "must be an http:// or https:// URL" });
  return problems;
}

/** Rules of one restart table; paths are relative to it. */
function restartRules(restart: RestartConfig): RuleProblem[] {
  const problems: RuleProblem[] = [];
  if ((restart.manager === "supervisord" || restart.manager === "systemd") && restart.programs.length === 0) {
    problems.push({
      path: ["programs"],
      message: `is empty but manager = "${restart.manager}"`,
      hint: `list the ${restart.manager === "systemd" ? "units" : "programs"} to restart`,
    });
  }
  if (restart.manager !== "systemd" && (restart.scope !== "system" || restart.action !== "restart")) {
    problems.push({
      path: [restart.scope !== "system" ? "scope" : "action"],
      message: `is only used with manager = "systemd" (manager is "${restart.manager}")`,
      hint: "remove it",
    });
  }
  if (restart.manager !== "command" && restart.command) {
    problems.push({
      path: ["command"],
      message: `is only used with manager = "command" (manager is "${restart.manager}")`,
      hint: 'remove it, or set manager = "command"',
    });
  }
  if (restart.manager === "command" && !restart.command.trim()) {
    // Restarting nothing leaves the old process serving, and its health check would pass.
    problems.push({
      path: [],
      message: 'restarts nothing: manager is "command" (the default) and command is empty, so the old release would go on serving after the switch',
      hint: 'set manager = "supervisord" or "systemd" with programs, or command = "…"; if nothing on these hosts needs a restart, say so with manager = "none"',
    });
  }
  if (restart.sudo && (restart.manager !== "systemd" || restart.scope !== "system")) {
    problems.push({
      path: ["sudo"],
      message:
        restart.manager === "systemd"
          ? 'is only used with system units (scope is "user": systemctl --user needs no sudo)'
          : `is only used with manager = "systemd" (manager is "${restart.manager}")`,
      hint: restart.manager === "command" ? "remove it, and put sudo in the command itself" : "remove it",
    });
  }
  return problems;
}

export function toConfigProblems(
  rules: RuleProblem[],
  file: string,
  lineOf: (path: (string | number)[]) => number | undefined,
  dotted: (path: (string | number)[]) => string,
): ConfigProblem[] {
  return rules.map((r) => ({ file, line: lineOf(r.path), path: dotted(r.path), message: r.message, hint: r.hint }));
}
