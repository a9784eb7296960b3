import { createReadStream, createWriteStream, readFileSync } from "node:fs";
import { rename, rm } from "node:fs/promises";
import { HashingCounter } from "../util/hash.js";
import path from "node:path";
import { pipeline } from "node:stream/promises";
import type { Writable } from "node:stream";
import tar from "tar-stream";
import type { TreeEntry } from "../build/tree.js";
import { tempSibling } from "../util/fs.js";
import { compressor, type Compression } from "./compress.js";

export interface LayerStats {
  compression: Compression;
  sha256: string;
  /** Compressed size in bytes. */
  size: number;
  /** Sum of the sizes of the regular files inside. */
  unpacked_size: number;
  /** Number of tar entries (files, directories, symlinks). */
  files: number;
}

export interface WriteLayerRequest {
  /** Directory the entries are relative to. */
  dir: string;
  entries: readonly TreeEntry[];
  /** Every entry gets this mtime; with owners zeroed and a fixed order the layer is reproducible. */
  mtime: Date;
  compression: Compression;
  out: string;
  onProgress?: (bytesIn: number) => void;
}

/** Write a compressed tar of `entries` to `out` (atomically) and return its hash and sizes. */
export async function writeLayer(req: WriteLayerRequest): Promise<LayerStats> {
  const pack = tar.pack();
  const codec = compressor(req.compression);
  const tmp = tempSibling(req.out);
  const counter = new HashingCounter();
  const sink = pipeline(codec.output, counter, createWriteStream(tmp));
  const feed = pipeline(pack, codec.input);
  let unpacked = 0;
  try {
    for (const e of req.entries) {
      await addEntry(pack, req.dir, e, req.mtime);
      unpacked += e.size;
      req.onProgress?.(unpacked);
    }
    pack.finalize();
    await Promise.all([feed, sink, codec.done]);
    await rename(tmp, req.out);
  } catch (err) {
    pack.destroy();
    codec.input.destroy();
    await rm(tmp, { force: true });
    throw err;
  }
  return { compression: req.compression, sha256: counter.digest(), size: counter.bytes, unpacked_size: unpacked, files: req.entries.length };
}

/**
 * Files up to this size are read whole, in one synchronous call: a code layer is mostly small
 * files, and two thread-pool round trips (open, read, close, each a turn of the event loop) per
 * file cost more than the reading. Bigger files stream.
 */
const READ_WHOLE_BYTES = 1 << 20;

function addEntry(pack: tar.Pack, dir: string, e: TreeEntry, mtime: Date): Promise<void> {
  const header: tar.Header = {
    name: e.type === "directory" ? `${e.rel}/` : e.rel,
    type: e.type,
    mode: e.mode,
    mtime,
    uid: 0,
    gid: 0,
    uname: "",
    gname: "",
    devmajor: 0,
    devminor: 0,
    size: e.type === "file" ? e.size : 0,
    linkname: e.linkname ?? "",
  };
  return new Promise((resolve, reject) => {
    const done = (err?: Error | null) => (err ? reject(err) : resolve());
    if (e.type === "file" && e.size <= READ_WHOLE_BYTES) {
      const data = readFileSync(path.join(dir, e.rel));
      if (data.length !== e.size) return reject(new Error(`${e.rel} changed while the layer was written: ${e.size} bytes, now ${data.length}`));
      return pack.entry(header, data, done);
    }
    const entry = pack.entry(header, done) as unknown as Writable;
    if (e.type !== "file") return entry.end();
    const src = createReadStream(path.join(dir, e.rel));
    src.on("error", reject);
    src.on("data", (chunk) => {
      if (!entry.write(chunk)) {
        src.pause();
        entry.once("drain", () => src.resume());
      }
    });
    src.on("end", () => entry.end());
  });
}
