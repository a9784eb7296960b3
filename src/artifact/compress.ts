import { spawn } from "node:child_process";
import { createGzip, createGunzip } from "node:zlib";
import type { Readable, Writable } from "node:stream";
import { EnvironmentError } from "../errors.js";

export type Compression = "zstd" | "gzip";

export const LAYER_SUFFIX: Record<Compression, string> = { zstd: ".tar.zst", gzip: ".tar.gz" };

/** A running (de)compressor: write to `input`, read from `output`; `done` settles when it exits. */
export interface Codec {
  input: Writable;
  output: Readable;
  done: Promise<void>;
}

/** zstd's compress arguments: every core, level 3 (docs/performance.md says why). */
const ZSTD_COMPRESS = ["-q", "-c", "-T0", "-3"];

/**
 * zstd runs as the `zstd` program (multi-threaded, and the same tool hosts use to unpack);
 * gzip uses Node's zlib. Both produce the same bytes for the same input on every run.
 */
export function compressor(kind: Compression): Codec {
  if (kind === "gzip") return zlibCodec(createGzip({ level: 6 }));
  return zstdCodec(ZSTD_COMPRESS);
}

export function decompressor(kind: Compression): Codec {
  if (kind === "gzip") return zlibCodec(createGunzip());
  return zstdCodec(["-q", "-d", "-c"]);
}

function zlibCodec(stream: import("node:zlib").Gzip | import("node:zlib").Gunzip): Codec {
  const done = new Promise<void>((resolve, reject) => {
    stream.on("end", resolve);
    stream.on("error", reject);
  });
  return { input: stream, output: stream, done };
}

/** zstd -19 against a raw-content dictionary, no checksum (manifest-delta.ts: the host checks a sha256). */
export function dictionaryCompressor(dictionaryFile: string): Codec {
  return zstdCodec(["-q", "-19", "--no-check", "-D", dictionaryFile, "-c"]);
}

/**
 * `zstd -T0 -3` writing straight into the open file `fd` (its own copy: the caller may close
 * theirs once this returns). `input` is a pipe to zstd, so another child can be given it as its
 * stdout: then neither the input nor the output passes through node.
 */
export function zstdCompressorTo(fd: number): Omit<Codec, "output"> {
  return zstdCodec(ZSTD_COMPRESS, fd);
}

function zstdCodec(args: string[]): Codec;
function zstdCodec(args: string[], stdout: number): Omit<Codec, "output">;
function zstdCodec(args: string[], stdout: number | "pipe" = "pipe"): Codec | Omit<Codec, "output"> {
  const child = spawn("zstd", args, { stdio: ["pipe", stdout, "pipe"] });
  let stderr = "";
  child.stderr!.on("data", (c: Buffer) => (stderr += c.toString()));
  const done = new Promise<void>((resolve, reject) => {
    child.on("error", (err: NodeJS.ErrnoException) =>
      reject(
        err.code === "ENOENT"
          ? new EnvironmentError("zstd is not installed on this machine", 'install it (apt-get install zstd), or set build.compression = "gzip"')
          : err,
      ),
    );
    child.on("close", (code) => (code === 0 ? resolve() : reject(new Error(`zstd exited with ${code}: ${stderr.trim()}`))));
  });
  child.stdin!.on("error", () => {});
  return stdout === "pipe" ? { input: child.stdin!, output: child.stdout!, done } : { input: child.stdin!, done };
}
