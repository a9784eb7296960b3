/**
 * One artifact layer as an OCI image layer: the same entries, in the same (sorted) order, with
 * owners 0:0 and the layer's own mtimes, moved under `prefix` (e.g. `srv/ledger/virtualenvs/<key>`)
 * with that prefix's parent directories first, gzip-compressed. Hashes both the compressed bytes
 * (the blob's digest) and the tar (the diff_id) while streaming; nothing is held in memory.
 * The same artifact layer always gives the same blob: a venv key gives one layer digest.
 */
import { createWriteStream } from "node:fs";
import { createHash } from "node:crypto";
import { Transform, type Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGzip } from "node:zlib";
import tar from "tar-stream";
import { decompressor, type Compression } from "../artifact/compress.js";

export interface OciLayer {
  digest: string;
  size: number;
  diffId: string;
}

/** Extra entries the layer ends with (a symlink, a small file), added after the artifact's. */
export interface ExtraEntry {
  name: string;
  type: "symlink" | "file" | "directory";
  linkname?: string;
  content?: Buffer;
  mode: number;
}

/** Passes bytes through, counting them and hashing them (sha256). */
export class Hashing extends Transform {
  readonly hash = createHash("sha256");
  bytes = 0;
  override _transform(chunk: Buffer, _enc: BufferEncoding, done: (err?: Error | null, data?: Buffer) => void): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    done(null, chunk);
  }
}

/**
 * Read the artifact layer `source` (compressed as `compression`), write the OCI layer to
 * `outFile`. `prefix` has no leading or trailing slash; `parents` are its ancestors to create
 * (e.g. ["srv", "srv/ledger", "srv/ledger/virtualenvs"]).
 */
export async function rerootLayer(
  source: Readable,
  compression: Compression,
  prefix: string,
  parents: readonly string[],
  outFile: string,
  extra: readonly ExtraEntry[] = [],
): Promise<OciLayer> {
  const codec = decompressor(compression);
  const extract = tar.extract();
  const pack = tar.pack();
  const tarHash = new Hashing();
  const blobHash = new Hashing();
  const gzip = createGzip({ level: 6 });
  const reading = pipeline(source, codec.input);
  const parsing = pipeline(codec.output, extract as unknown as NodeJS.WritableStream);
  const writing = pipeline(pack, tarHash, gzip, blobHash, createWriteStream(outFile, { mode: 0o644 }));
  let mtime: Date | undefined;
  const add = (header: tar.Header, body?: Readable | Buffer) =>
    new Promise<void>((resolve, reject) => {
      const done = (err?: Error | null) => (err ? reject(err) : resolve());
      if (Buffer.isBuffer(body)) return void pack.entry(header, body, done);
      const entry = pack.entry(header, done);
      if (body === undefined) return;
      body.on("error", reject);
      body.pipe(entry as unknown as NodeJS.WritableStream);
    });
  const owner = { uid: 0, gid: 0, uname: "", gname: "", devmajor: 0, devminor: 0 };
  // The prefix and its parents come first, with the layer's mtime (its first entry's).
  const start = async (at: Date) => {
    mtime = at;
    for (const p of [...parents, prefix]) await add({ name: `${p}/`, type: "directory", mode: 0o755, mtime: at, size: 0, linkname: "", ...owner });
  };
  try {
    for await (const entry of extract) {
      const h = entry.header;
      if (mtime === undefined) await start(h.mtime ?? new Date(0));
      const rel = h.name.replace(/^\.\//, "");
      if (rel === "" || rel === "./") {
        entry.resume();
        continue;
      }
      const header: tar.Header = {
        ...h,
        ...owner,
        name: `${prefix}/${rel}`,
        // A hard link names another entry of the archive: it moves with them.
        linkname: h.type === "link" && h.linkname ? `${prefix}/${h.linkname.replace(/^\.\//, "")}` : h.linkname,
        pax: undefined,
      };
      await add(header, h.type === "file" ? (entry as unknown as Readable) : undefined);
      if (h.type !== "file") entry.resume();
    }
    if (mtime === undefined) await start(new Date(0));
    for (const e of extra) {
      await add(
        {
          name: e.type === "directory" ? `${e.name}/` : e.name,
          type: e.type,
          mode: e.mode,
          mtime: mtime!,
          linkname: e.linkname ?? "",
          size: e.content?.length ?? 0,
          ...owner,
        },
        e.content,
      );
    }
    pack.finalize();
    await Promise.all([reading, parsing, writing, codec.done]);
  } catch (err) {
    pack.destroy();
    extract.destroy();
    throw err;
  }
  return { digest: `sha256:${blobHash.hash.digest("hex")}`, size: blobHash.bytes, diffId: `sha256:${tarHash.hash.digest("hex")}` };
}
