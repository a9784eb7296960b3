import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { randomBytes } from "node:crypto";
import type { Readable } from "node:stream";
import { TextDecoder } from "node:util";
import { shJoin } from "./quote.js";
import type { ExecOptions, ExecResult } from "./types.js";

/**
 * One long-lived `sh` on a host running the commands we send it, one after another, so a
 * deploy's steps cost a write and a read on an open ssh channel instead of an ssh client, an
 * sshd session and a login shell each (a round trip of ≈2 ms instead of ≈11 ms on this
 * project's benchmark hosts: bench/host-steps.ts).
 *
 * The protocol, all on the channel's stdin: a header line `<command bytes> <payload bytes>`,
 * the command line (an argv quoted by shJoin), then exactly that many payload bytes, which
 * become the command's stdin (`head -c` reads exactly its count from a pipe; what the command
 * leaves unread is drained, so the next header is where it should be). The driver itself is
 * an `sh -c` argument, never read from stdin: sh reads ahead on a pipe. After each command
 * the driver prints a per-session random token and the exit status on stdout, and the token
 * on stderr: everything before them is the command's output (which never holds the token). Each command
 * runs in a subshell, so nothing it does (cd, exit, variables) touches the driver. The driver
 * starts with an empty frame of its own: the connection is up and the shell runs.
 */
export const SESSION_DRIVER = `t=$1
printf '%s 0\\n' "$t"; printf '%s\\n' "$t" >&2
while IFS=' ' read -r alen plen; do
  cmd=$(head -c "$alen")
  if [ "$plen" -gt 0 ]; then
    head -c "$plen" | { (eval "$cmd"); rc=$?; cat > /dev/null; exit $rc; }
  else
    (eval "$cmd") < /dev/null
  fi
  rc=$?
  printf '%s %s\\n' "$t" "$rc"
  printf '%s\\n' "$t" >&2
done`;

/** The session's process ended (ssh lost the host, or was never able to reach it). */
export class SessionEnded extends Error {
  constructor(
    readonly code: number | null,
    readonly stderr: string,
  ) {
    super(`the remote shell ended (exit ${code ?? "signal"})${stderr.trim() ? `: ${stderr.trim().split("\n").slice(-3).join(" ")}` : ""}`);
  }
}

/**
 * The stdin to send could not be sent as announced (a read error here, or not the size
 * given): the framing is lost, so the session was ended — the host was not lost.
 */
export class StdinError extends Error {}

interface Pending {
  resolve: (r: ExecResult) => void;
  reject: (e: Error) => void;
  onStdout?: (text: string) => void;
  out: Buffer;
  err: Buffer;
  code?: number;
  /** stdout bytes already handed to onStdout */
  shown: number;
  decoder: TextDecoder;
  /** where the end marker starts in `out`, once seen */
  markAt?: number;
  errDone: boolean;
}

/**
 * `launch(argv)` is how the driver is started (e.g. `ssh … host <argv quoted>`; `sh` and its
 * arguments locally). Commands are queued: one runs at a time, in the order `exec` was called.
 */
export class ShellSession {
  private readonly token = `slipway-end-${randomBytes(12).toString("hex")}`;
  private readonly outMark: Buffer;
  private readonly errMark: Buffer;
  private child?: ChildProcessWithoutNullStreams;
  private current?: Pending;
  private queue: Promise<unknown> = Promise.resolve();
  private ended?: SessionEnded;
  private closed?: Promise<void>;
  /** Whether a command was ever sent. */
  private used = false;
  /** Settles with the driver's first frame: connected (or not). */
  private hello?: Promise<void>;
  private stray = Buffer.alloc(0);

  constructor(private readonly launch: (driver: readonly string[]) => readonly string[]) {
    this.outMark = Buffer.from(`${this.token} `);
    this.errMark = Buffer.from(`${this.token}\n`);
  }

  /** Whether the session is over (its process ended): a new one is needed for more commands. */
  get isEnded(): boolean {
    return this.ended !== undefined;
  }

  /** Start the session now (ssh connects) and settle once its shell is running on the host. */
  connect(): Promise<void> {
    if (!this.child) this.start();
    return this.hello!;
  }

