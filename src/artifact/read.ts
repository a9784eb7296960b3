import { createReadStream } from "node:fs";
import { PassThrough, type Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import tar from "tar-stream";
import { ArtifactError } from "../errors.js";
import { MANIFEST_MEMBER, SIGNATURE_MEMBER, manifestSchema, type Manifest } from "./manifest.js";
import { dottedPath } from "../config/toml.js";

/** A manifest larger than this is not ours: refuse it before parsing. */
export const MAX_MANIFEST_BYTES = 1 << 20;

/** What to do about an artifact whose head is wrong: it is not what `slipway build` wrote. */
const NOT_OURS = "the artifact is corrupt, was modified, or was not made by `slipway build`; copy it again or rebuild it";

export interface MemberInfo {
  name: string;
  type: string;
  size: number;
}

/**
 * Visit the artifact's members in order. `visit` consumes (or ignores) each member's stream;
 * returning false stops reading early (the rest of the file is never read). `onRead` sees the
 * file's bytes as they are read, in order from the start (maybe not to the end).
 */
export async function scanMembers(
  file: string,
  visit: (member: MemberInfo, stream: Readable) => Promise<boolean | void>,
  onRead?: (chunk: Buffer) => void,
): Promise<void> {
  const extract = tar.extract();
  const source = createReadStream(file);
  source.on("error", (err) => extract.destroy(err));
  if (onRead) source.on("data", (chunk) => onRead(chunk as Buffer));
  source.pipe(extract as unknown as NodeJS.WritableStream);
  try {
    for await (const entry of extract) {
      const h = entry.header;
      const stream = entry as unknown as Readable;
      const more = await visit({ name: h.name, type: h.type ?? "file", size: h.size ?? 0 }, stream);
      stream.resume();
      if (more === false) break;
    }
  } catch (err) {
    if (err instanceof ArtifactError) throw err;
    throw new ArtifactError(`${file} is not a readable slipway artifact: ${(err as Error).message}`, "rebuild it, or copy it again");
  } finally {
    source.destroy();
  }
}

/**
 * One member's bytes, read from the artifact as they are consumed (a layer sent to a host that
 * lacks it, without a copy on this machine's disk first). The host checks its sha256, so bytes
 * that changed since the artifact was verified are refused there.
 */
export function openMember(file: string, name: string): Readable {
  const out = new PassThrough({ highWaterMark: 1 << 20 });
  let found = false;
  scanMembers(file, async (m, stream) => {
    if (m.name !== name) return;
    found = true;
    await pipeline(stream, out);
    return false;
  }).then(
    () => found || out.destroy(new ArtifactError(`${file} has no member ${name}`, NOT_OURS)),
    (err: Error) => out.destroy(err),
  );
  return out;
}

export async function readAll(stream: Readable, limit: number, what: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    size += (chunk as Buffer).length;
    if (size > limit) throw new ArtifactError(`${what} is larger than ${limit} bytes`, NOT_OURS);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

export interface ArtifactHead {
  manifest: Manifest;
  manifestBytes: Buffer;
  signature?: Buffer;
}

/** Read and validate the manifest (the first member) and the signature after it, if any. */
export async function readHead(file: string): Promise<ArtifactHead> {
  let manifestBytes: Buffer | undefined;
  let signature: Buffer | undefined;
  await scanMembers(file, async (m, stream) => {
    if (!manifestBytes) {
      if (m.name !== MANIFEST_MEMBER) throw new ArtifactError(`${file}: the first member is ${JSON.stringify(m.name)}, not ${MANIFEST_MEMBER}`, NOT_OURS);
      manifestBytes = await readAll(stream, MAX_MANIFEST_BYTES, `${file}: ${MANIFEST_MEMBER}`);
      return true;
    }
    if (m.name === SIGNATURE_MEMBER) signature = await readAll(stream, 4096, `${file}: ${SIGNATURE_MEMBER}`);
    return false;
  });
  if (!manifestBytes) throw new ArtifactError(`${file} is empty: it has no ${MANIFEST_MEMBER}`, NOT_OURS);
  return { manifest: parseManifest(manifestBytes, file), manifestBytes, signature };
}

export function parseManifest(bytes: Buffer, file: string): Manifest {
  let raw: unknown;
  try {
    raw = JSON.parse(bytes.toString("utf8"));
  } catch (err) {
    throw new ArtifactError(`${file}: ${MANIFEST_MEMBER} is not valid JSON: ${(err as Error).message}`, NOT_OURS);
  }
  const format = (raw as { format?: unknown } | null)?.format;
  if (format !== 1) {
    throw new ArtifactError(
      `${file}: artifact format ${JSON.stringify(format)} is not supported (this slipway reads format 1)`,
      "build the artifact with a slipway version that matches the one deploying it",
    );
  }
  const result = manifestSchema.safeParse(raw);
  if (!result.success) {
    const first = result.error.issues[0]!;
    throw new ArtifactError(`${file}: ${MANIFEST_MEMBER} is invalid at ${dottedPath(first.path) || "(top)"}: ${first.message}`, NOT_OURS);
  }
  return result.data;
}
