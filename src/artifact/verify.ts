import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { createReadStream, createWriteStream, existsSync } from "node:fs";
import { once } from "node:events";
import path from "node:path";
import type { Readable, Writable } from "node:stream";
import { ArtifactError } from "../errors.js";
import { MANIFEST_MEMBER, SIGNATURE_MEMBER, type LayerInfo, type Manifest } from "./manifest.js";
import { MAX_MANIFEST_BYTES, readAll, readHead, scanMembers, type ArtifactHead } from "./read.js";
import { checkLayer, rulesFor } from "./entries.js";
import { checkSignature } from "./trust.js";
import type { CheckedLayers } from "./checked-layers.js";

export interface VerifyReport {
  manifest: Manifest;
  sha256: string;
  /** Whether a `.sha256` file beside the artifact was found and matched. */
  checksumFile: "matched" | "absent";
  layers: { name: string; sha256: string; size: number; entries: number; unpacked_size: number }[];
  /** The key that signed the manifest (the signature matches; trust is the config's call). */
  signature?: { key_id: string };
}

const CORRUPT = "the artifact is corrupt or was modified; copy it again or rebuild it";
const UNSAFE = "do not deploy it: it was tampered with or not made by `slipway build`; rebuild it";

/**
 * Check everything the artifact says about itself, in one pass, before any of it reaches a
 * host: the members and their order, the signature (if any) against the manifest, every
 * layer's size and sha256, every layer entry (EntryRules: paths, links, types, modes, totals),
 * and the `.sha256` file beside it. Any problem is an ArtifactError naming the member and entry.
 * With `extract`, the named layers are also written to `extract.dir` (as their member names)
 * for sending (a deploy extracts the code layer; the venv layer, needed only by hosts without
 * it, is read from the artifact again when one does: read.ts openMember);
 * with `head`, the manifest read earlier must be the one found now (the file cannot change
 * between being checked and being sent).
 */
export async function verifyArtifact(
  file: string,
  opts: { extract?: { dir: string; layers: readonly string[] }; head?: ArtifactHead; checked?: CheckedLayers } = {},
): Promise<VerifyReport> {
  const head = opts.head ?? (await readHead(file));
  const { manifest } = head;
  const signature = checkSignature(file, head);
  const order = [MANIFEST_MEMBER, ...(head.signature ? [SIGNATURE_MEMBER] : []), ...manifest.layers.map((l) => l.member)];
  const seen: string[] = [];
  const layers: VerifyReport["layers"] = [];
  // The whole file's sha256 (for the .sha256 file) from the same read as the members.
  const whole = createHash("sha256");
  let hashed = 0;
  await scanMembers(
    file,
    async (m, stream) => {
      const expected = order[seen.length];
      seen.push(m.name);
      if (m.name !== expected || m.type !== "file") {
        throw new ArtifactError(
          `${file}: member ${seen.length} is ${JSON.stringify(m.name)} (${m.type}), expected ${expected ?? "no more members"}`,
          "the artifact was modified; rebuild it",
        );
      }
      if (m.name === MANIFEST_MEMBER || m.name === SIGNATURE_MEMBER) {
        const bytes = await readAll(stream, MAX_MANIFEST_BYTES, `${file}: ${m.name}`);
        if (!bytes.equals(m.name === MANIFEST_MEMBER ? head.manifestBytes : head.signature!)) {
          throw new ArtifactError(`${file}: ${m.name} changed while it was being verified`, "make sure nothing writes to the artifact during a deploy");
        }
        return;
      }
      const layer = manifest.layers[seen.length - 1 - (head.signature ? 2 : 1)]!;
      const extractTo = opts.extract?.layers.includes(layer.name) ? opts.extract.dir : undefined;
      layers.push(await verifyLayer(file, layer, manifest, m.size, stream, extractTo, opts.checked));
    },
    (chunk) => {
      whole.update(chunk);
      hashed += chunk.length;
    },
  );
  if (seen.join(",") !== order.join(",")) {
    throw new ArtifactError(`${file}: members are [${seen.join(", ")}], expected [${order.join(", ")}]`, "the artifact is truncated or was modified");
  }
  // The tar reader may stop before the archive's end blocks: hash the rest of the file too.
  for await (const chunk of createReadStream(file, { start: hashed })) whole.update(chunk as Buffer);
  const sha256 = whole.digest("hex");
  const checksumFile = await checkSidecar(file, sha256);
  return { manifest, sha256, checksumFile, layers, ...(signature ? { signature: { key_id: signature.key_id } } : {}) };
}

