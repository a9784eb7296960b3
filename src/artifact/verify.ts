import { readFile } from "node:fs/promises";
import { createWriteStream, existsSync } from "node:fs";
import path from "node:path";
import { ArtifactError } from "../errors.js";
import { sha256File, HashingCounter } from "../util/hash.js";
import { MANIFEST_MEMBER, SIGNATURE_MEMBER, type Manifest } from "./manifest.js";
import { readHead, scanMembers } from "./read.js";
import { pipeline } from "node:stream/promises";
import { Writable } from "node:stream";

export interface VerifyReport {
  manifest: Manifest;
  sha256: string;
  /** Whether a `.sha256` file beside the artifact was found and matched. */
  checksumFile: "matched" | "absent";
  layers: { name: string; sha256: string; size: number }[];
}

/**
 * Re-hash every layer and the whole file and compare with the manifest and the `.sha256`
 * beside the artifact. Any difference is an ArtifactError naming it. With `extractTo`, the
 * layers are also written there (as their member names) in the same pass, for sending.
 */
export async function verifyArtifact(file: string, opts: { extractTo?: string } = {}): Promise<VerifyReport> {
  const { manifest } = await readHead(file);
  const expected = new Map<string, Manifest["layers"][number]>(manifest.layers.map((l) => [l.member, l]));
  const order = [MANIFEST_MEMBER, ...manifest.layers.map((l) => l.member)];
  const seen: string[] = [];
  const layers: VerifyReport["layers"] = [];
  await scanMembers(file, async (m, stream) => {
    if (m.name === SIGNATURE_MEMBER && seen.length === 1) return;
    seen.push(m.name);
    if (m.name === MANIFEST_MEMBER && seen.length === 1) return;
    const layer = expected.get(m.name);
    if (!layer || m.type !== "file") throw new ArtifactError(`${file}: unexpected member ${m.name} (${m.type})`, "the artifact was modified; rebuild it");
    const counter = new HashingCounter();
    const sink = opts.extractTo
      ? createWriteStream(path.join(opts.extractTo, m.name))
      : new Writable({ write: (_c, _e, cb) => cb() });
    await pipeline(stream, counter, sink);
    const actual = counter.digest();
    if (counter.bytes !== layer.size) {
      throw new ArtifactError(`${file}: layer ${layer.name} (${m.name}) is ${counter.bytes} bytes, the manifest says ${layer.size}`);
    }
    if (actual !== layer.sha256) {
      throw new ArtifactError(`${file}: layer ${layer.name} (${m.name}) has sha256 ${actual}, the manifest says ${layer.sha256}`,
        "the artifact is corrupt or was modified; copy it again or rebuild it");
    }
    layers.push({ name: layer.name, sha256: actual, size: counter.bytes });
  });
  if (seen.join(",") !== order.join(",")) {
    throw new ArtifactError(`${file}: members are [${seen.join(", ")}], expected [${order.join(", ")}]`, "the artifact is truncated or was modified");
  }
  const sha256 = await sha256File(file);
  const checksumFile = await checkSidecar(file, sha256);
  return { manifest, sha256, checksumFile, layers };
}

async function checkSidecar(file: string, actual: string): Promise<VerifyReport["checksumFile"]> {
  const sidecar = `${file}.sha256`;
  if (!existsSync(sidecar)) return "absent";
  const text = (await readFile(sidecar, "utf8")).trim();
  const m = /^([0-9a-f]{64})\s+\*?(.+)$/.exec(text);
  if (!m) throw new ArtifactError(`${sidecar} is not in sha256sum format`);
  if (path.basename(m[2]!) !== path.basename(file)) {
    throw new ArtifactError(`${sidecar} is for ${m[2]}, not ${path.basename(file)}`);
  }
  if (m[1] !== actual) {
    throw new ArtifactError(`${file} has sha256 ${actual}, but ${path.basename(sidecar)} says ${m[1]}`,
      "the file is corrupt or was modified; copy it again or rebuild it");
  }
  return "matched";
}
