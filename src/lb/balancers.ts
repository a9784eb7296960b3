import type { HaproxyConfig, TargetConfig } from "../config/schema.js";
import { parseDuration } from "../config/patterns.js";
import { EnvironmentError, SlipwayError } from "../errors.js";
import { SshTransport } from "../transport/ssh.js";
import { findServer, parseShowStat, setServerError, setServerState, SHOW_STAT, type ServerState } from "./haproxy.js";
import { localRuntime, remoteRuntime, type RuntimeApi } from "./runtime.js";


/** One load balancer in front of the target's hosts, reached through its runtime API. */
export interface Balancer {
  config: HaproxyConfig;
  api: RuntimeApi;
}

export function balancerConfigs(target: TargetConfig): HaproxyConfig[] {
  const h = target.haproxy;
  return h === undefined ? [] : Array.isArray(h) ? h : [h];
}

export function openBalancers(target: TargetConfig): Balancer[] {
  return balancerConfigs(target).map((config) => ({
    config,
    api: config.host === "local" ? localRuntime(config.socket) : remoteRuntime(new SshTransport(config.host, target.ssh), config.socket),
  }));
}

export async function closeBalancers(balancers: readonly Balancer[]): Promise<void> {
  await Promise.allSettled(balancers.map((b) => b.api.close()));
}

async function stats(b: Balancer) {
  return parseShowStat(await b.api.send(SHOW_STAT));
}

/**
 * Preflight: every host this run drains must be a server HAProxy knows, in the configured
 * backend, on every load balancer. Otherwise exit 2 before any host is touched.
 */
export async function checkServers(balancers: readonly Balancer[], hosts: readonly string[]): Promise<void> {
  const problems: string[] = [];
  for (const b of balancers) {
    let rows;
    try {
      rows = await stats(b);
    } catch (err) {
      throw new EnvironmentError(`cannot read HAProxy stats at ${b.api.where}: ${(err as Error).message}`,
        "check haproxy.socket / haproxy.host, and that the socket has `level admin`");
    }
    if (!rows.some((r) => r.pxname === b.config.backend && r.svname === "BACKEND")) {
      problems.push(`${b.api.where}: HAProxy has no backend ${b.config.backend}`);
      continue;
    }
    for (const host of hosts) {
      const server = b.config.servers[host];
      if (server && !findServer(rows, b.config.backend, server)) problems.push(`${b.api.where}: backend ${b.config.backend} has no server ${server} (for ${host})`);
    }
  }
  if (problems.length) {
    throw new EnvironmentError(`HAProxy does not know these servers — nothing was changed:\n${problems.map((p) => `  ${p}`).join("\n")}`,
      "fix targets.<name>.haproxy.backend / servers to match the HAProxy configuration");
  }
}

async function setState(b: Balancer, host: string, state: ServerState): Promise<boolean> {
  const server = b.config.servers[host];
  if (!server) return false;
  const err = setServerError(await b.api.send(setServerState(b.config.backend, server, state)));
  if (err) throw new SlipwayError(`${b.api.where}: set server ${b.config.backend}/${server} state ${state}: ${err}`);
  return true;
}

const POLL_MS = 100;

/**
 * Take the host out of rotation on every balancer, then wait until no request is in flight
 * on it (scur = 0 everywhere) or drain_timeout passes. Returns what was left in flight.
 */
export async function drainHost(balancers: readonly Balancer[], host: string): Promise<{ drained: boolean; remaining: number; ms: number }> {
  const mine = [];
  for (const b of balancers) if (await setState(b, host, "drain")) mine.push(b);
  const t0 = Date.now();
  if (mine.length === 0) return { drained: false, remaining: 0, ms: 0 };
  const deadline = t0 + Math.max(...mine.map((b) => parseDuration(b.config.drain_timeout)));
  for (;;) {
    const left = await Promise.all(mine.map(async (b) => findServer(await stats(b), b.config.backend, b.config.servers[host]!)?.scur ?? 0));
    const remaining = left.reduce((a, n) => a + n, 0);
    if (remaining === 0 || Date.now() >= deadline) return { drained: true, remaining, ms: Date.now() - t0 };
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

/**
 * Put the host back in rotation, then wait until HAProxy's own check sees it UP (bounded by
 * drain_timeout), so the next batch never drains while this host is still out. A host that
 * is not UP by then fails the step (and its activation).
 */
export async function readyHost(balancers: readonly Balancer[], host: string): Promise<{ ms: number; status: string }> {
  const mine = [];
  for (const b of balancers) if (await setState(b, host, "ready")) mine.push(b);
  const t0 = Date.now();
  if (mine.length === 0) return { ms: 0, status: "not balanced" };
  const deadline = t0 + Math.max(...mine.map((b) => parseDuration(b.config.drain_timeout)));
  for (;;) {
    const statuses = await Promise.all(mine.map(async (b) => findServer(await stats(b), b.config.backend, b.config.servers[host]!)?.status ?? "?"));
    // Exactly "UP": "UP 1/2" is a server that is up but already failing its checks.
    const up = statuses.every((s) => s === "UP" || s === "no check");
    if (up) return { ms: Date.now() - t0, status: statuses.join(",") };
    if (Date.now() >= deadline) {
      throw new SlipwayError(`${host}: HAProxy does not see the server UP ${Math.round((Date.now() - t0) / 1000)} s after \`state ready\` (status ${statuses.join(", ")})`,
        "HAProxy's own health check disagrees with slipway's: compare its `option httpchk` with targets.<name>.health");
    }
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}
