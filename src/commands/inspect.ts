import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { UsageError } from "../errors.js";
import { silent, timed, type Emit } from "../events.js";
import type { Manifest } from "../artifact/manifest.js";
import { readHead } from "../artifact/read.js";
import { parseSignature } from "../artifact/signature.js";
import { verifyArtifact, type VerifyReport } from "../artifact/verify.js";
import { checkAgainstConfig, type Admission } from "../artifact/admit.js";
import { loadConfig } from "../config/load.js";
import { largestFilesOf } from "../artifact/layer-files.js";
import { CODE_LAYER_WARN_BYTES, type SizedFile } from "../util/largest.js";

export interface InspectOptions {
  cwd: string;
  artifact: string;
  verify?: boolean;
  /** The config to check the artifact against with `verify`; default ./slipway.toml (or [tool.slipway] in ./pyproject.toml) if there is one. */
  configPath?: string;
  emit?: Emit;
}

export interface InspectResult {
  artifact: string;
  manifest: Manifest;
  signed: boolean;
  /** Who signed it, as the signature member says (checked only with `verify`). */
  signature?: { key_id?: string; problem?: string };
  verified?: Omit<VerifyReport, "manifest">;
  /** The code layer's largest files, and a warning when it is large enough to slow every deploy. */
  code: { largest: SizedFile[]; warning?: string };
  /** With `verify` and a config: the config it was checked against (app, root, interpreter, trusted keys). */
  admitted?: Admission & { config: string };
}

/**
 * Read an artifact's manifest; with `verify`, check everything a deploy checks before it
 * sends anything: members, signature, every layer's hash and entries, the `.sha256` beside
 * it, and — when a config is found — that this config would deploy it.
 */
export async function inspect(opts: InspectOptions): Promise<InspectResult> {
  const emit = opts.emit ?? silent;
  const file = path.resolve(opts.cwd, opts.artifact);
  if (!existsSync(file)) throw new UsageError(`${opts.artifact}: no such file`, "give the path of a .tar built by `slipway build`");
  const head = await readHead(file);
  const code = head.manifest.layers[0]!;
  const result: InspectResult = {
    artifact: file,
    manifest: head.manifest,
    signed: head.signature !== undefined,
    code: {
      // (An unreadable layer is --verify's to report, with its reason.)
      largest: await largestFilesOf(file, code, 10).catch(() => []),
      ...(code.unpacked_size > CODE_LAYER_WARN_BYTES
        ? {
            warning: `the code layer unpacks to ${code.unpacked_size} bytes (over ${CODE_LAYER_WARN_BYTES}): every deploy sends it; leave out what hosts need not have (build.exclude, .gitignore)`,
          }
        : {}),
    },
  };
  if (head.signature) {
    const info = parseSignature(head.signature);
    result.signature = typeof info === "string" ? { problem: `slipway.json.sig ${info}` } : { key_id: info.key_id };
  }
  if (opts.verify) {
    const { result: report } = await timed(emit, "verify", () => verifyArtifact(file, { head }));
    const { manifest: _m, ...rest } = report;
    result.verified = rest;
    const configFile = findConfig(opts);
    if (configFile) {
      const { config, appDir } = await loadConfig({ cwd: opts.cwd, configPath: configFile });
      result.admitted = { config: configFile, ...(await checkAgainstConfig(file, head, config, appDir)) };
    }
  }
  return result;
}

function findConfig(opts: InspectOptions): string | undefined {
  if (opts.configPath) return path.resolve(opts.cwd, opts.configPath);
  const toml = path.join(opts.cwd, "slipway.toml");
  if (existsSync(toml)) return toml;
  const pyproject = path.join(opts.cwd, "pyproject.toml");
  if (existsSync(pyproject) && /^\s*\[tool\.slipway[.\]]/m.test(readFileSync(pyproject, "utf8"))) return pyproject;
  return undefined;
}
