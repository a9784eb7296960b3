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
  /** Stop both processes when no byte went out for this long, or the command ran this long after the last (0: never). */
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
let gnuDd: Promise<boolean> | undefined;

/**
 * Whether this machine can send ranges: Linux (progress from /proc) with GNU dd
 * (`iflag=skip_bytes,count_bytes`; BusyBox's lacks them). Otherwise the transports relay the
 * bytes through node as before. Asked once per process.
 */
export function canSendRanges(): Promise<boolean> {
  if (process.platform !== "linux") return Promise.resolve(false);
  gnuDd ??= new Promise((resolve) => {
    const child = spawn("dd", ["--version"], { stdio: ["ignore", "pipe", "ignore"] });
    let out = "";
    child.stdout.on("data", (c: Buffer) => (out += c.toString()));
    child.on("error", () => resolve(false));
    child.on("close", (code) => resolve(code === 0 && /coreutils/i.test(out)));
  });
  return gnuDd;
}

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
    let ddReadAll = false;
    let movedAt = Date.now();
    const ddDone = new Promise<boolean>((res) => {
      dd.on("error", (err: NodeJS.ErrnoException) => {
        missing = err.code === "ENOENT";
        ddErr ||= err.message;
        res(false);
      });
      // Cut off by the child ending first (a host that already has the layer reads none of
      // it): a broken pipe, which is no failure of ours.
      dd.on("close", (code, signal) => {
        ddReadAll = code === 0;
        movedAt = Date.now(); // the last byte is out: from here the host's own work has the limit
        res(code === 0 || signal === "SIGPIPE" || /Broken pipe/i.test(ddErr));
      });
    });
    const child = spawn(argv[0]!, argv.slice(1), { stdio: [dd.stdout, "pipe", "pipe"] });
    // The child holds the pipe now; ours would only keep it open.
    dd.stdout.destroy();
    const output = collectOutput(child, opts.onStdout);
    let last = 0;
    let timedOut = false;
    let stopped = false;
    // Each tick reads dd's input offset: progress, and the deadline, which (as in the host's
    // session) restarts while bytes are still going out, so a big layer on a slow link is not
    // cut off by a flat limit.
    const tick = setInterval(() => {
      if (opts.timeoutMs && Date.now() - movedAt > opts.timeoutMs) {
        // At once: what the command left running may hold its output open for long after.
        timedOut = true;
        stop();
        dd.kill("SIGKILL");
        child.kill("SIGKILL");
        reject(new CommandTimedOut(opts.timeoutMs));
        return;
      }
      if (dd.pid === undefined || dd.exitCode !== null || dd.signalCode !== null) return;
      readFile(`/proc/${dd.pid}/fdinfo/0`, "utf8").then(
        (info) => {
          const pos = Number(/^pos:\s*(\d+)/m.exec(info)?.[1] ?? Number.NaN);
          const sent = Math.min(range.length, Math.max(0, pos - range.offset));
          if (sent > last && !stopped) {
            movedAt = Date.now();
            last = sent;
            opts.onSent?.(sent);
          }
        },
        () => undefined,
      );
    }, PROGRESS_MS);
    const stop = () => {
      stopped = true;
      clearInterval(tick);
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
        if (ddReadAll && last < range.length) opts.onSent?.(range.length);
        resolve(output.result(code, signal));
      });
    });
  });
}
