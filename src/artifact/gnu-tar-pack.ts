import { spawn } from "node:child_process";
import { createWriteStream } from "node:fs";
import { rename, rm } from "node:fs/promises";
import { Transform, type TransformCallback } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { TreeEntry } from "../build/tree.js";
import { EnvironmentError } from "../errors.js";
import { tempSibling } from "../util/fs.js";
import { HashingCounter } from "../util/hash.js";
import { compressor } from "./compress.js";
import type { LayerStats, WriteLayerRequest } from "./layer-writer.js";

/*
 * The venv layer made by GNU tar instead of tar-stream: tar reads and frames the files in C,
 * so packing a large venv runs at the compressor's speed rather than at one JS core's.
 * The archive holds what writeLayer's would (same entries in the same order, modes without
 * setuid/setgid/sticky, owner 0 with no names, one mtime, only `path`/`linkpath` pax records),
 * and node still reads every header as it streams past, so a tree that changed after the walk
 * fails the build instead of disagreeing with the manifest.
 */

let gnuTar: Promise<boolean> | undefined;

/** True when `tar` on PATH is GNU tar (checked once per process). */
export function hasGnuTar(): Promise<boolean> {
  gnuTar ??= new Promise((resolve) => {
    const child = spawn("tar", ["--version"], { stdio: ["ignore", "pipe", "ignore"] });
    let out = "";
    child.stdout.on("data", (c: Buffer) => (out += c.toString()));
    child.on("error", () => resolve(false));
    child.on("close", (code) => resolve(code === 0 && /\bGNU tar\b/.test(out.split("\n")[0] ?? "")));
  });
  return gnuTar;
}

/** The arguments that make GNU tar's output deterministic and owner-free; the names come NUL-separated on stdin. */
export function gnuTarArgs(dir: string, mtime: Date): string[] {
  return [
    "-c",
    "-f",
    "-",
    "-C",
    dir,
    "--no-recursion",
    "--null",
    "--verbatim-files-from",
    "-T",
    "-",
    "--format=pax",
    // No pid in extended header names, no access/change times: the same tree gives the same bytes.
    "--pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime",
    `--mtime=@${Math.floor(mtime.getTime() / 1000)}`,
    "--owner=0",
    "--group=0",
    "--numeric-owner",
    // Hard links become separate files, as walkTree sees them (it has no hard-link entries).
    "--hard-dereference",
    // writeLayer stores `mode & 0o777`: drop setuid, setgid and sticky, which the entry checks refuse.
    "--mode=a-st",
  ];
}

