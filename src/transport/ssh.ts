import { existsSync, mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseDuration } from "../config/patterns.js";
import { SlipwayError } from "../errors.js";
import { shJoin } from "./quote.js";
import { CommandTimedOut, SessionEnded, ShellSession } from "./shell-session.js";
import { canSendRanges, spawnWithRange } from "./range-send.js";
import { spawnCollect } from "./spawn.js";
import type { ExecOptions, ExecResult, FileRange, Transport } from "./types.js";

export interface SshSettings {
  config: string;
  identity: string;
  known_hosts: string;
  options: readonly string[];
  /** A duration ("30m"): deadline for one command, from its last byte of input sent. */
  step_timeout?: string;
}

/** The host could not be reached over ssh (ssh itself failed: exit 255). */
export class TransportError extends SlipwayError {}

/** A command on a reachable host gave no result within ssh.step_timeout; its session was stopped. */
export class StepTimeoutError extends SlipwayError {}

/**
 * Ours, after the user's options (ssh keeps the first value it sees, so theirs win): a host that
 * does not answer the TCP connect and key exchange in 10 s is unreachable, and one that is
 * silent for 15 s is lost (a keepalive after 5 s of silence, a second 5 s later, and when a third
 * is due with both unanswered ssh exits) — instead of waiting for TCP to give up, which takes
 * 15 minutes or more. On the command line they win over ~/.ssh/config: change them with ssh.options.
 */
export const SSH_TIMEOUTS = ["ConnectTimeout=10", "ServerAliveInterval=5", "ServerAliveCountMax=2"];

/**
 * A host whose connection was lost gets one more chance, this long, to answer a new one
 * (a short drop heals; a host that is gone must not hold the rest of the run up).
 */
export const RECONNECT_MS = 5000;

/** A kept master (ssh.persist, a deploy server's) whose shell does not answer within this is replaced. */
export const KEPT_ANSWER_MS = 2000;

/** Split "user@host:port" into ssh's destination and port. IPv6 in brackets keeps its colons. */
export function parseDestination(dest: string): { target: string; port?: string } {
  const m = /^(.*?)(?::([0-9]{1,5}))?$/.exec(dest);
  const target = (m?.[1] ?? dest).replace(/^([^@]*@)?\[(.*)\]$/, "$1$2");
  return { target, port: m?.[2] };
}

/**
 * The ssh argv for one command: user config, agent and known_hosts apply; one master connection
 * per host. `persist`: how long a master outlives its last client — "no" for one run's own
 * connection (the session's ssh is the master, in the foreground: it ends with the session, no
 * background process to fork or `ssh -O exit` to spawn), seconds for a kept one (a deploy server).
 */
export function sshArgv(dest: string, settings: SshSettings, controlPath: string, remote: readonly string[], persist: number | "no" = "no"): string[] {
  const { target, port } = parseDestination(dest);
  // ssh takes the first value it sees for an option: the user's options come first, so they
  // can override ours (e.g. a ControlPath/ControlPersist of their own, reused across deploys).
  const argv = ["ssh"];
  for (const o of settings.options) argv.push("-o", o);
  for (const o of SSH_TIMEOUTS) argv.push("-o", o);
  argv.push("-o", "BatchMode=yes", "-o", "ControlMaster=auto", "-o", `ControlPath=${controlPath}`, "-o", `ControlPersist=${persist}`);
  if (settings.config) argv.push("-F", expandHome(settings.config));
  if (settings.identity) argv.push("-i", expandHome(settings.identity), "-o", "IdentitiesOnly=yes");
  if (settings.known_hosts) argv.push("-o", `UserKnownHostsFile=${expandHome(settings.known_hosts)}`);
  if (port) argv.push("-p", port);
  // -T: never a pty (a `RequestTTY force` in the user's config would echo and translate the
  // bytes of a layer being sent).
  argv.push("-T", "--", target, shJoin(remote));
  return argv;
}

/** `~/x` as the user's home path (ssh expands `~` in its own options; slipway passes paths on). */
export function expandHome(p: string): string {
  return p.startsWith("~/") ? path.join(os.homedir(), p.slice(2)) : p;
}

