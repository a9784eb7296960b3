import type { HaproxyConfig, TargetConfig } from "../config/schema.js";
import { EnvironmentError, SlipwayError } from "../errors.js";
import { SshTransport } from "../transport/ssh.js";
import {
  adminState,
  findServer,
  parseServersState,
  parseShowStat,
  setServerError,
  setServerState,
  showServersState,
  SHOW_STAT,
  type ServerState,
  type StatRow,
} from "./haproxy.js";
import { localRuntime, remoteRuntime, type RuntimeApi } from "./runtime.js";

/** One load balancer in front of the target's hosts, reached through its runtime API. */
export interface Balancer {
  config: HaproxyConfig;
  api: RuntimeApi;
  /** Servers this run has taken out of rotation and not yet put back (drain.ts). */
  held: Set<string>;
  /** Servers UP and in rotation when this run first looked, before it drained any (capacity.ts). */
  baseline?: Set<string>;
}

/** The balancers in front of the target's roles (each once: roles that inherit the target's share its tables). */
export function balancerConfigs(target: TargetConfig): HaproxyConfig[] {
  const tables = target.roles.flatMap((r) => (r.haproxy === undefined ? [] : Array.isArray(r.haproxy) ? r.haproxy : [r.haproxy]));
  return [...new Set(tables)];
}

export function openBalancers(target: TargetConfig): Balancer[] {
  return balancerConfigs(target).map((config) => ({
    config,
    api: config.host === "local" ? localRuntime(config.socket) : remoteRuntime(new SshTransport(config.host, target.ssh), config.socket),
    held: new Set<string>(),
  }));
}

export async function closeBalancers(balancers: readonly Balancer[]): Promise<void> {
  await Promise.allSettled(balancers.map((b) => b.api.close()));
}

export async function stats(b: Balancer): Promise<StatRow[]> {
  return parseShowStat(await b.api.send(SHOW_STAT));
}

/** The admin state set on each server of the balancer's backend (operator or configuration). */
export async function adminStates(b: Balancer): Promise<Map<string, ServerState>> {
  const rows = parseServersState(await b.api.send(showServersState(b.config.backend)));
  return new Map(rows.filter((r) => r.backend === b.config.backend).map((r) => [r.server, adminState(r.adminState)]));
}

/** HAProxy answered a command with a refusal: nothing was changed. */
export class HaproxyRefused extends SlipwayError {}

/** Set a server's admin state; HAProxy's refusal (an unknown server, a socket below `level admin`) throws HaproxyRefused. */
export async function setState(b: Balancer, server: string, state: ServerState): Promise<void> {
  const err = setServerError(await b.api.send(setServerState(b.config.backend, server, state)));
  if (err) {
    throw new HaproxyRefused(
      `${b.api.where}: set server ${b.config.backend}/${server} state ${state}: ${err}`,
      /permission denied/i.test(err) ? "the stats socket needs `level admin` in HAProxy's configuration" : undefined,
    );
  }
}

/**
 * Preflight: every host this run drains must be a server HAProxy knows, in the configured
 * backend, on every load balancer. Otherwise exit 2 before any host is touched.
 */
export async function checkServers(balancers: readonly Balancer[], hosts: readonly string[]): Promise<void> {
  const problems: string[] = [];
  for (const b of balancers) {
    let rows: StatRow[];
    try {
      rows = await stats(b);
    } catch (err) {
      throw new EnvironmentError(
        `cannot read HAProxy stats at ${b.api.where}: ${(err as Error).message}`,
        "check haproxy.socket / haproxy.host, and that the socket has `level admin`",
      );
    }
    if (!rows.some((r) => r.pxname === b.config.backend && r.svname === "BACKEND")) {
      problems.push(`${b.api.where}: HAProxy has no backend ${b.config.backend}`);
      continue;
    }
    for (const host of hosts) {
      const server = b.config.servers[host];
      if (server && !findServer(rows, b.config.backend, server))
        problems.push(`${b.api.where}: backend ${b.config.backend} has no server ${server} (for ${host})`);
    }
  }
  if (problems.length) {
    throw new EnvironmentError(
      `HAProxy does not know these servers — nothing was changed:\n${problems.map((p) => `  ${p}`).join("\n")}`,
      "fix targets.<name>.haproxy.backend / servers to match the HAProxy configuration",
    );
  }
}
