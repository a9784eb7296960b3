import * as z from "zod";
import { APP_NAME, BUILD_ID, COMMAND_NAME, NO_CONTROL_CHARS, SAFE_ABSOLUTE_PATH } from "../config/patterns.js";
import { LIMITS, describeBytes } from "./limits.js";

/** Artifact format version (SPEC §3). Readers refuse any other. */
export const ARTIFACT_FORMAT = 1;
export const MANIFEST_MEMBER = "slipway.json";
export const SIGNATURE_MEMBER = "slipway.json.sig";

const sha256Hex = z.string().regex(/^[0-9a-f]{64}$/, { error: "must be a sha256 in lower-case hex" });
const count = (max: number, what: string) =>
  z
    .int()
    .min(0)
    .max(max, { error: `is more than slipway accepts (${what}; see docs/security.md)` });
/** Shown by `inspect` and in messages: bounded, and no control characters that could rewrite a terminal. */
const text = (max = 256) => z.string().max(max).regex(NO_CONTROL_CHARS, { error: "must not contain control characters" });
const absolutePath = z.string().max(LIMITS.pathBytes).regex(SAFE_ABSOLUTE_PATH, {
  error: "must be an absolute path of plain names (letters, digits, . _ - + @ = , ~; no . or .. components)",
});

export const layerSchema = z.strictObject({
  name: z.enum(["code", "venv"]),
  member: z.enum(["code.tar.zst", "code.tar.gz", "venv.tar.zst", "venv.tar.gz"]),
  compression: z.enum(["zstd", "gzip"]),
  sha256: sha256Hex,
  size: count(LIMITS.layerBytes, `at most ${describeBytes(LIMITS.layerBytes)} per layer`),
  unpacked_size: count(LIMITS.unpackedBytes, `at most ${describeBytes(LIMITS.unpackedBytes)} unpacked per layer`),
  files: count(LIMITS.entries, `at most ${LIMITS.entries} entries per layer`),
});

export const manifestSchema = z
  .strictObject({
    format: z.literal(ARTIFACT_FORMAT),
    app: z.string().regex(APP_NAME),
    build_id: z
      .string()
      .regex(BUILD_ID)
      .refine((s) => !s.includes(".."), { error: "must not contain .." }),
    created_at: z.iso.datetime(),
    git: z.strictObject({ commit: z.string().regex(/^[0-9a-f]{7,64}$/), dirty: z.boolean() }).nullable(),
    root: absolutePath,
    env: z.strictObject({
      key: z.string().regex(/^[0-9a-f]{16}$/),
      python: z.strictObject({
        executable: absolutePath,
        // app.python as written: an absolute path or a command name.
        configured: z.union([absolutePath, z.string().max(255).regex(COMMAND_NAME)], {
          error: "must be an absolute path of plain names or a command name",
        }),
        implementation: text(),
        version: text(),
        abi: text(),
        platform: text(),
      }),
      inputs: z
        .array(z.strictObject({ path: text(LIMITS.pathBytes), sha256: sha256Hex }))
        .max(LIMITS.inputs, { error: `lists more than ${LIMITS.inputs} inputs` }),
    }),
    layers: z.array(layerSchema).length(2),
    builder: z.strictObject({ slipway_version: text(), hostname: text() }),
  })
  .refine((m) => m.layers[0]?.name === "code" && m.layers[1]?.name === "venv", {
    error: "layers must be code, then venv",
  })
  .refine((m) => m.layers.every((l) => l.member === `${l.name}.tar.${l.compression === "zstd" ? "zst" : "gz"}`), {
    error: "each layer's member must be <name>.tar.zst or <name>.tar.gz matching its compression",
  });

export type Manifest = z.infer<typeof manifestSchema>;
export type LayerInfo = z.infer<typeof layerSchema>;

export function artifactFileName(app: string, buildId: string): string {
  return `${app}-${buildId}.tar`;
}

/**
 * The manifest's exact bytes: `format` first, every other key sorted, so the same manifest
 * always serializes to the same bytes (signatures and comparisons on hosts rely on it).
 */
export function serializeManifest(m: Manifest): Buffer {
  return Buffer.from(JSON.stringify(canonical(m), null, 2) + "\n");
}

function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (value === null || typeof value !== "object") return value;
  const keys = Object.keys(value).sort((a, b) => (a === "format" ? -1 : b === "format" ? 1 : a < b ? -1 : a > b ? 1 : 0));
  return Object.fromEntries(keys.map((k) => [k, canonical((value as Record<string, unknown>)[k])]));
}
