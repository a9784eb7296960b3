/**
 * Hosts' ssh connections kept open between deploys, so a deploy from the server pays no
 * handshake and no shell start: one master per host and ssh settings (ControlPersist: ssh
 * closes it after `idleSeconds` unused), and on it the host's shell session of the last run,
 * handed to the next run when it is still healthy. A session idle for `idleSeconds` is closed.
 * Two runs that reach the same host at once get a session each.
 */
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { createHash } from "node:crypto";
import type { TransportFactory } from "../deploy/connect.js";
import { LocalTransport } from "../transport/local.js";
import { parseDestination, SshTransport } from "../transport/ssh.js";
import { spawnCollect } from "../transport/spawn.js";
import type { ExecOptions, ExecResult, Transport } from "../transport/types.js";

/** A pooled session as a run sees it: closing it hands it back to the pool. */
class Lent implements Transport {
  private returned = false;
  constructor(
    private readonly inner: SshTransport,
    private readonly giveBack: (t: SshTransport) => void,
  ) {}
  get host() {
    return this.inner.host;
  }
  exec(argv: readonly string[], opts?: ExecOptions): Promise<ExecResult> {
    return this.inner.exec(argv, opts);
  }
  connect(): Promise<void> {
    return this.inner.connect();
  }
  get shellStartupMs(): number | undefined {
    return this.inner.shellStartupMs;
  }
  async close(): Promise<void> {
    if (this.returned) return;
    this.returned = true;
    this.giveBack(this.inner);
  }
}

export class SshPool {
  /** Control sockets live in a short private dir: a unix socket path is limited to ~108 bytes. */
  private readonly dir = mkdtempSync(path.join(os.tmpdir(), "slw-srv-"));
  private readonly masters = new Map<string, string>();
  private readonly idle = new Map<string, { t: SshTransport; timer: NodeJS.Timeout }[]>();
  private closed = false;

  constructor(private readonly idleSeconds: number) {}

  readonly factory: TransportFactory = (host, target) => {
    if (target.transport === "local") return new LocalTransport(host);
    const key = createHash("sha256")
      .update(JSON.stringify([host, target.ssh]))
      .digest("hex")
      .slice(0, 16);
    const controlPath = path.join(this.dir, key);
    this.masters.set(controlPath, host);
    let spare = this.idle.get(key)?.pop();
    if (spare) clearTimeout(spare.timer);
    // A session that ended while it waited (the host went away, keepalives gave up) is not lent.
    if (spare && !spare.t.reusable) {
      void spare.t.close();
      spare = undefined;
    }
    const t = spare?.t ?? new SshTransport(host, target.ssh, { controlPath, idleSeconds: this.idleSeconds });
    return new Lent(t, (back) => this.giveBack(key, back));
  };

  private giveBack(key: string, t: SshTransport): void {
    if (this.closed || !t.reusable) {
      void t.close();
      return;
    }
    const list = this.idle.get(key) ?? [];
    const entry = {
      t,
      timer: setTimeout(() => {
        this.idle.set(
          key,
          (this.idle.get(key) ?? []).filter((x) => x !== entry),
        );
        void t.close();
      }, this.idleSeconds * 1000),
    };
    entry.timer.unref();
    list.push(entry);
    this.idle.set(key, list);
  }

  /** Close the kept sessions and ask every master still open to exit (server shutdown). */
  async close(): Promise<void> {
    this.closed = true;
    const sessions = [...this.idle.values()].flat();
    this.idle.clear();
    await Promise.all(
      sessions.map((x) => {
        clearTimeout(x.timer);
        return x.t.close();
      }),
    );
    await Promise.all(
      [...this.masters].map(([controlPath, host]) => {
        const { target, port } = parseDestination(host);
        return spawnCollect(["ssh", "-o", `ControlPath=${controlPath}`, ...(port ? ["-p", port] : []), "-O", "exit", "--", target]).catch(() => undefined);
      }),
    );
    rmSync(this.dir, { recursive: true, force: true });
  }
}
