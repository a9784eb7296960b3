import { loadConfig } from "../config/load.js";
import type { Config, TargetConfig } from "../config/schema.js";
import { silent, type Emit } from "../events.js";
import { openSessions, type TransportFactory } from "../deploy/connect.js";
import { resolveTarget } from "../deploy/target.js";
import type { HostSession } from "../deploy/session.js";

export interface TargetOptions {
  cwd: string;
  configPath?: string;
  target?: string;
  hosts?: string;
  /** --roles: only these roles of the target (comma-separated). */
  roles?: string;
  emit?: Emit;
  transport?: TransportFactory;
}

export interface TargetContext {
  config: Config;
  name: string;
  target: TargetConfig;
  hosts: string[];
  sessions: HostSession[];
  emit: Emit;
}

/** Load the config, resolve the target, open a session per host; always closes them after `body`. */
export async function withTarget<T>(opts: TargetOptions, body: (ctx: TargetContext) => Promise<T>): Promise<T> {
  const emit = opts.emit ?? silent;
  const { config } = await loadConfig({ cwd: opts.cwd, configPath: opts.configPath });
  const { name, target, hosts } = resolveTarget(config, opts.target, opts.hosts, opts.roles);
  const opened = openSessions(hosts, target, emit, opts.transport);
  try {
    return await body({ config, name, target, hosts, sessions: [...opened.sessions.values()], emit });
  } finally {
    await opened.close();
  }
}
