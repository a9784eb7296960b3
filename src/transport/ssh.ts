import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { SlipwayError } from "../errors.js";
import { shJoin } from "./quote.js";
import { SessionEnded, ShellSession } from "./shell-session.js";
import { spawnCollect } from "./spawn.js";
import type { ExecOptions, ExecResult, Transport } from "./types.js";

export interface SshSettings {
  config: string;
  identity: string;
  known_hosts: string;
  options: readonly string[];
}

/** The host could not be reached over ssh (ssh itself failed: exit 255). */
export class TransportError extends SlipwayError {}

/** Split "user@host:port" into ssh's destination and port. IPv6 in brackets keeps its colons. */
export function parseDestination(dest: string): { target: string; port?: string } {
  const m = /^(.*?)(?::([0-9]{1,5}))?$/.exec(dest);
  const target = (m?.[1] ?? dest).replace(/^([^@]*@)?\[(.*)\]$/, "$1$2");
  return { target, port: m?.[2] };
}

/** The ssh argv for one command: user config, agent and known_hosts apply; one master connection per host. */
export function sshArgv(dest: string, settings: SshSettings, controlPath: string, remote: readonly string[]): string[] {
  const { target, port } = parseDestination(dest);
  // ssh takes the first value it sees for an option: the user's options come first, so they
  // can override ours (e.g. a ControlPath/ControlPersist of their own, reused across deploys).
  const argv = ["ssh"];
  for (const o of settings.options) argv.push("-o", o);
  argv.push("-o", "BatchMode=yes", "-o", "ControlMaster=auto", "-o", `ControlPath=${controlPath}`, "-o", "ControlPersist=60");
  if (settings.config) argv.push("-F", expandHome(settings.config));
  if (settings.identity) argv.push("-i", expandHome(settings.identity), "-o", "IdentitiesOnly=yes");
  if (settings.known_hosts) argv.push("-o", `UserKnownHostsFile=${expandHome(settings.known_hosts)}`);
  if (port) argv.push("-p", port);
  // -T: never a pty (a `RequestTTY force` in the user's config would echo and translate the
  // bytes of a layer being sent).
  argv.push("-T", "--", target, shJoin(remote));
  return argv;
}

function expandHome(p: string): string {
  return p.startsWith("~/") ? path.join(os.homedir(), p.slice(2)) : p;
}

/**
 * A host over OpenSSH: the user's ~/.ssh/config, agent, ProxyJump and known_hosts just work.
 * One connection per host (a ControlMaster), and on it one shell session (shell-session.ts)
 * that runs every command; a stdin stream of unknown size gets an ssh command of its own.
 */
export class SshTransport implements Transport {
  private readonly dir = mkdtempSync(path.join(os.tmpdir(), "slw-ssh-"));
  private readonly controlPath = path.join(this.dir, "cm");
  private sessionNow = this.newSession();
  /** Whether a command has run on the host (a session that ends after that lost the host). */
  private reached = false;
  constructor(
    readonly host: string,
    private readonly settings: SshSettings,
  ) {}

  private newSession(): ShellSession {
    return new ShellSession((driver) => sshArgv(this.host, this.settings, this.controlPath, driver));
  }

  /**
   * The host's session; after one ended (the connection dropped, or a failed upload broke its
   * framing) the next command gets a new one — never the failed command itself — so a deploy
   * that failed can still record and unlock.
   */
  private get session(): ShellSession {
    if (this.sessionNow.isEnded) this.sessionNow = this.newSession();
    return this.sessionNow;
  }

  async connect(): Promise<void> {
    await this.inSession((s) => s.connect());
  }

  /** `work` on the host's session; its end is a TransportError (cannot reach, or lost the host). */
  private async inSession<T>(work: (s: ShellSession) => Promise<T>): Promise<T> {
    try {
      const r = await work(this.session);
      this.reached = true;
      return r;
    } catch (err) {
      throw err instanceof SessionEnded ? this.unreachable(err.stderr || err.message) : err;
    }
  }

  async exec(argv: readonly string[], opts?: ExecOptions): Promise<ExecResult> {
    const input = opts?.stdin;
    const streamOfUnknownSize = input !== undefined && typeof input !== "string" && !Buffer.isBuffer(input) && opts?.stdinBytes === undefined;
    if (!streamOfUnknownSize) return this.inSession((s) => s.exec(argv, opts));
    const r = await spawnCollect(sshArgv(this.host, this.settings, this.controlPath, argv), opts);
    if (r.code === 255) throw this.unreachable(r.stderr);
    return r;
  }

  private unreachable(stderr: string): TransportError {
    const why = stderr.trim().split("\n").slice(-3).join(" ") || "ssh exited 255";
    return new TransportError(
      this.reached ? `lost the ssh connection to ${this.host}: ${why}` : `cannot reach ${this.host} over ssh: ${why}`,
      `check that \`ssh ${this.host} true\` works from this machine (host key in known_hosts, key loaded in the agent)`,
    );
  }

  async close(): Promise<void> {
    await this.sessionNow.close();
    const { target, port } = parseDestination(this.host);
    const argv = ["ssh", "-o", `ControlPath=${this.controlPath}`, "-O", "exit"];
    if (port) argv.push("-p", port);
    await spawnCollect([...argv, "--", target]).catch(() => undefined);
    rmSync(this.dir, { recursive: true, force: true });
  }
}
