import { deflateRawSync } from "node:zlib";
import { layout } from "./layout.js";
import type { HostState } from "./probe.js";

/**
 * How the manifest travels to one host. A host that has a current release already holds that
 * release's manifest, which differs from the new one only in ids, hashes, sizes and times: the
 * new manifest is sent deflated with the old one as the preset dictionary (typically ~150 bytes
 * instead of ~1.4 KB, which matters when the code layer itself is a few KB). The host inflates it
 * with the app's own Python (zlib, standard library), then checks its sha256 as for any file.
 */
export interface ManifestPayload {
  bytes: Buffer;
  /** The host's file it was deflated against (its current release's slipway.json), if any. */
  dictionary?: string;
}

export function manifestPayload(manifest: Buffer, root: string, state: Pick<HostState, "current" | "currentManifest">): ManifestPayload {
  if (!state.current || !state.currentManifest?.length) return { bytes: manifest };
  const bytes = deflateRawSync(manifest, { level: 9, dictionary: state.currentManifest });
  if (bytes.length >= manifest.length) return { bytes: manifest };
  return { bytes, dictionary: `${layout(root).release(state.current)}/slipway.json` };
}

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