/**
 * A host over OpenSSH: the user's ~/.ssh/config, agent, ProxyJump and known_hosts just work.
 * One connection per host (a ControlMaster), and on it one shell session (shell-session.ts)
 * that runs every command; a stdin stream of unknown size gets an ssh command of its own.
 */
/**
 * A master connection kept past the transport's close (a deploy server's, reused by the next
 * deploy to the host): its socket path, and how long it stays open unused.
 */
export interface KeptMaster {
  controlPath: string;
  idleSeconds: number;
}

export class SshTransport implements Transport {
  private readonly dir?: string;
  private readonly controlPath: string;
  private readonly stepMs: number;
  /** Whether a command has run on the host (a session that ends after that lost the host). */
  private reached = false;
  /** The connection was lost: the next session must answer within RECONNECT_MS. */
  private lost = false;
  /** That did not happen either: the host is not tried again in this run (every command fails at once). */
  private givenUp?: TransportError;
  private sessionNow: ShellSession;
  /** The session that is reusing a kept master from an earlier run (until it answers or is replaced). */
  private reusedBy?: ShellSession;
  constructor(
    readonly host: string,
    private readonly settings: SshSettings,
    private readonly kept?: KeptMaster,
  ) {
    if (kept) this.controlPath = kept.controlPath;
    else {
      this.dir = mkdtempSync(path.join(os.tmpdir(), "slw-ssh-"));
      this.controlPath = path.join(this.dir, "cm");
    }
    this.stepMs = parseDuration(settings.step_timeout ?? "30m");
    this.sessionNow = this.newSession();
  }

  private newSession(): ShellSession {
    // A kept master from an earlier run: its shell must answer within KEPT_ANSWER_MS, or the
    // master is closed and replaced (inSession) — it may hold a connection the host forgot.
    const reusing = this.kept !== undefined && !this.lost && existsSync(this.controlPath);
    const s = new ShellSession((driver) => sshArgv(this.host, this.settings, this.controlPath, driver, this.kept?.idleSeconds), {
      stepTimeoutMs: this.stepMs,
      helloTimeoutMs: this.lost ? RECONNECT_MS : reusing ? KEPT_ANSWER_MS : 0,
    });
    this.reusedBy = reusing ? s : undefined;
    return s;
  }

  /** Tell the master on our control socket to exit (`ssh -O exit`; the local master process answers even when the host does not). */
  private async exitMaster(): Promise<void> {
    const { target, port } = parseDestination(this.host);
    const argv = ["ssh", "-o", `ControlPath=${this.controlPath}`, "-O", "exit"];
    if (port) argv.push("-p", port);
    await spawnCollect([...argv, "--", target]).catch(() => undefined);
  }

  /** Close a kept master that stopped answering and remove its socket. */
  private async dropMaster(): Promise<void> {
    await this.exitMaster();
    rmSync(this.controlPath, { force: true });
  }

  /**
   * The host's session; after one ended (the connection dropped, a failed upload broke its
   * framing, a step ran past its deadline) the next command gets a new one — never the failed
   * command itself — so a deploy that failed can still record and unlock.
   */
  private get session(): ShellSession {
    if (this.sessionNow.isEnded) this.sessionNow = this.newSession();
    return this.sessionNow;
  }

  async connect(): Promise<void> {
    await this.inSession((s) => s.connect());
  }

  get shellStartupMs(): number | undefined {
    return this.sessionNow.startupMs;
  }

  /** Whether a later run may use this transport again: its session is up and the host answered. */
  get reusable(): boolean {
    return this.reached && !this.lost && !this.givenUp && !this.sessionNow.isEnded;
  }

