import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { randomBytes } from "node:crypto";
import type { Readable } from "node:stream";
import { TextDecoder } from "node:util";
import { Kept, STDERR_LIMIT, STDOUT_LIMIT } from "./kept.js";
import { shJoin } from "./quote.js";
import type { ExecOptions, ExecResult } from "./types.js";

/**
 * One long-lived `sh` on a host running the commands we send it, one after another, so a
 * deploy's steps cost a write and a read on an open ssh channel instead of an ssh client, an
 * sshd session and a login shell each (bench/host-steps.ts).
 *
 * The protocol, all on the channel's stdin: a header line `<command bytes> <payload bytes>`,
 * the command line (an argv quoted by shJoin), then exactly that many payload bytes, which
 * become the command's stdin (`head -c` reads exactly its count from a pipe; what the command
 * leaves unread is drained, so the next header is where it should be). The driver itself is
 * an `sh -c` argument, never read from stdin: sh reads ahead on a pipe. After each command
 * a per-session random token and the exit status are printed on stdout, and the token
 * on stderr: everything before them is the command's output (which never holds the token).
 * Then the driver itself ends the frame (the token and a dot, on stdout): a driver that died
 * ends no frame, even if the command's subshell lived on to print its markers. Each command
 * runs in a subshell, so nothing it does (cd, exit, variables) touches the driver. The driver
 * starts with a frame of its own: the connection is up and the shell runs. That frame's output
 * says how long the shell took to start (`startup MS`: from the kernel's start time of the
 * process, which a login shell that execs `sh` keeps, to now, in /proc's 10 ms ticks): a slow
 * rc file on the host (bash sources ~/.bashrc for ssh commands) shows there, apart from the
 * ssh handshake.
 *
 * A command's stdout and stderr are pipes of its own, each copied to the channel by a `sed`
 * that stops after the end marker: a process the command left in the background (`app &`)
 * holds only those pipes, so what it writes later can never land in the next command's output
 * (it gets EPIPE instead). GNU sed writes a `w /dev/stderr` line at once (stderr is
 * unbuffered), which keeps the output streaming line by line, and reads its input in blocks.
 */
