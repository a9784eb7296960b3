import { createReadStream, createWriteStream } from "node:fs";
import { rename, rm, stat } from "node:fs/promises";
import { HashingCounter } from "../util/hash.js";
import path from "node:path";
import type { Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import tar from "tar-stream";
import { tempSibling, writeFileAtomic } from "../util/fs.js";
import { MANIFEST_MEMBER, SIGNATURE_MEMBER } from "./manifest.js";

export interface ArtifactMembers {
  manifest: Buffer;
  signature?: Buffer;
  /** Layer files in artifact order: [member name, path on disk]. */
  layers: readonly (readonly [string, string])[];
}

export interface WrittenArtifact {
  path: string;
  sha256: string;
  size: number;
}

/**
 * Write the artifact: an uncompressed tar, manifest first (so it reads without scanning),
 * then the signature, then the layers. Written to a temp name and renamed, with its
 * `.sha256` file, so `out` never holds a partial artifact.
 */
export async function writeArtifact(file: string, members: ArtifactMembers, mtime: Date): Promise<WrittenArtifact> {
  const pack = tar.pack();
  const tmp = tempSibling(file);
  const counter = new HashingCounter();
  const written = pipeline(pack, counter, createWriteStream(tmp));
  try {
    const header = (name: string, size: number) => ({ name, size, mode: 0o644, mtime, uid: 0, gid: 0, uname: "", gname: "" });
    await addBuffer(pack, header(MANIFEST_MEMBER, members.manifest.length), members.manifest);
    if (members.signature) await addBuffer(pack, header(SIGNATURE_MEMBER, members.signature.length), members.signature);
    for (const [name, src] of members.layers) {
      const { size } = await stat(src);
      const entry = pack.entry(header(name, size) as tar.Header) as unknown as Writable;
      await pipeline(createReadStream(src, { highWaterMark: 1 << 20 }), entry);
    }
    pack.finalize();
    await written;
    const sha256 = counter.digest();
    const size = counter.bytes;
    await writeFileAtomic(`${file}.sha256`, `${sha256}  ${path.basename(file)}\n`);
    await rename(tmp, file);
    return { path: file, sha256, size };
  } catch (err) {
    pack.destroy();
    await rm(tmp, { force: true });
    throw err;
  }
}

function addBuffer(pack: tar.Pack, header: Partial<tar.Header> & { name: string }, data: Buffer): Promise<void> {
  return new Promise((resolve, reject) => pack.entry(header, data, (err) => (err ? reject(err) : resolve())));
}
