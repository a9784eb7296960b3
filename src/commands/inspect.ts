import { existsSync } from "node:fs";
import path from "node:path";
import { UsageError } from "../errors.js";
import { silent, timed, type Emit } from "../events.js";
import type { Manifest } from "../artifact/manifest.js";
import { readHead } from "../artifact/read.js";
import { verifyArtifact, type VerifyReport } from "../artifact/verify.js";

export interface InspectOptions {
  cwd: string;
  artifact: string;
  verify?: boolean;
  emit?: Emit;
}

export interface InspectResult {
  artifact: string;
  manifest: Manifest;
  signed: boolean;
  verified?: Omit<VerifyReport, "manifest">;
}

/** Read an artifact's manifest; with `verify`, re-hash every layer and the whole file. */
export async function inspect(opts: InspectOptions): Promise<InspectResult> {
  const emit = opts.emit ?? silent;
  const file = path.resolve(opts.cwd, opts.artifact);
  if (!existsSync(file)) throw new UsageError(`${opts.artifact}: no such file`, "give the path of a .tar built by `slipway build`");
  const head = await readHead(file);
  const result: InspectResult = { artifact: file, manifest: head.manifest, signed: head.signature !== undefined };
  if (opts.verify) {
    const { result: report } = await timed(emit, "verify", () => verifyArtifact(file));
    const { manifest: _m, ...rest } = report;
    result.verified = rest;
  }
  return result;
}
