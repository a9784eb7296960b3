import { spawn } from "node:child_process";
import { CommandFailedError } from "../errors.js";

export interface RunOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Called with each complete line of stdout and stderr, as it arrives. */
  onLine?: (line: string) => void;
  /** Name of the step, for error messages. */
  step?: string;
  /** Keep at most this many characters of combined output (the tail). */
  keep?: number;
  input?: string;
}

export interface RunResult {
  code: number;
  stdout: string;
  /** stdout and stderr interleaved as they arrived (the tail, see `keep`). */
  output: string;
}

/**
 * Run argv without a shell; resolve on exit 0, throw CommandFailedError otherwise.
 * stdout is kept whole (callers parse it); the interleaved output only as a tail.
 */
export function run(argv: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const [cmd, ...args] = argv;
  if (!cmd) throw new Error("run: empty argv");
  const keep = opts.keep ?? 64 * 1024;
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env ?? process.env, stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let output = "";
    const partial = { out: "", err: "" };
    const take = (which: "out" | "err", chunk: Buffer) => {
      const text = chunk.toString("utf8");
      if (which === "out") stdout += text;
      output += text;
      if (output.length > keep * 2) output = output.slice(-keep);
      if (opts.onLine) {
        const lines = (partial[which] + text).split("\n");
        partial[which] = lines.pop() ?? "";
        for (const line of lines) opts.onLine(line);
      }
    };
    child.stdout.on("data", (c: Buffer) => take("out", c));
    child.stderr.on("data", (c: Buffer) => take("err", c));
    child.on("error", (err: NodeJS.ErrnoException) => {
      const code = err.code === "ENOENT" ? 127 : err.code === "EACCES" ? 126 : null;
      reject(new CommandFailedError(opts.step ?? cmd, argv, code, null, err.message));
    });
    child.on("close", (code, signal) => {
      if (opts.onLine) for (const rest of [partial.out, partial.err]) if (rest) opts.onLine(rest);
      const tail = output.length > keep ? output.slice(-keep) : output;
      if (code === 0) resolve({ code, stdout, output: tail });
      else reject(new CommandFailedError(opts.step ?? cmd, argv, code, signal, tail));
    });
    child.stdin.on("error", () => {});
    child.stdin.end(opts.input ?? "");
  });
}

/** Run argv; resolve with its trimmed stdout, or undefined if it fails or cannot start. */
export async function probe(argv: readonly string[], opts: RunOptions = {}): Promise<string | undefined> {
  try {
    return (await run(argv, opts)).stdout.trim();
  } catch {
    return undefined;
  }
}