/** Write the same layer as writeLayer, with GNU tar reading the files; atomic, and the temp file is removed on failure. */
export async function writeLayerWithGnuTar(req: WriteLayerRequest): Promise<LayerStats> {
  const total = req.entries.reduce((n, e) => n + e.size, 0);
  const scan = new TarScan(req.entries, (seen) => req.onProgress?.(Math.min(seen, total)));
  const codec = compressor(req.compression);
  const tmp = tempSibling(req.out);
  const counter = new HashingCounter();
  const child = spawn("tar", gnuTarArgs(req.dir, req.mtime), { stdio: ["pipe", "pipe", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (c: Buffer) => (stderr = (stderr + c.toString()).slice(-8192)));
  let killed = false;
  const exited = new Promise<Error | undefined>((resolve) => {
    child.on("error", (err: NodeJS.ErrnoException) =>
      resolve(err.code === "ENOENT" ? new EnvironmentError("tar is not installed on this machine", "install GNU tar (apt-get install tar)") : err),
    );
    child.on("close", (code, signal) =>
      resolve(
        code === 0 ? undefined : new Error(`packing ${req.dir} with GNU tar failed: tar exited ${code ?? signal}${stderr.trim() ? `: ${stderr.trim()}` : ""}`),
      ),
    );
  });
  child.stdin.on("error", () => {}); // tar that died early: its exit says why
  child.stdin.end(Buffer.concat(req.entries.flatMap((e) => [Buffer.from(e.rel), Buffer.alloc(1)])));
  // If the compressor or the file fails, stop tar too (its exit is then a consequence, not the cause).
  const stopTar = () => {
    if (child.exitCode === null && child.signalCode === null) {
      killed = true;
      child.kill();
    }
  };
  const failed = (err: Error): Error => {
    stopTar();
    return err;
  };
  const feed = pipeline(child.stdout, scan, codec.input).then(() => undefined, failed);
  const sink = pipeline(codec.output, counter, createWriteStream(tmp)).then(() => undefined, failed);
  const coded = codec.done.then(() => undefined, failed);
  try {
    const [codecErr, tarErr, feedErr, sinkErr] = await Promise.all([coded, exited, feed, sink]);
    const failure = codecErr ?? (killed ? undefined : tarErr) ?? sinkErr ?? feedErr ?? tarErr ?? scan.problem();
    if (failure) throw failure;
    await rename(tmp, req.out);
  } catch (err) {
    stopTar();
    codec.input.destroy();
    await rm(tmp, { force: true });
    throw err;
  }
  return { compression: req.compression, sha256: counter.digest(), size: counter.bytes, unpacked_size: total, files: req.entries.length };
}

const BLOCK = 512;
const KIND: Record<string, TreeEntry["type"] | "link"> = { "0": "file", "\0": "file", "5": "directory", "2": "symlink", "1": "link" };

/**
 * A pass-through that reads tar headers (skipping file data, not copying it) and compares each
 * entry with the walked one in the same position: name, type, size, symlink target. It counts
 * file bytes for progress. A mismatch is kept, not thrown, so tar's own message (a file that
 * vanished) can win; `problem()` reports it at the end.
 */
class TarScan extends Transform {
  private index = 0;
  private seen = 0;
  /** Data (then padding) still to pass for the current entry. */
  private dataLeft = 0;
  private padLeft = 0;
  /** A header block or pax body being collected across chunks. */
  private want = BLOCK;
  private parts: Buffer[] = [];
  private have = 0;
  private paxSize = -1;
  private pax: Record<string, string> = {};
  private ended = false;
  private first: string | undefined;

  constructor(
    private readonly entries: readonly TreeEntry[],
    private readonly onProgress: (seen: number) => void,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    const before = this.seen;
    let off = 0;
    while (off < chunk.length && !this.ended) {
      if (this.dataLeft > 0 || this.padLeft > 0) {
        const d = Math.min(this.dataLeft, chunk.length - off);
        this.dataLeft -= d;
        this.seen += d;
        off += d;
        const p = Math.min(this.padLeft, chunk.length - off);
        this.padLeft -= p;
        off += p;
        continue;
      }
      const n = Math.min(this.want - this.have, chunk.length - off);
      this.parts.push(chunk.subarray(off, off + n));
      this.have += n;
      off += n;
      if (this.have < this.want) break;
      const unit = this.parts.length === 1 ? this.parts[0]! : Buffer.concat(this.parts);
      this.parts = [];
      this.have = 0;
      this.want = BLOCK;
      if (this.paxSize >= 0) this.takePax(unit.subarray(0, this.paxSize));
      else this.takeHeader(unit);
    }
    if (this.seen !== before) this.onProgress(this.seen);
    done(null, chunk);
  }

  /** The first disagreement between tar's entries and the walked ones, as an Error. */
  problem(): Error | undefined {
    if (!this.first && this.index !== this.entries.length) this.mismatch(`tar wrote ${this.index} entries, the walk found ${this.entries.length}`);
    if (!this.first && !this.ended) this.mismatch("the tar stream has no end-of-archive marker");
    return this.first ? new Error(`GNU tar's layer does not match the walked tree (did it change during the build?): ${this.first}`) : undefined;
  }

  private mismatch(what: string): void {
    this.first ??= what;
  }

  private takePax(body: Buffer): void {
    this.paxSize = -1;
    let at = 0;
    while (at < body.length) {
      const space = body.indexOf(0x20, at);
      const len = Number(body.subarray(at, space).toString());
      if (space < 0 || !(len > 0)) {
        this.mismatch("a pax header is malformed");
        return;
      }
      const record = body.subarray(space + 1, at + len - 1).toString();
      const eq = record.indexOf("=");
      this.pax[record.slice(0, eq)] = record.slice(eq + 1);
      at += len;
    }
  }

  private takeHeader(h: Buffer): void {
    if (h.every((b) => b === 0)) {
      this.ended = true; // end of archive: the rest is zero padding
      return;
    }
    const flag = String.fromCharCode(h[156]!);
    const size = sizeOf(h);
    if (flag === "x") {
      this.paxSize = size;
      this.want = roundUp(size);
      return;
    }
    const pax = this.pax;
    this.pax = {};
    if (flag !== "0" && flag !== "\0") this.padLeft = roundUp(size);
    else {
      this.dataLeft = size;
      this.padLeft = roundUp(size) - size;
    }
    const expected = this.entries[this.index++];
    const prefix = field(h, 345, 155);
    const name = pax["path"] ?? (prefix ? `${prefix}/${field(h, 0, 100)}` : field(h, 0, 100));
    const linkname = pax["linkpath"] ?? field(h, 157, 100);
    const kind = KIND[flag] ?? `type ${JSON.stringify(flag)}`;
    const extra = Object.keys(pax).filter((k) => k !== "path" && k !== "linkpath");
    if (!expected) {
      this.mismatch(`tar wrote ${JSON.stringify(name)} after the last walked entry`);
      return;
    }
    const want = expected.type === "directory" ? `${expected.rel}/` : expected.rel;
    const wantSize = expected.type === "file" ? expected.size : 0;
    if (name !== want || kind !== expected.type || size !== wantSize) {
      this.mismatch(
        `tar wrote ${JSON.stringify(name)} (${kind}, ${size} bytes) where the walk had ${JSON.stringify(want)} (${expected.type}, ${wantSize} bytes)`,
      );
      return;
    }
    if (expected.type === "symlink" && linkname !== expected.linkname) {
      this.mismatch(`tar wrote ${JSON.stringify(name)} as a link to ${JSON.stringify(linkname)}, the walk saw ${JSON.stringify(expected.linkname)}`);
      return;
    }
    if (extra.length) this.mismatch(`tar wrote the pax records ${extra.join(", ")} for ${JSON.stringify(name)}`);
  }
}

function roundUp(n: number): number {
  return Math.ceil(n / BLOCK) * BLOCK;
}

/** A NUL-terminated header field. */
function field(h: Buffer, at: number, len: number): string {
  const end = h.indexOf(0, at);
  return h.subarray(at, end < 0 || end > at + len ? at + len : end).toString();
}

/** The size field: octal, or base-256 when its top bit is set. */
function sizeOf(h: Buffer): number {
  if (h[124]! & 0x80) {
    let n = h[124]! & 0x7f;
    for (let i = 125; i < 136; i++) n = n * 256 + h[i]!;
    return n;
  }
  return Number.parseInt(field(h, 124, 12).trim() || "0", 8);
}
