import { spawn } from "node:child_process";
import { readFile } from "node:fs/promises";
import { EnvironmentError } from "../errors.js";
import { CommandTimedOut } from "./shell-session.js";
import { collectOutput } from "./spawn.js";
import type { ExecResult, FileRange } from "./types.js";

/** How often the bytes sent so far are read off `dd`'s input offset. */
const PROGRESS_MS = 250;

export interface RangeSendOptions {
  onSent?: (bytes: number) => void;
  onStdout?: (text: string) => void;
  /** Stop both processes after this long (0: never). */
  timeoutMs?: number;
}

/**
 * Run argv (no shell) with a byte range of a local file as its stdin, fed by the kernel: GNU
 * `dd` reads the range (skip_bytes, count_bytes) into a pipe that is the child's stdin, so
 * node never copies the bytes (relaying them through node ran at 74 % of ssh reading a file
 * itself: docs/performance.md). Progress comes from dd's input offset in /proc (GNU dd opens
 * `if=` on its fd 0). Resolves with the child's exit code, whatever it is; rejects when either
 * cannot start, when dd cannot read the range, or on the deadline (CommandTimedOut).
 */
export function spawnWithRange(argv: readonly string[], range: FileRange, opts: RangeSendOptions = {}): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    const dd = spawn(
      "dd",
      [`if=${range.path}`, "bs=1M", "iflag=skip_bytes,count_bytes,fullblock", `skip=${range.offset}`, `count=${range.length}`, "status=none"],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    let ddErr = "";
    dd.stderr.on("data", (c: Buffer) => (ddErr += c.toString()));
    let missing = false;
    const ddDone = new Promise<boolean>((res) => {
      dd.on("error", (err: NodeJS.ErrnoException) => {
        missing = err.code === "ENOENT";
        ddErr ||= err.message;
        res(false);
      });
      // Cut off by the child ending first (a host that already has the layer reads none of
      // it): a broken pipe, which is no failure of ours.
      dd.on("close", (code, signal) => res(code === 0 || signal === "SIGPIPE" || /Broken pipe/i.test(ddErr)));
    });
    const child = spawn(argv[0]!, argv.slice(1), { stdio: [dd.stdout, "pipe", "pipe"] });
    // The child holds the pipe now; ours would only keep it open.
    dd.stdout.destroy();
    const output = collectOutput(child, opts.onStdout);
    let last = 0;
    const progress = setInterval(() => {
      if (!opts.onSent || dd.pid === undefined) return;
      readFile(`/proc/${dd.pid}/fdinfo/0`, "utf8").then(
        (info) => {
          const pos = Number(/^pos:\s*(\d+)/m.exec(info)?.[1] ?? Number.NaN);
          const sent = Math.min(range.length, Math.max(0, pos - range.offset));
          if (sent > last) opts.onSent!((last = sent));
        },
        () => undefined,
      );
    }, PROGRESS_MS);
    let timedOut = false;
    const deadline = opts.timeoutMs
      ? setTimeout(() => {
          timedOut = true;
          dd.kill("SIGKILL");
          child.kill("SIGKILL");
        }, opts.timeoutMs)
      : undefined;
    const stop = () => {
      clearInterval(progress);
      if (deadline) clearTimeout(deadline);
    };
    child.on("error", (e) => {
      stop();
      dd.kill("SIGKILL");
      reject(e);
    });
    child.on("close", (code, signal) => {
      stop();
      void ddDone.then((read) => {
        if (timedOut) return reject(new CommandTimedOut(opts.timeoutMs!));
        if (!read) {
          return reject(
            missing
              ? new EnvironmentError("dd is not installed on this machine", "install GNU coreutils")
              : new Error(`could not read bytes ${range.offset}+${range.length} of ${range.path}: ${ddErr.trim() || "dd failed"}`),
          );
        }
        if (last < range.length) opts.onSent?.(range.length);
        resolve(output.result(code, signal));
      });
    });
  });
}