  /** Run argv in the session; `opts.stdinBytes` must be the exact size of a Readable stdin. */
  exec(argv: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
    const run = this.queue.then(() => this.run(argv, opts));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private start(): ChildProcessWithoutNullStreams {
    const argv = this.launch(["sh", "-c", SESSION_DRIVER, "slipway", this.token]);
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ["pipe", "pipe", "pipe"] });
    child.stdin.on("error", () => {}); // a dead session is reported by "close"
    child.stdout.on("data", (c: Buffer) => this.onOut(c));
    child.stderr.on("data", (c: Buffer) => this.onErr(c));
    child.on("error", (e) => this.end(new SessionEnded(null, e.message)));
    this.closed = new Promise((resolve) => child.on("close", (code) => {
      this.end(new SessionEnded(code, Buffer.concat([this.current?.err ?? Buffer.alloc(0), this.stray]).toString("utf8")));
      resolve();
    }));
    this.child = child;
    this.hello = this.pending().then(() => undefined);
    this.hello.catch(() => {}); // awaited by connect() and run()
    return child;
  }

  /** The frame expected next (the driver's first, or a command's): settled by its end markers. */
  private pending(onStdout?: (text: string) => void): Promise<ExecResult> {
    return new Promise((resolve, reject) => {
      this.current = { resolve, reject, onStdout, out: Buffer.alloc(0), err: Buffer.alloc(0), shown: 0, errDone: false, decoder: new TextDecoder() };
    });
  }

  private async run(argv: readonly string[], opts: ExecOptions): Promise<ExecResult> {
    if (this.ended) throw this.ended;
    this.used = true;
    const child = this.child ?? this.start();
    await this.hello;
    const input = opts.stdin;
    const payload = typeof input === "string" ? Buffer.from(input) : Buffer.isBuffer(input) ? input : undefined;
    const size = payload ? payload.length : input ? opts.stdinBytes : 0;
    if (size === undefined) throw new Error("a streamed stdin needs stdinBytes in a shell session");
    const command = Buffer.from(shJoin(argv));
    const done = this.pending(opts.onStdout);
    done.catch(() => {}); // returned below; a write failure may come first
    this.stray = Buffer.alloc(0);
    try {
      await write(child, Buffer.concat([Buffer.from(`${command.length} ${size}\n`), command]));
      if (payload) {
        await write(child, payload);
        opts.onSent?.(payload.length);
      } else if (input) {
        await this.stream(child, input as Readable, size, opts.onSent);
      }
    } catch (err) {
      await this.closed;
      throw err instanceof StdinError ? err : (this.ended ?? err);
    }
    return done;
  }

  /**
   * Exactly `size` bytes of `input` into the channel; anything else breaks the framing, so it
   * ends the session (a StdinError). A failed write is the session's end, reported as such.
   */
  private async stream(child: ChildProcessWithoutNullStreams, input: Readable, size: number, onSent?: (n: number) => void): Promise<void> {
    let sent = 0;
    let writing = false;
    try {
      for await (const chunk of input as AsyncIterable<Buffer>) {
        if (sent + chunk.length > size) throw new StdinError(`stdin is longer than the ${size} bytes announced`);
        writing = true;
        await write(child, chunk);
        writing = false;
        sent += chunk.length;
        onSent?.(sent);
      }
      if (sent !== size) throw new StdinError(`stdin ended after ${sent} of the ${size} bytes announced`);
    } catch (err) {
      child.kill("SIGTERM");
      if (writing || err instanceof StdinError) throw err;
      throw new StdinError(`what was being sent could not be read: ${(err as Error).message}`, { cause: err });
    }
  }

  private onOut(chunk: Buffer): void {
    const p = this.current;
    if (!p) {
      this.stray = Buffer.concat([this.stray, chunk]);
      return;
    }
    if (p.code !== undefined) return; // (a background process of the command still writing)
    const from = Math.max(0, p.out.length - this.outMark.length);
    p.out = Buffer.concat([p.out, chunk]);
    if (p.markAt === undefined) {
      const at = p.out.indexOf(this.outMark, from);
      if (at >= 0) p.markAt = at;
    }
    if (p.markAt !== undefined) {
      const nl = p.out.indexOf(0x0a, p.markAt + this.outMark.length);
      if (nl < 0) return;
      p.code = Number(p.out.subarray(p.markAt + this.outMark.length, nl).toString());
      this.show(p, p.markAt);
      p.out = p.out.subarray(0, p.markAt);
    } else {
      this.show(p, p.out.length - partialMark(p.out, this.outMark)); // hold back what could be the marker's start
    }
    this.settle();
  }

  private onErr(chunk: Buffer): void {
    const p = this.current;
    if (!p) {
      this.stray = Buffer.concat([this.stray, chunk]);
      return;
    }
    const from = Math.max(0, p.err.length - this.errMark.length);
    p.err = Buffer.concat([p.err, chunk]);
    const at = p.err.indexOf(this.errMark, from);
    if (at >= 0) {
      p.err = p.err.subarray(0, at);
      p.errDone = true;
      this.settle();
    }
  }

  private show(p: Pending, upTo: number): void {
    if (p.onStdout && upTo > p.shown) {
      p.onStdout(p.decoder.decode(p.out.subarray(p.shown, upTo), { stream: true }));
      p.shown = upTo;
    }
  }

  private settle(): void {
    const p = this.current;
    if (!p || p.code === undefined || !p.errDone) return;
    this.current = undefined;
    p.resolve({ code: p.code, stdout: p.out.toString("utf8"), stderr: p.err.toString("utf8") });
  }

  private end(e: SessionEnded): void {
    if (this.ended) return;
    this.ended = e;
    const p = this.current;
    this.current = undefined;
    p?.reject(e);
  }

  /**
   * Let the driver finish (the end of its input, after the command running now) and wait for
   * it; after `ms` it is stopped, the command with it (ssh closes the channel).
   */
  async close(ms = 2000): Promise<void> {
    const child = this.child;
    if (!child) return;
    // Never used (a command that failed before its first step): no need to let it finish connecting.
    const timer = setTimeout(() => child.kill("SIGTERM"), this.used ? ms : 0);
    await Promise.race([this.queue, this.closed]);
    child.stdin.end();
    await this.closed;
    clearTimeout(timer);
  }
}

/** How many bytes at the end of `buf` are the start of `mark` (so might be the marker, arriving). */
function partialMark(buf: Buffer, mark: Buffer): number {
  for (let k = Math.min(buf.length, mark.length - 1); k > 0; k--) {
    if (buf.subarray(buf.length - k).equals(mark.subarray(0, k))) return k;
  }
  return 0;
}

function write(child: ChildProcessWithoutNullStreams, data: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    if (child.stdin.destroyed) return reject(new Error("the session's input is closed"));
    child.stdin.write(data, (err) => (err ? reject(err) : resolve()));
  });
}
