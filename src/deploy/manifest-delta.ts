import { writeFile } from "node:fs/promises";
import path from "node:path";
import { deflateRawSync } from "node:zlib";
import { dictionaryCompressor, type Compression } from "../artifact/compress.js";
import { sha256 } from "../util/hash.js";
import { layout } from "./layout.js";
import type { HostState } from "./probe.js";

/**
 * How the manifest travels to one host. A host that has a current release already holds that
 * release's manifest, which differs from the new one only in ids, hashes, sizes and times: the
 * new manifest is sent as a delta against the old one (~100 bytes instead of ~1.4 KB, which
 * matters when the code layer itself is a few KB). With zstd layers the host has zstd, and the
 * delta is zstd with the old manifest as its dictionary (`zstd -d -D`, ≈2 ms on the host);
 * otherwise raw deflate with it as the preset dictionary, inflated by the app's own Python
 * (zlib, standard library; ≈13 ms, the interpreter's start). The host checks the result's
 * sha256 as for any file.
 */
export interface ManifestPayload {
  bytes: Buffer;
  delta?: ManifestDelta;
}

export interface ManifestDelta {
  /** The host's file the delta is against (its current release's slipway.json). */
  dictionary: string;
  codec: "zstd" | "deflate";
}

/** The new manifest as a zstd frame against `dictionary` (a file holding the old manifest). */
export type ZstdDelta = (manifest: Buffer, dictionaryFile: string) => Promise<Buffer>;

/**
 * Each host's payload. Hosts with the same current manifest (usually all of them) share one
 * delta; `work` holds the dictionaries zstd reads. Whenever a delta would not be smaller, or
 * zstd fails here, the manifest is sent deflated or whole.
 */
export async function manifestPayloads(
  manifest: Buffer,
  root: string,
  states: ReadonlyMap<string, Pick<HostState, "current" | "currentManifest" | "tools">>,
  compression: Compression,
  work: string,
  zstd: ZstdDelta = zstdDelta,
): Promise<Map<string, ManifestPayload>> {
  const byDictionary = new Map<string, Promise<ManifestPayload>>();
  const out = new Map<string, ManifestPayload>();
  for (const [host, state] of states) {
    if (!state.current || !state.currentManifest?.length) {
      out.set(host, { bytes: manifest });
      continue;
    }
    const dictionary = `${layout(root).release(state.current)}/slipway.json`;
    const useZstd = compression === "zstd" && state.tools.zstd;
    const key = `${useZstd ? "zstd" : "deflate"}:${dictionary}:${sha256(state.currentManifest)}`;
    if (!byDictionary.has(key)) byDictionary.set(key, deltaAgainst(manifest, state.currentManifest, dictionary, useZstd ? { work, zstd } : undefined));
    out.set(host, await byDictionary.get(key)!);
  }
  return out;
}

async function deltaAgainst(manifest: Buffer, old: Buffer, dictionary: string, viaZstd?: { work: string; zstd: ZstdDelta }): Promise<ManifestPayload> {
  if (viaZstd) {
    const file = path.join(viaZstd.work, `dictionary-${sha256(old).slice(0, 16)}.json`);
    try {
      await writeFile(file, old);
      const bytes = await viaZstd.zstd(manifest, file);
      if (bytes.length < manifest.length) return { bytes, delta: { dictionary, codec: "zstd" } };
    } catch {
      // zstd could not make it here: deflate below
    }
  }
  const bytes = deflateRawSync(manifest, { level: 9, dictionary: old });
  if (bytes.length >= manifest.length) return { bytes: manifest };
  return { bytes, delta: { dictionary, codec: "deflate" } };
}

/** `zstd -19 -D dictionary` (no checksum: the host checks the sha256 of the result). */
export const zstdDelta: ZstdDelta = async (manifest, dictionaryFile) => {
  const codec = dictionaryCompressor(dictionaryFile);
  codec.input.end(manifest);
  const [chunks] = await Promise.all([codec.output.toArray(), codec.done]);
  return Buffer.concat(chunks as Buffer[]);
};

/**
 * Host side (python -I -S -c INFLATE DICTIONARY < deflated > manifest): raw deflate with the
 * dictionary; at most 1 MiB out (a manifest is never larger; the sha256 check follows anyway).
 */
export const INFLATE = [
  "import sys, zlib",
  "o = zlib.decompressobj(-15, zdict=open(sys.argv[1], 'rb').read())",
  "out = o.decompress(sys.stdin.buffer.read(), 1 << 20)",
  "sys.exit('the manifest inflates to more than 1 MiB') if o.unconsumed_tail else sys.stdout.buffer.write(out + o.flush())",
].join("\n");
