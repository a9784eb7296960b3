// Child processes for the benches: their output, exit and wall time, stdout lines timed as they arrive.
import { spawn } from "node:child_process";
import { createReadStream } from "node:fs";

export interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
  seconds: number;
  /** stdout lines with their arrival time (ms since spawn). */
  lines: { t: number; line: string }[];
}

export function runProcess(
  argv: string[],
  opts: { cwd?: string; env?: NodeJS.ProcessEnv; stdinFile?: string; onSpawn?: (pid: number) => void } = {},
): Promise<Ran> {
  return new Promise((resolveRun, reject) => {
    const t0 = performance.now();
    const child = spawn(argv[0]!, argv.slice(1), {
      cwd: opts.cwd ?? "/",
      env: opts.env ?? process.env,
      stdio: [opts.stdinFile ? "pipe" : "ignore", "pipe", "pipe"],
    });
    if (child.pid !== undefined) opts.onSpawn?.(child.pid);
    let stdout = "";
    let stderr = "";
    let partial = "";
    const lines: Ran["lines"] = [];
    child.stdout!.on("data", (c: Buffer) => {
      const t = performance.now() - t0;
      const text = c.toString();
      stdout += text;
      partial += text;
      let i: number;
      while ((i = partial.indexOf("\n")) >= 0) {
        lines.push({ t, line: partial.slice(0, i) });
        partial = partial.slice(i + 1);
      }
    });
    child.stderr!.on("data", (c: Buffer) => (stderr += c.toString()));
    if (opts.stdinFile && child.stdin) {
      child.stdin.on("error", () => {});
      createReadStream(opts.stdinFile).on("error", reject).pipe(child.stdin);
    }
    child.on("error", reject);
    child.on("close", (code) => {
      if (partial) lines.push({ t: performance.now() - t0, line: partial });
      resolveRun({ code, stdout, stderr, seconds: (performance.now() - t0) / 1000, lines });
    });
  });
}

export async function must(argv: string[], opts: Parameters<typeof runProcess>[1] = {}): Promise<Ran> {
  const r = await runProcess(argv, opts);
  if (r.code !== 0) throw new Error(`${argv.slice(0, 3).join(" ")}… failed (exit ${r.code}): ${(r.stderr || r.stdout).trim().slice(-1500)}`);
  return r;
}
