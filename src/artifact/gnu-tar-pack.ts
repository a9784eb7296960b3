import { spawn } from "node:child_process";
import { closeSync, createWriteStream, openSync, readSync } from "node:fs";
import { open, rename, rm, stat } from "node:fs/promises";
import { Socket } from "node:net";
import type { Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { TreeEntry } from "../build/tree.js";
import { EnvironmentError } from "../errors.js";
import { tempSibling } from "../util/fs.js";
import { HashingCounter, sha256File } from "../util/hash.js";
import { compressor, zstdCompressorTo } from "./compress.js";
import type { LayerStats, WriteLayerRequest } from "./layer-writer.js";

/*
 * The venv layer made by GNU tar instead of tar-stream: tar reads and frames the files in C,
 * so packing a large venv runs at the compressor's speed rather than at one JS core's.
 * The archive holds what writeLayer's would (same entries in the same order, modes without
 * setuid/setgid/sticky, owner 0 with no names, one mtime, only `path`/`linkpath` pax records),
 * and node reads tar's listing of every entry, so a tree that changed after the walk fails the
 * build instead of disagreeing with the manifest. (A new venv layer is then checked whole, as
 * deploy would check it, in build's artifact phase.)
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

/**
 * Write the same layer as writeLayer, with GNU tar reading the files; atomic, and the temp file
 * is removed on failure. With zstd, no byte of the layer passes through node: tar writes into
 * zstd's stdin and zstd into the temp file, and node hashes the file once it is whole (reading a
 * compressor's output through a stream cost node more CPU than the hash). With gzip (zlib, in
 * node), tar's output is compressed and hashed on the way. What tar wrote is checked from its
 * verbose listing (`-vv --index-file`, names C-quoted, so one line per entry), which tar writes
 * to a file beside the layer that node reads as it grows (on a pipe, tar's unbuffered writes of
 * it cost node a wakeup for every few bytes): each entry's name, type, size and link target
 * must be the walked one in the same position.
 */
export async function writeLayerWithGnuTar(req: WriteLayerRequest): Promise<LayerStats> {
  const total = req.entries.reduce((n, e) => n + e.size, 0);
  const listing = new ListingCheck(req.entries, (seen) => req.onProgress?.(Math.min(seen, total)));
  const tmp = tempSibling(req.out);
  let counter: HashingCounter | undefined;
  let stopTar = () => {};
  try {
    const out = await open(tmp, "w", 0o644);
    let sink: Promise<unknown> = Promise.resolve();
    let input: Writable | undefined;
    let coded: Promise<void> = Promise.resolve();
    try {
      if (req.compression === "zstd") {
        ({ input, done: coded } = zstdCompressorTo(out.fd));
      } else {
        const codec = compressor(req.compression);
        counter = new HashingCounter();
        ({ input, done: coded } = codec);
        sink = pipeline(codec.output, counter, createWriteStream("", { fd: out.fd, autoClose: false }));
      }
      // Settled below; a throw before then (tar would not start) must not leave them unhandled.
      coded.catch(() => {});
      sink.catch(() => {});
      const tar = packWithTar(req, input, listing, `${tmp}.list`);
      stopTar = tar.stop;
      const failed = (err: Error): Error => {
        tar.stop();
        return err;
      };
      const [codecErr, tarErr, sinkErr, feedErr] = await Promise.all([
        coded.then(() => undefined, failed),
        tar.exited,
        sink.then(() => undefined, failed),
        tar.fed.then(() => undefined, failed),
      ]);
      const failure = codecErr ?? (tar.killed() ? undefined : tarErr) ?? sinkErr ?? feedErr ?? tarErr ?? listing.problem();
      if (failure) throw failure;
    } catch (err) {
      // The compressor, if tar never took its input, would wait on it forever.
      input?.destroy();
      throw err;
    } finally {
      await out.close();
    }
    const size = (await stat(tmp)).size;
    const sha256 = counter ? counter.digest() : await sha256File(tmp);
    await rename(tmp, req.out);
    return { compression: req.compression, sha256, size, unpacked_size: total, files: req.entries.length };
  } catch (err) {
    stopTar();
    await rm(tmp, { force: true });
    throw err;
  } finally {
    await rm(`${tmp}.list`, { force: true });
  }
}

/** How often the listing file is read while tar runs (progress and the first mismatch). */
const LISTING_POLL_MS = 200;

/**
 * GNU tar packing req's entries into `into`, a pipe to a child (tar writes into it directly) or
 * a node stream, its listing going to `listFile` and from there to `listing`.
 */
function packWithTar(req: WriteLayerRequest, into: Writable, listing: ListingCheck, listFile: string) {
  const direct = into instanceof Socket;
  // Made here (private), so it can be read from the start; tar's fopen truncates the same file.
  const listFd = openSync(listFile, "w+", 0o600);
  let listPos = 0;
  const buf = Buffer.allocUnsafe(1 << 20);
  const readListing = () => {
    try {
      for (let n = readSync(listFd, buf, 0, buf.length, listPos); n > 0; n = readSync(listFd, buf, 0, buf.length, listPos)) {
        listPos += n;
        listing.feed(buf.subarray(0, n));
      }
    } catch (err) {
      listing.unreadable(err as Error);
    }
  };
  let child: ReturnType<typeof spawn>;
  try {
    child = spawn("tar", [...gnuTarArgs(req.dir, req.mtime), "-vv", "--quoting-style=c", `--index-file=${listFile}`], {
      stdio: ["pipe", direct ? into : "pipe", "pipe"],
      // The listing's quoting and number formats, whatever the user's locale.
      env: { ...process.env, LC_ALL: "C" },
    });
  } catch (err) {
    closeSync(listFd);
    throw err;
  }
  // tar holds the compressor's stdin now: node's copy must close, or the compressor never sees the end.
  if (direct) into.destroy();
  const poll = setInterval(readListing, LISTING_POLL_MS);
  let stderr = "";
  child.stderr!.on("data", (c: Buffer) => (stderr = (stderr + c.toString()).slice(-8192)));
  let killed = false;
  const exited = new Promise<Error | undefined>((resolve) => {
    child.on("error", (err: NodeJS.ErrnoException) =>
      resolve(err.code === "ENOENT" ? new EnvironmentError("tar is not installed on this machine", "install GNU tar (apt-get install tar)") : err),
    );
    child.on("close", (code, signal) => {
      clearInterval(poll);
      try {
        readListing();
        listing.finish();
      } finally {
        closeSync(listFd);
      }
      resolve(
        code === 0 ? undefined : new Error(`packing ${req.dir} with GNU tar failed: tar exited ${code ?? signal}${stderr.trim() ? `: ${stderr.trim()}` : ""}`),
      );
    });
  });
  child.stdin!.on("error", () => {}); // tar that died early: its exit says why
  child.stdin!.end(Buffer.concat(req.entries.flatMap((e) => [Buffer.from(e.rel), Buffer.alloc(1)])));
  // If the compressor or the file fails, stop tar too (its exit is then a consequence, not the cause).
  const stop = () => {
    if (child.exitCode === null && child.signalCode === null) {
      killed = true;
      child.kill();
    }
    if (!direct) into.destroy();
  };
  const fed = direct ? Promise.resolve() : pipeline(child.stdout!, into);
  return { exited, fed, stop, killed: () => killed };
}

const KIND: Record<string, TreeEntry["type"] | "hard link"> = { "-": "file", d: "directory", l: "symlink", h: "hard link" };

/**
 * Reads GNU tar's `-vv --quoting-style=c` listing, one line per entry
 * (`MODE OWNER/GROUP SIZE DATE TIME "NAME"[ -> "TARGET"]`), and compares each entry with the
 * walked one in the same position: name, type, size, symlink target. It counts file bytes for
 * progress. A mismatch is kept, not thrown, so tar's own message (a file that vanished) can
 * win; `problem()` reports it at the end.
 */
class ListingCheck {
  private index = 0;
  private seen = 0;
  private rest = "";
  private first: string | undefined;

  constructor(
    private readonly entries: readonly TreeEntry[],
    private readonly onProgress: (seen: number) => void,
  ) {}

  feed(chunk: Buffer): void {
    const lines = (this.rest + chunk.toString("latin1")).split("\n");
    this.rest = lines.pop()!;
    const before = this.seen;
    for (const line of lines) this.take(line);
    if (this.seen !== before) this.onProgress(this.seen);
  }

  finish(): void {
    if (this.rest) this.take(this.rest);
    this.rest = "";
  }

  /** The first disagreement between tar's entries and the walked ones, as an Error. */
  problem(): Error | undefined {
    if (!this.first && this.index !== this.entries.length) this.mismatch(`tar wrote ${this.index} entries, the walk found ${this.entries.length}`);
    return this.first ? new Error(`GNU tar's layer does not match the walked tree (did it change during the build?): ${this.first}`) : undefined;
  }

  private mismatch(what: string): void {
    this.first ??= what;
  }

  /** The listing could not be read (or progress failed): the layer cannot be vouched for. */
  unreadable(err: Error): void {
    this.mismatch(`tar's listing could not be read: ${err.message}`);
  }

  private take(line: string): void {
    const entry = parseListingLine(line);
    if (!entry) {
      this.mismatch(`tar listed a line slipway cannot read: ${JSON.stringify(line.slice(0, 200))}`);
      return;
    }
    const { name, kind, size, linkname } = entry;
    const expected = this.entries[this.index++];
    if (!expected) {
      this.mismatch(`tar wrote ${JSON.stringify(name)} after the last walked entry`);
      return;
    }
    const want = expected.type === "directory" ? `${expected.rel}/` : expected.rel;
    const wantSize = expected.type === "file" ? expected.size : 0;
    if (kind === "file") this.seen += size;
    if (name !== want || kind !== expected.type || size !== wantSize) {
      this.mismatch(
        `tar wrote ${JSON.stringify(name)} (${kind}, ${size} bytes) where the walk had ${JSON.stringify(want)} (${expected.type}, ${wantSize} bytes)`,
      );
      return;
    }
    if (expected.type === "symlink" && linkname !== expected.linkname) {
      this.mismatch(`tar wrote ${JSON.stringify(name)} as a link to ${JSON.stringify(linkname)}, the walk saw ${JSON.stringify(expected.linkname)}`);
    }
  }
}

/** One line of `tar -cvv --quoting-style=c` (read as latin1, one char per byte), or undefined. */
export function parseListingLine(line: string): { name: string; kind: string; size: number; linkname?: string } | undefined {
  const head = /^(\S)\S{9} \S+ +(\d+) \S+ \S+ "/.exec(line);
  if (!head) return undefined;
  const name = cQuoted(line, head[0].length);
  if (!name) return undefined;
  let linkname: string | undefined;
  if (name.end < line.length) {
    if (!line.startsWith(' -> "', name.end)) return undefined;
    const target = cQuoted(line, name.end + 5);
    if (!target || target.end !== line.length) return undefined;
    linkname = target.text;
  }
  const kind = KIND[head[1]!] ?? `type ${JSON.stringify(head[1])}`;
  return { name: name.text, kind, size: Number(head[2]), ...(linkname !== undefined ? { linkname } : {}) };
}

const C_ESCAPES: Record<string, number> = { n: 10, t: 9, r: 13, a: 7, b: 8, f: 12, v: 11, "\\": 92, '"': 34, "?": 63, "'": 39 };

/** The C-quoted string whose body starts at `at` (after its opening quote), decoded as UTF-8, and where it ends (after the closing quote). */
function cQuoted(line: string, at: number): { text: string; end: number } | undefined {
  const bytes: number[] = [];
  for (let i = at; i < line.length; i++) {
    const c = line[i]!;
    if (c === '"') return { text: Buffer.from(bytes).toString("utf8"), end: i + 1 };
    if (c !== "\\") {
      bytes.push(c.charCodeAt(0));
      continue;
    }
    const next = line[++i];
    if (next === undefined) return undefined;
    const octal = /^[0-7]{1,3}/.exec(line.slice(i, i + 3));
    if (octal) {
      bytes.push(Number.parseInt(octal[0], 8));
      i += octal[0].length - 1;
    } else if (next in C_ESCAPES) bytes.push(C_ESCAPES[next]!);
    else return undefined;
  }
  return undefined;
}
