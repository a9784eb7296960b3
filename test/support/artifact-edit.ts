// Take artifacts apart and put them back together differently: the raw material of the
// hostile-artifact corpus and the fuzz run. Real tar (tar-stream) and real zstd/gzip.
import { createHash } from "node:crypto";
import { readFile, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { Readable, type Writable } from "node:stream";
import tar from "tar-stream";
import { compressor, decompressor, type Compression } from "../../src/artifact/compress.js";
import { serializeManifest, type Manifest } from "../../src/artifact/manifest.js";

export interface Member {
  name: string;
  data: Buffer;
  /** Outer tar entry type (default "file"). */
  type?: tar.Header["type"];
  linkname?: string;
}

/**
 * One entry of a layer: a tar-stream header (anything tar-stream can write) and its data, or
 * `raw` tar blocks for what tar-stream refuses to write (see rawEntry).
 */
export interface LayerEntry {
  header: Partial<tar.Header> & { name: string };
  data?: Buffer;
  raw?: Buffer;
}

export const sha256 = (b: Buffer) => createHash("sha256").update(b).digest("hex");

/** The outer tar's members, in order. */
export async function readMembers(file: string): Promise<Member[]> {
  const extract = tar.extract();
  Readable.from(await readFile(file)).pipe(extract as unknown as NodeJS.WritableStream);
  const out: Member[] = [];
  for await (const entry of extract) {
    const chunks: Buffer[] = [];
    for await (const c of entry as AsyncIterable<Buffer>) chunks.push(c);
    out.push({ name: entry.header.name, data: Buffer.concat(chunks), type: entry.header.type ?? "file" });
  }
  return out;
}

/** Write members as an uncompressed tar, as pack.ts does (fixed mtime, owners 0). No .sha256 is written. */
export async function writeMembers(file: string, members: readonly Member[]): Promise<void> {
  const pack = tar.pack();
  const done = collect(pack);
  for (const m of members) {
    await entry(
      pack,
      {
        name: m.name,
        type: m.type ?? "file",
        size: m.type && m.type !== "file" ? 0 : m.data.length,
        mode: 0o644,
        mtime: new Date(0),
        uid: 0,
        gid: 0,
        linkname: m.linkname ?? "",
      } as tar.Header,
      m.type && m.type !== "file" ? undefined : m.data,
    );
  }
  pack.finalize();
  await writeFile(file, await done);
  await rm(`${file}.sha256`, { force: true });
}

/** A `.sha256` beside the artifact that matches it, as `slipway build` writes it. */
export async function writeSidecar(file: string): Promise<void> {
  await writeFile(`${file}.sha256`, `${sha256(await readFile(file))}  ${path.basename(file)}\n`);
}

export async function decompress(data: Buffer, kind: Compression): Promise<Buffer> {
  return codecRun(decompressor(kind), data);
}

export async function compress(data: Buffer, kind: Compression): Promise<Buffer> {
  return codecRun(compressor(kind), data);
}

/** A layer's entries (decompressed and parsed). */
export async function readLayer(data: Buffer, kind: Compression): Promise<LayerEntry[]> {
  const extract = tar.extract();
  Readable.from(await decompress(data, kind)).pipe(extract as unknown as NodeJS.WritableStream);
  const out: LayerEntry[] = [];
  for await (const e of extract) {
    const chunks: Buffer[] = [];
    for await (const c of e as AsyncIterable<Buffer>) chunks.push(c);
    out.push({ header: { ...e.header }, data: Buffer.concat(chunks) });
  }
  return out;
}

/** An uncompressed tar of `entries`, written exactly as given (hostile headers included). */
export async function packTar(entries: readonly LayerEntry[]): Promise<Buffer> {
  const parts: Buffer[] = [];
  for (const e of entries) {
    if (e.raw) {
      parts.push(e.raw);
      continue;
    }
    const pack = tar.pack();
    const done = collect(pack);
    const h = { ...e.header, mtime: e.header.mtime ?? new Date(0), uid: e.header.uid ?? 0, gid: e.header.gid ?? 0 } as tar.Header;
    await entry(pack, h, h.type === "file" || h.type === undefined ? (e.data ?? Buffer.alloc(0)) : e.data);
    pack.finalize();
    parts.push((await done).subarray(0, -1024)); // without its end-of-archive blocks
  }
  parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}

/**
 * A ustar header block (and padded data) built by hand, for entries tar-stream will not
 * write: a symlink carrying data, a pax global header, GNU types such as sparse files.
 */
export function rawEntry(h: { name: string; typeflag: string; size?: number; mode?: number; linkname?: string }, data = Buffer.alloc(0)): Buffer {
  const block = Buffer.alloc(512);
  const oct = (n: number, width: number) => n.toString(8).padStart(width - 1, "0") + "\0";
  block.write(h.name, 0, 100, "utf8");
  block.write(oct(h.mode ?? 0o644, 8), 100, "ascii");
  block.write(oct(0, 8), 108, "ascii");
  block.write(oct(0, 8), 116, "ascii");
  block.write(oct(h.size ?? data.length, 12), 124, "ascii");
  block.write(oct(0, 12), 136, "ascii");
  block.write(" ".repeat(8), 148, "ascii");
  block.write(h.typeflag, 156, "ascii");
  block.write(h.linkname ?? "", 157, 100, "utf8");
  block.write("ustar\0" + "00", 257, "binary");
  let sum = 0;
  for (const b of block) sum += b;
  block.write(sum.toString(8).padStart(6, "0") + "\0 ", 148, "ascii");
  const padded = Buffer.alloc(Math.ceil(data.length / 512) * 512);
  data.copy(padded);
  return Buffer.concat([block, padded]);
}

/** A pax extended header ('x', or 'g' for global) with the given records. */
export function paxRecords(records: Record<string, string>, typeflag: "x" | "g" = "x"): Buffer {
  const body = Buffer.from(
    Object.entries(records)
      .map(([k, v]) => {
        const rest = ` ${k}=${v}\n`;
        let len = Buffer.byteLength(rest) + 1;
        while (String(len).length + Buffer.byteLength(rest) !== len) len++;
        return `${len}${rest}`;
      })
      .join(""),
  );
  return rawEntry({ name: "PaxHeaders/x", typeflag }, body);
}

export async function packLayer(entries: readonly LayerEntry[], kind: Compression): Promise<Buffer> {
  return compress(await packTar(entries), kind);
}

/** What the manifest must say about a layer made of `entries`: sum of file sizes, entry count. */
export function totals(entries: readonly LayerEntry[]): { unpacked_size: number; files: number } {
  return { unpacked_size: entries.reduce((n, e) => n + (e.header.type === "file" ? (e.header.size ?? e.data?.length ?? 0) : 0), 0), files: entries.length };
}

/** Point a layer's manifest entry at `data`: sha256 and size, and optionally new totals. */
export function rehash(m: Manifest, layer: "code" | "venv", data: Buffer, t?: { unpacked_size: number; files: number }): Manifest {
  const copy = structuredClone(m);
  const l = copy.layers.find((x) => x.name === layer)!;
  l.sha256 = sha256(data);
  l.size = data.length;
  if (t) Object.assign(l, t);
  return copy;
}

export const manifestBytes = (m: unknown) => serializeManifest(m as Manifest);

function entry(pack: tar.Pack, header: tar.Header, data?: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    const cb = (err?: Error | null) => (err ? reject(err) : resolve());
    if (data) pack.entry(header, data, cb);
    else (pack.entry(header, cb) as unknown as Writable).end();
  });
}

async function collect(stream: NodeJS.ReadableStream | tar.Pack): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream as AsyncIterable<Buffer>) chunks.push(c);
  return Buffer.concat(chunks);
}

async function codecRun(codec: ReturnType<typeof compressor>, data: Buffer): Promise<Buffer> {
  const out = collect(codec.output);
  codec.input.end(data);
  const [buf] = await Promise.all([out, codec.done]);
  return buf;
}