  /** `work` on the host's session; its end is a TransportError (cannot reach, or lost the host). */
  private async inSession<T>(work: (s: ShellSession) => Promise<T>): Promise<T> {
    if (this.givenUp) throw this.givenUp;
    const s = this.session;
    try {
      const r = await work(s);
      this.reached = true;
      this.lost = false;
      return r;
    } catch (err) {
      if (err instanceof CommandTimedOut) throw this.timedOut(err.ms);
      if (!(err instanceof SessionEnded)) throw err;
      if (this.reusedBy === s && !s.hasAnswered) {
        // The kept master did not get a shell to answer: a new connection, once.
        await this.dropMaster();
        this.sessionNow = this.newSession();
        return this.inSession(work);
      }
      const again = this.lost && !s.hasAnswered;
      this.reached ||= s.hasAnswered;
      const e = this.unreachable(err.stderr, again);
      if (again) this.givenUp = e;
      else if (this.reached) this.lost = true;
      throw e;
    }
  }

  async exec(argv: readonly string[], opts?: ExecOptions): Promise<ExecResult> {
    if (opts?.stdinRange && (await canSendRanges())) return this.execRange(argv, opts.stdinRange, opts);
    const input = opts?.stdin;
    const streamOfUnknownSize = input !== undefined && typeof input !== "string" && !Buffer.isBuffer(input) && opts?.stdinBytes === undefined;
    if (!streamOfUnknownSize) return this.inSession((s) => s.exec(argv, opts));
    if (this.givenUp) throw this.givenUp;
    const r = await spawnCollect(sshArgv(this.host, this.settings, this.controlPath, argv, this.kept?.idleSeconds), opts);
    if (r.code === 255) throw this.unreachable(r.stderr, false);
    return r;
  }

  /**
   * A command of its own over the master connection (no new handshake), its stdin a range of a
   * local file that ssh reads from a pipe dd fills (range-send.ts): a big layer goes out at the
   * speed of ssh itself, not of node relaying it into the session. It starts the host's login
   * shell once more, which is why only a big layer takes this way (steps.ts).
   */
  private async execRange(argv: readonly string[], range: FileRange, opts: ExecOptions): Promise<ExecResult> {
    if (this.givenUp) throw this.givenUp;
    let r: ExecResult;
    try {
      r = await spawnWithRange(sshArgv(this.host, this.settings, this.controlPath, argv, this.kept?.idleSeconds), range, {
        onSent: opts.onSent,
        onStdout: opts.onStdout,
        timeoutMs: this.stepMs,
      });
    } catch (err) {
      if (err instanceof CommandTimedOut) throw this.timedOut(err.ms);
      throw err;
    }
    if (r.code === 255) throw this.unreachable(r.stderr, false);
    this.reached = true;
    return r;
  }

  private unreachable(stderr: string, afterLoss: boolean): TransportError {
    const said = stderr.trim().split("\n").slice(-3).join(" ");
    if (afterLoss) {
      return new TransportError(
        `lost the ssh connection to ${this.host}, and it did not answer again within ${RECONNECT_MS / 1000} s${said ? `: ${said}` : ""}`,
        `nothing more is sent to ${this.host} in this run; check that \`ssh ${this.host} true\` works again before acting on it`,
      );
    }
    // A master connection that gave up on a silent host (keepalives) leaves its clients nothing to say.
    const why = said || (this.reached ? "ssh ended without a word (the host stopped answering, or the connection was closed)" : "ssh exited 255");
    return new TransportError(
      this.reached ? `lost the ssh connection to ${this.host}: ${why}` : `cannot reach ${this.host} over ssh: ${why}`,
      `check that \`ssh ${this.host} true\` works from this machine (host key in known_hosts, key loaded in the agent)`,
    );
  }

  private timedOut(ms: number): StepTimeoutError {
    return new StepTimeoutError(
      `${this.host}: a command gave no result within ${ms / 1000} s (ssh.step_timeout); its session was stopped`,
      `the command may still be running on ${this.host}: look there; if it needs longer, raise the target's ssh.step_timeout`,
    );
  }

  async close(): Promise<void> {
    await this.sessionNow.close();
    if (this.kept) return;
    // Our master ended with its last client (ControlPersist=no), unless the user's options made
    // it persist: then it is told to go.
    if (!this.settings.options.some((o) => /^\s*ControlPersist\b/i.test(o))) {
      if (this.dir) rmSync(this.dir, { recursive: true, force: true });
      return;
    }
    await this.exitMaster();
    if (this.dir) rmSync(this.dir, { recursive: true, force: true });
  }
}
