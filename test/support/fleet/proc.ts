// Small process helpers for the test fleet.
import { spawn, type StdioOptions } from "node:child_process";
import { readFileSync } from "node:fs";

/** Environment every process started inside a host gets (not the test process's env). */
export const HOST_ENV: NodeJS.ProcessEnv = {
  PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
  HOME: "/root",
  USER: "root",
  LOGNAME: "root",
  SHELL: "/bin/bash",
  LANG: "C.UTF-8",
};

export class CommandError extends Error {
  constructor(
    readonly argv: string[],
    readonly code: number | null,
    readonly signal: NodeJS.Signals | null,
    readonly stdout: string,
    readonly stderr: string,
  ) {
    super(
      `${argv.join(" ")} failed (${signal ? `signal ${signal}` : `exit ${code}`})` +
        (stderr.trim() ? `:\n${stderr.trim()}` : stdout.trim() ? `:\n${stdout.trim()}` : ""),
    );
    this.name = "CommandError";
  }
}

export interface RunOptions {
  input?: string | Buffer;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** stdout+stderr go here instead of being captured (for commands that leave daemons behind). */
  logFd?: number;
  timeoutMs?: number;
}

/**
 * Run argv; resolve stdout, reject with a CommandError carrying stderr on non-zero exit.
 * Settles on process exit once stdout has ended, without waiting for stderr to close: a
 * daemon (e.g. an ssh ControlPersist master) may keep the inherited stderr open for a long
 * time after the command itself is done.
 */
export function run(argv: string[], opts: RunOptions = {}): Promise<string> {
  const [cmd, ...args] = argv;
  if (cmd === undefined) return Promise.reject(new Error("run: empty argv"));
  return new Promise((resolve, reject) => {
    const stdio: StdioOptions =
      opts.logFd !== undefined
        ? [opts.input !== undefined ? "pipe" : "ignore", opts.logFd, opts.logFd]
        : [opts.input !== undefined ? "pipe" : "ignore", "pipe", "pipe"];
    const child = spawn(cmd, args, { env: opts.env ?? process.env, cwd: opts.cwd, stdio });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let stdoutDone = child.stdout === null;
    let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
    let timer: NodeJS.Timeout | undefined;
    let settled = false;
    const settle = (): void => {
      if (settled || !exit || !stdoutDone) return;
      settled = true;
      if (timer) clearTimeout(timer);
      // Give stderr one tick to flush what the process wrote before exiting.
      setImmediate(() => {
        child.stderr?.destroy();
        const stdout = Buffer.concat(out).toString("utf8");
        const stderr = Buffer.concat(err).toString("utf8");
        if (exit!.code === 0) resolve(stdout);
        else reject(new CommandError(argv, exit!.code, exit!.signal, stdout, stderr));
      });
    };
    child.stdout?.on("data", (b: Buffer) => out.push(b));
    child.stdout?.on("end", () => {
      stdoutDone = true;
      settle();
    });
    child.stdout?.on("error", () => {
      stdoutDone = true;
      settle();
    });
    child.stderr?.on("data", (b: Buffer) => err.push(b));
    child.on("error", (e) => {
      if (settled) return;
      settled = true;
      if (timer) clearTimeout(timer);
      reject(e);
    });
    child.on("exit", (code, signal) => {
      exit = { code, signal };
      settle();
    });
    if (opts.timeoutMs !== undefined) {
      timer = setTimeout(() => {
        if (settled) return;
        child.kill("SIGKILL");
        stdoutDone = true;
      }, opts.timeoutMs);
    }
    if (child.stdin) {
      child.stdin.on("error", () => {
        /* EPIPE when the command does not read all input */
      });
      child.stdin.end(opts.input);
    }
  });
}

/** True if pid is a live (non-zombie) process. */
export function pidAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Poll fn until it returns a value other than undefined, or throw after timeoutMs. */
export async function waitFor<T>(what: string, timeoutMs: number, fn: () => Promise<T | undefined> | T | undefined): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastErr: unknown;
  let delay = 10;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (e) {
      lastErr = e;
    }
    if (Date.now() > deadline) {
      const why = lastErr instanceof Error ? `: ${lastErr.message}` : "";
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${why}`);
    }
    await sleep(delay);
    delay = Math.min(delay * 2, 200);
  }
}
