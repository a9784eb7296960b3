import type { Config, ParsedConfig, RoleConfig, SourceConfig, TargetConfig } from "./schema.js";

/** The role a target with plain `hosts` (and no roles) has. */
export const DEFAULT_ROLE = "web";

type ParsedTarget = ParsedConfig["targets"][string];

/**
 * A target's roles with every key resolved (a role's own restart, health, haproxy and batch,
 * else the target's), in the order written; plain `hosts` are one role named web. Pure.
 */
export function rolesOf(target: ParsedTarget): RoleConfig[] {
  const inherit = (name: string, hosts: string[], own: Partial<Omit<RoleConfig, "name" | "hosts">> = {}): RoleConfig => ({
    name,
    hosts,
    restart: own.restart ?? target.restart,
    health: own.health ?? target.health,
    haproxy: own.haproxy ?? target.haproxy,
    batch: own.batch ?? target.batch,
    ...((own.source ?? target.source) ? { source: own.source ?? target.source } : {}),
  });
  if (target.roles && Object.keys(target.roles).length) return Object.entries(target.roles).map(([name, r]) => inherit(name, r.hosts, r));
  return [inherit(DEFAULT_ROLE, target.hosts ?? [])];
}

/** Every host of every role, each once, in the order first written. Pure. */
export function hostsOf(roles: readonly RoleConfig[]): string[] {
  return [...new Set(roles.flatMap((r) => r.hosts))];
}

/** The config as commands use it: each target's roles resolved, its hosts their union. Pure. */
export function resolveRoles(parsed: ParsedConfig): Config {
  const targets: Record<string, TargetConfig> = {};
  for (const [name, t] of Object.entries(parsed.targets)) {
    const roles = rolesOf(t);
    const { roles: _r, hosts: _h, ...rest } = t;
    targets[name] = { ...rest, hosts: hostsOf(roles), roles };
  }
  return { ...parsed, targets };
}

/** The roles of a host, in the target's order. Pure. */
export function rolesOfHost(target: TargetConfig, host: string): RoleConfig[] {
  return target.roles.filter((r) => r.hosts.includes(host));
}

export interface RoleProblem {
  path: (string | number)[];
  message: string;
  hint?: string;
  /** The roles cannot be resolved: the other rules are not checked. */
  fatal?: boolean;
}

/** How a target's hosts and roles are written (before they are resolved). Pure. */
export function checkRoleShape(parsed: ParsedConfig): RoleProblem[] {
  const problems: RoleProblem[] = [];
  const migrationsRole = parsed.deploy.migrations.role;
  for (const [name, t] of Object.entries(parsed.targets)) {
    const roles = t.roles ? Object.keys(t.roles) : [];
    if (t.hosts && roles.length) {
      problems.push({
        path: ["targets", name, "hosts"],
        fatal: true,
        message: "is set as well as roles",
        hint: `list every host under its role (targets.${name}.roles.<role>.hosts) and remove targets.${name}.hosts`,
      });
    } else if (!t.hosts && !roles.length) {
      problems.push({
        path: ["targets", name, "hosts"],
        fatal: true,
        message: "is required (an array), or roles",
        hint: `add hosts = ["deploy@app-01"], or roles such as [targets.${name}.roles.web] with hosts`,
      });
    }
    const lists: [(string | number)[], string[]][] = t.hosts ? [[["targets", name, "hosts"], t.hosts]] : [];
    for (const [role, r] of Object.entries(t.roles ?? {})) lists.push([["targets", name, "roles", role, "hosts"], r.hosts]);
    for (const [at, hosts] of lists) {
      hosts.forEach((h, i) => {
        if (hosts.indexOf(h) !== i) problems.push({ path: [...at, i], message: `lists ${h} twice` });
      });
    }
  }
  // A target without the role runs them on its first role's first host; a name no target has is a typo.
  const all = new Set(Object.values(parsed.targets).flatMap((t) => (t.roles && Object.keys(t.roles).length ? Object.keys(t.roles) : [DEFAULT_ROLE])));
  if (migrationsRole && !all.has(migrationsRole)) {
    problems.push({
      path: ["deploy", "migrations", "role"],
      message: `names role ${JSON.stringify(migrationsRole)}, which no target has`,
      hint: `roles: ${[...all].join(", ") || "none"}`,
    });
  }
  return problems;
}

/**
 * What one host's activation uses: the target with its first role's restart and health, and
 * the host's other roles in this run (their restarts and checks follow). Pure.
 */
export function forHost(target: TargetConfig, host: string): { target: TargetConfig; otherRoles: RoleConfig[] } {
  const [first, ...others] = rolesOfHost(target, host);
  if (!first) return { target, otherRoles: [] };
  return { target: { ...target, restart: first.restart, health: first.health }, otherRoles: others };
}

/** Where a host gets the layers: its first role's source (a role inherits the target's); none: sent over ssh. Pure. */
export function sourceOf(target: TargetConfig, host: string): SourceConfig | undefined {
  return rolesOfHost(target, host)[0]?.source ?? target.source;
}

/** The host migrations run on: the first host of deploy.migrations.role (or of the first role) in this run, else the run's first host. Pure. */
export function migrationsHost(target: TargetConfig, role: string): string {
  const named = (role && target.roles.find((r) => r.name === role)) || target.roles[0];
  return named?.hosts[0] ?? target.hosts[0]!;
}
