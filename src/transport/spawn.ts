import { spawn } from "node:child_process";
import { Readable, Transform, type TransformCallback } from "node:stream";
import { pipeline } from "node:stream/promises";
import { Kept, STDERR_LIMIT, STDOUT_LIMIT } from "./kept.js";
import type { ExecOptions, ExecResult } from "./types.js";

/** Spawn argv (no shell), feed stdin, collect stdout/stderr. Rejects only if it cannot start. */
export function spawnCollect(argv: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ["pipe", "pipe", "pipe"] });
    const output = collectOutput(child, opts.onStdout);
    child.on("error", reject);
    child.on("close", (code, signal) => resolve(output.result(code, signal)));
    child.stdin.on("error", () => {}); // the command may exit before reading all input; its exit code tells
    const input = opts.stdin;
    if (input === undefined) child.stdin.end();
    else if (typeof input === "string" || Buffer.isBuffer(input)) {
      opts.onSent?.(Buffer.byteLength(input));
      child.stdin.end(input);
    } else {
      let sent = 0;
      const count = new Transform({
        transform(chunk: Buffer, _e, done: TransformCallback) {
          sent += chunk.length;
          opts.onSent?.(sent);
          done(null, chunk);
        },
      });
      pipeline(input as Readable, count, child.stdin).catch(() => child.stdin.destroy());
    }
  });
}

/** A child's stdout and stderr, kept within their limits (stdout also passed on as it arrives). */
export function collectOutput(child: { stdout: Readable; stderr: Readable }, onStdout?: (text: string) => void) {
  const out = new Kept(STDOUT_LIMIT);
  const err = new Kept(STDERR_LIMIT);
  const decoder = onStdout ? new TextDecoder() : undefined;
  child.stdout.on("data", (c: Buffer) => {
    out.push(c);
    if (decoder) onStdout!(decoder.decode(c, { stream: true }));
  });
  child.stderr.on("data", (c: Buffer) => err.push(c));
  return {
    result: (code: number | null, signal: NodeJS.Signals | null): ExecResult => ({
      code: code ?? (signal ? 128 + 9 : 1),
      stdout: out.text(),
      stderr: err.text(),
    }),
  };
}

export { Readable };