/**
 * Hash, count and entry-check one layer member as it streams past (and copy it to `extractTo`).
 * With `checked`, a layer recorded there as having passed under the same rules is only hashed:
 * its sha256 matching the manifest's makes it those very bytes.
 */
async function verifyLayer(
  file: string,
  layer: LayerInfo,
  manifest: Manifest,
  memberSize: number,
  stream: Readable,
  extractTo?: string,
  checked?: CheckedLayers,
) {
  const where = `${file}: layer ${layer.name} (${layer.member})`;
  if (memberSize !== layer.size) throw new ArtifactError(`${where} is ${memberSize} bytes, the manifest says ${layer.size}`, CORRUPT);
  const rules = rulesFor(manifest, layer);
  const known = await checked?.lookup(layer.sha256, rules);
  const check = known ? undefined : checkLayer(layer.compression, rules);
  const sink = extractTo ? createWriteStream(path.join(extractTo, layer.member)) : undefined;
  sink?.on("error", () => {}); // a write error reaches `write` or `finish`; after a destroy there is none to report
  const hash = createHash("sha256");
  let bytes = 0;
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      hash.update(chunk);
      bytes += chunk.length;
      if (sink) await write(sink, chunk);
      if (check) await write(check.input, chunk);
    }
    check?.input.end();
    if (sink) {
      sink.end();
      await once(sink, "finish");
    }
  } catch (err) {
    check?.abort();
    sink?.destroy();
    throw err;
  }
  const actual = hash.digest("hex");
  if (bytes !== layer.size || actual !== layer.sha256) {
    check?.abort();
    throw new ArtifactError(
      bytes !== layer.size ? `${where} is ${bytes} bytes, the manifest says ${layer.size}` : `${where} has sha256 ${actual}, the manifest says ${layer.sha256}`,
      CORRUPT,
    );
  }
  if (!check) return { name: layer.name, sha256: actual, size: bytes, entries: known!.entries, unpacked_size: known!.bytes };
  try {
    const totals = await check.result;
    await checked?.record(layer.sha256, rules, totals);
    return { name: layer.name, sha256: actual, size: bytes, entries: totals.entries, unpacked_size: totals.bytes };
  } catch (err) {
    throw new ArtifactError(`${where} ${(err as Error).message}`, UNSAFE);
  }
}

async function write(w: Writable, chunk: Buffer): Promise<void> {
  if (w.write(chunk)) return;
  // Resolve on drain; an error (disk full, say) rejects, as `once` does for "error".
  await once(w, "drain");
}

async function checkSidecar(file: string, actual: string): Promise<VerifyReport["checksumFile"]> {
  const sidecar = `${file}.sha256`;
  if (!existsSync(sidecar)) return "absent";
  const text = (await readFile(sidecar, "utf8")).trim();
  const m = /^([0-9a-f]{64})\s+\*?(.+)$/.exec(text);
  if (!m) throw new ArtifactError(`${sidecar} is not in sha256sum format`, "write it again (`sha256sum FILE > FILE.sha256`), or remove it");
  if (path.basename(m[2]!) !== path.basename(file)) {
    throw new ArtifactError(`${sidecar} is for ${JSON.stringify(m[2])}, not ${path.basename(file)}`, "keep each artifact with its own .sha256 file");
  }
  if (m[1] !== actual) {
    throw new ArtifactError(
      `${file} has sha256 ${actual}, but ${path.basename(sidecar)} says ${m[1]}`,
      "the file is corrupt or was modified; copy it again or rebuild it",
    );
  }
  return "matched";
}