export const SESSION_DRIVER = `t=$1
if read -r up _ 2>/dev/null </proc/uptime && read -r st 2>/dev/null </proc/$$/stat; then
  set -f; set -- $st; set +f
  [ -n "\${22:-}" ] && printf 'startup %s\\n' "$(( (\${up%.*}\${up#*.} - \${22}) * 10 ))"
fi
printf '%s 0\\n' "$t"; printf '%s\\n' "$t" >&2; printf '%s.\\n' "$t"
while IFS=' ' read -r alen plen; do
  cmd=$(head -c "$alen")
  {
    {
      if [ "$plen" -gt 0 ]; then
        head -c "$plen" | { (eval "$cmd"); rc=$?; cat > /dev/null; exit $rc; }
      else
        (eval "$cmd") < /dev/null
      fi
      rc=$?
      printf '%s %s\\n' "$t" "$rc"
      printf '%s\\n' "$t" >&2
    } 2>&1 >&3 3>&- | LC_ALL=C sed -n -e 'w /dev/stderr' -e "/$t\\$/q" > /dev/null 3>&-
  } 3>&1 | LC_ALL=C sed -n -e 'w /dev/stderr' -e "/$t [0-9]*\\$/q" 2>&1
  printf '%s.\\n' "$t"
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

/**
 * A command gave no end marker within the step deadline after its input was sent: the session
 * was stopped (its framing cannot be trusted any more), the host was not lost.
 */
export class CommandTimedOut extends Error {
  constructor(readonly ms: number) {
    super(`the command did not finish within ${ms} ms; it was stopped`);
  }
}

export interface SessionOptions {
  /** Deadline for one command, counted from its last byte of stdin sent (0: none). */
  stepTimeoutMs?: number;
  /** Deadline for the shell to answer at all (the ssh handshake included; 0: none). */
  helloTimeoutMs?: number;
}

interface Pending {
  resolve: (r: ExecResult) => void;
  reject: (e: Error) => void;
  onStdout?: (text: string) => void;
  decoder: TextDecoder;
  out: Kept;
  err: Kept;
  /** The end of what arrived that could be the start of the end marker (or the marker line itself, incomplete). */
  outHeld: Buffer;
  errHeld: Buffer;
  code?: number;
  errDone: boolean;
  /** The driver's own end of the frame arrived. */
  frameDone: boolean;
}

const NONE = Buffer.alloc(0);

/**
 * `launch(argv)` is how the driver is started (e.g. `ssh … host <argv quoted>`; `sh` and its
 * arguments locally). Commands are queued: one runs at a time, in the order `exec` was called.
 */
export class ShellSession {
  private readonly token = `slipway-end-${randomBytes(12).toString("hex")}`;
  private readonly outMark: Buffer;
  private readonly errMark: Buffer;
  private readonly frameMark: Buffer;
  private child?: ChildProcessWithoutNullStreams;
  private current?: Pending;
  private queue: Promise<unknown> = Promise.resolve();
  private ended?: Error;
  private closed?: Promise<void>;
  /** Whether a command was ever sent. */
  private used = false;
  /** Whether the driver's first frame arrived: the shell runs on the host. */
  private answered = false;
  /** Settles with the driver's first frame: connected (or not). */
  private hello?: Promise<void>;
  /** stderr that belongs to no command (ssh's own last words, between commands). */
  private stray = new Kept(64 << 10);

  constructor(
    private readonly launch: (driver: readonly string[]) => readonly string[],
    private readonly opts: SessionOptions = {},
  ) {
    this.outMark = Buffer.from(`${this.token} `);
    this.errMark = Buffer.from(`${this.token}\n`);
    this.frameMark = Buffer.from(`${this.token}.\n`);
  }

  /**
   * How long the host's shell took to start before it ran the driver (its rc files; undefined
   * where /proc does not say). Set once the session answered.
   */
  startupMs?: number;

  /** Whether the session is over (its process ended): a new one is needed for more commands. */
  get isEnded(): boolean {
    return this.ended !== undefined;
  }

  /** Whether the shell ever answered (the host was reached through this session). */
  get hasAnswered(): boolean {
    return this.answered;
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
    this.closed = new Promise((resolve) =>
      child.on("close", (code) => {
        this.end(new SessionEnded(code, this.lastWords()));
        resolve();
      }),
    );
    this.child = child;
    this.hello = this.pending().then((r) => {
      this.answered = true;
      const startup = /^startup (\d+)$/m.exec(r.stdout);
      if (startup) this.startupMs = Number(startup[1]);
    });
    this.hello.catch(() => {}); // awaited by connect() and run()
    const wait = this.opts.helloTimeoutMs;
    if (wait) {
      const timer = setTimeout(() => this.stop(new SessionEnded(null, this.lastWords())), wait);
      this.hello.finally(() => clearTimeout(timer)).catch(() => {});
    }
    return child;
  }

  /** The frame expected next (the driver's first, or a command's): settled by its end markers. */
  private pending(onStdout?: (text: string) => void): Promise<ExecResult> {
    return new Promise((resolve, reject) => {
      this.current = {
        resolve,
        reject,
        onStdout,
        decoder: new TextDecoder(),
        out: new Kept(STDOUT_LIMIT),
        err: new Kept(STDERR_LIMIT),
        outHeld: NONE,
        errHeld: NONE,
        errDone: false,
        frameDone: false,
      };
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
    this.stray = new Kept(64 << 10);
    const deadline = this.deadline();
    done.finally(deadline.clear).catch(() => {});
    try {
      await write(child, Buffer.concat([Buffer.from(`${command.length} ${size}\n`), command]));
      if (payload) {
        await write(child, payload);
        opts.onSent?.(payload.length);
      } else if (input) {
        await this.stream(child, input as Readable, size, (n) => {
          deadline.restart();
          opts.onSent?.(n);
        });
      }
    } catch (err) {
      deadline.clear();
      await this.closed;
      throw err instanceof StdinError ? err : (this.ended ?? err);
    }
    return done;
  }

  /** The step deadline, restarted while stdin is still going out (an upload is as long as it is). */
  private deadline(): { restart: () => void; clear: () => void } {
    const ms = this.opts.stepTimeoutMs ?? 0;
    let timer: NodeJS.Timeout | undefined;
    const restart = () => {
      clearTimeout(timer);
      if (ms > 0) timer = setTimeout(() => this.stop(new CommandTimedOut(ms)), ms);
    };
    restart();
    return { restart, clear: () => clearTimeout(timer) };
  }

  /** End the session on our side: what is pending fails with `why`, the process is stopped. */
  private stop(why: Error): void {
    this.end(why);
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    child.kill("SIGTERM");
    setTimeout(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    }, 2000).unref();
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

  /*
   * Each chunk is looked at once, with at most a marker's length held back from the one
   * before: the work is linear in the output, and what is kept is bounded (kept.ts).
   */
  private onOut(chunk: Buffer): void {
    const p = this.current;
    if (!p) return; // between frames nothing writes to the channel's stdout but the driver
    let buf = p.outHeld.length ? Buffer.concat([p.outHeld, chunk]) : chunk;
    p.outHeld = NONE;
    if (p.code === undefined) {
      const at = buf.indexOf(this.outMark);
      if (at < 0) {
        const hold = partialMark(buf, this.outMark);
        this.keepOut(p, buf.subarray(0, buf.length - hold));
        p.outHeld = Buffer.from(buf.subarray(buf.length - hold));
        return;
      }
      this.keepOut(p, buf.subarray(0, at));
      const nl = buf.indexOf(0x0a, at + this.outMark.length);
      if (nl < 0) {
        p.outHeld = Buffer.from(buf.subarray(at));
        return;
      }
      p.code = Number(buf.subarray(at + this.outMark.length, nl).toString());
      const rest = p.decoder.decode();
      if (rest && p.onStdout) p.onStdout(rest);
      buf = buf.subarray(nl + 1);
    }
    const end = buf.indexOf(this.frameMark);
    if (end < 0) {
      p.outHeld = Buffer.from(buf.subarray(buf.length - partialMark(buf, this.frameMark)));
      return;
    }
    p.frameDone = true;
    this.settle();
  }

  private keepOut(p: Pending, bytes: Buffer): void {
    if (bytes.length === 0) return;
    p.out.push(bytes);
    if (p.onStdout) p.onStdout(p.decoder.decode(bytes, { stream: true }));
  }

  private onErr(chunk: Buffer): void {
    const p = this.current;
    if (!p || p.errDone) {
      this.stray.push(chunk);
      return;
    }
    const buf = p.errHeld.length ? Buffer.concat([p.errHeld, chunk]) : chunk;
    const at = buf.indexOf(this.errMark);
    if (at < 0) {
      const hold = partialMark(buf, this.errMark);
      p.err.push(buf.subarray(0, buf.length - hold));
      p.errHeld = Buffer.from(buf.subarray(buf.length - hold));
      return;
    }
    p.err.push(buf.subarray(0, at));
    p.errHeld = NONE;
    p.errDone = true;
    this.stray.push(buf.subarray(at + this.errMark.length));
    this.settle();
  }

  private settle(): void {
    const p = this.current;
    if (!p || p.code === undefined || !p.errDone || !p.frameDone) return;
    this.current = undefined;
    p.resolve({ code: p.code, stdout: p.out.text(), stderr: p.err.text() });
  }

  /** What ssh (or the shell) said last: the pending frame's stderr, then any after it. */
  private lastWords(): string {
    const p = this.current;
    return (p ? p.err.text() + p.errHeld.toString("utf8") : "") + this.stray.text();
  }

  private end(e: Error): void {
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
  for (let i = Math.max(0, buf.length - mark.length + 1); i < buf.length; i++) {
    if (buf[i] === mark[0] && buf.compare(mark, 0, buf.length - i, i) === 0) return buf.length - i;
  }
  return 0;
}

function write(child: ChildProcessWithoutNullStreams, data: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    if (child.stdin.destroyed) return reject(new Error("the session's input is closed"));
    child.stdin.write(data, (err) => (err ? reject(err) : resolve()));
  });
}
