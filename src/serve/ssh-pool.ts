/**
 * Hosts' ssh connections kept open between deploys: one master per host and ssh settings,
 * closed by ssh itself after `idleSeconds` unused (ControlPersist), so a deploy from the
 * server pays no handshake. Each deploy still gets its own shell session on the master.
 */
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { createHash } from "node:crypto";
import type { TransportFactory } from "../deploy/connect.js";
import { LocalTransport } from "../transport/local.js";
import { parseDestination, SshTransport } from "../transport/ssh.js";
import { spawnCollect } from "../transport/spawn.js";

export class SshPool {
  /** Control sockets live in a short private dir: a unix socket path is limited to ~108 bytes. */
  private readonly dir = mkdtempSync(path.join(os.tmpdir(), "slw-srv-"));
  private readonly masters = new Map<string, string>();

  constructor(private readonly idleSeconds: number) {}

  readonly factory: TransportFactory = (host, target) => {
    if (target.transport === "local") return new LocalTransport(host);
    const key = createHash("sha256")
      .update(JSON.stringify([host, target.ssh]))
      .digest("hex")
      .slice(0, 16);
    const controlPath = path.join(this.dir, key);
    this.masters.set(controlPath, host);
    return new SshTransport(host, target.ssh, { controlPath, idleSeconds: this.idleSeconds });
  };

  /** Ask every master still open to exit (server shutdown). */
  async close(): Promise<void> {
    await Promise.all(
      [...this.masters].map(([controlPath, host]) => {
        const { target, port } = parseDestination(host);
        return spawnCollect(["ssh", "-o", `ControlPath=${controlPath}`, ...(port ? ["-p", port] : []), "-O", "exit", "--", target]).catch(() => undefined);
      }),
    );
    rmSync(this.dir, { recursive: true, force: true });
  }
}
