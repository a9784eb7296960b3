import type { TargetConfig } from "../config/schema.js";
import type { Emit } from "../events.js";
import { LocalTransport } from "../transport/local.js";
import { parseDuration } from "../config/patterns.js";
import { persistentMaster } from "../transport/persist.js";
import { SshTransport } from "../transport/ssh.js";
import type { Transport } from "../transport/types.js";
import { limiter } from "../util/limiter.js";
import { HostSession } from "./session.js";

export type TransportFactory = (host: string, target: TargetConfig) => Transport;

export const defaultTransport: TransportFactory = (host, target) => {
  if (target.transport === "local") return new LocalTransport(host);
  const persist = target.ssh.persist ? Math.max(1, Math.round(parseDuration(target.ssh.persist) / 1000)) : undefined;
  return new SshTransport(host, target.ssh, persist ? persistentMaster(host, target.ssh, persist, process.env) : undefined);
};

/**
 * Open a session per host and start connecting right away, so the handshakes overlap the
 * local work that comes before the first command (a failure is reported by the host's first
 * step) — at most `ssh.parallel_connects` handshakes at a time: a bastion's sshd drops
 * connections beyond its MaxStartups, and a host's first command waits for its turn.
 * `close` ends every connection (ssh masters included).
 */
export function openSessions(hosts: readonly string[], target: TargetConfig, emit: Emit, factory: TransportFactory = defaultTransport) {
  const gate = limiter(target.ssh.parallel_connects ?? 16);
  const sessions = new Map(hosts.map((h) => [h, new HostSession(h, factory(h, target), emit, gate)]));
  for (const s of sessions.values()) s.connect().catch(() => {});
  return {
    sessions,
    get(host: string): HostSession {
      return sessions.get(host)!;
    },
    async close(): Promise<void> {
      await Promise.all([...sessions.values()].map((s) => s.transport.close()));
    },
  };
}
