import type { ConfigProblem } from "../errors.js";
import type { Config } from "./schema.js";

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
    const { restart, health, haproxy } = target;
    if ((restart.manager === "supervisord" || restart.manager === "systemd") && restart.programs.length === 0) {
      problems.push({
        path: at("restart", "programs"),
        message: `is empty but manager = "${restart.manager}"`,
        hint: `list the ${restart.manager === "systemd" ? "units" : "programs"} to restart`,
      });
    }
    if (restart.manager !== "systemd" && (restart.scope !== "system" || restart.action !== "restart")) {
      problems.push({
        path: at("restart", restart.scope !== "system" ? "scope" : "action"),
        message: `is only used with manager = "systemd" (manager is "${restart.manager}")`,
        hint: "remove it",
      });
    }
    if (restart.manager !== "command" && restart.command) {
      problems.push({
        path: at("restart", "command"),
        message: `is only used with manager = "command" (manager is "${restart.manager}")`,
        hint: "remove it, or set manager = \"command\"",
      });
    }
    if (health.url && health.command) {
      problems.push({ path: at("health"), message: "sets both url and command", hint: "keep one of them" });
    }
    if (health.url && !/^https?:\/\/[^\s]+$/.test(health.url)) {
      problems.push({ path: at("health", "url"), message: "must be an http:// or https:// URL" });
    }
    if (target.transport === "local" && target.hosts.length !== 1) {
      problems.push({
        path: at("hosts"),
        message: 'transport = "local" deploys to this machine: give exactly one host (a label such as "localhost")',
      });
    }
    const seen = new Set<string>();
    target.hosts.forEach((h, i) => {
      if (seen.has(h)) problems.push({ path: at("hosts", i), message: `lists ${h} twice` });
      seen.add(h);
    });
    const balancers = haproxy === undefined ? [] : Array.isArray(haproxy) ? haproxy : [haproxy];
    for (const [i, lb] of balancers.entries()) {
      for (const host of Object.keys(lb.servers)) {
        if (!target.hosts.includes(host)) {
          problems.push({
            path: Array.isArray(haproxy) ? at("haproxy", i, "servers", host) : at("haproxy", "servers", host),
            message: `names ${host}, which is not in targets.${name}.hosts`,
            hint: "use the host exactly as written in hosts",
          });
        }
      }
    }
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
