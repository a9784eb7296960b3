/**
 * `slipway image ARTIFACT --out oci-dir:PATH`: the artifact as an OCI image (image-spec v1.1)
 * in an image layout. Two layers, each rooted where a deploy puts it on a host:
 *   1. the venv at <root>/virtualenvs/<key>/ (with its completion mark), and
 *   2. the release at <root>/releases/<build_id>/ — the code, slipway.json, its completion
 *      mark, the `virtualenv` link, the shared dirs' and linked files' links — and
 *      <root>/current pointing at it;
 * so an unpacked image is the host layout of `slipway deploy`. Entries are sorted, owned by
 * 0:0, with the artifact's mtimes: the same venv key gives the same venv layer digest, which
 * registries and hosts store once. The artifact is verified first, as `deploy` verifies it.
 * With `base`, the image is those two layers on top of a base image's (oci/base.ts).
 */
import { createHash, randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { loadConfig } from "../config/load.js";
import type { Config } from "../config/schema.js";
import { UsageError } from "../errors.js";
import { silent, timed, type Emit } from "../events.js";
import { openMember, readHead } from "../artifact/read.js";
import { verifyArtifact } from "../artifact/verify.js";
import type { Manifest } from "../artifact/manifest.js";
import { COMPLETE_MARK } from "../deploy/complete.js";
import { cacheDir } from "../build/layer-cache.js";
import { mergeConfig, mergeManifest, prepareBase } from "./base.js";
import { LayerMemo } from "./layer-memo.js";
import { rerootLayer, type ExtraEntry, type OciLayer } from "./reroot.js";
import { imageConfig, imageManifest, MEDIA, type Descriptor } from "./spec.js";

export interface ImageOptions {
  cwd: string;
  configPath?: string;
  artifact: string;
  /** `oci-dir:PATH` (default: oci-dir:dist/<app>.oci beside the artifact). */
  out?: string;
  /** A base image providing the interpreter (oci-dir:PATH[:TAG] or oci://HOST:PORT/REPO:TAG; oci/base.ts). */
  base?: string;
  env?: NodeJS.ProcessEnv;
  emit?: Emit;
}

export interface ImageResult {
  layout: string;
  /** The tag in the layout's index.json: the build id. */
  ref: string;
  manifest: Descriptor;
  config: Descriptor;
  layers: { name: "venv" | "code"; digest: string; size: number; diff_id: string; reused: boolean }[];
  /** With --base: the base's manifest digest and layers (below `layers` in the image). */
  base?: { ref: string; digest: string; layers: Descriptor[] };
}

export async function image(opts: ImageOptions): Promise<ImageResult> {
  const emit = opts.emit ?? silent;
  const file = path.resolve(opts.cwd, opts.artifact);
  if (!existsSync(file)) throw new UsageError(`${opts.artifact}: no such file`, "give the path of a .tar built by `slipway build`");
  const head = await readHead(file);
  const m = head.manifest;
  const layout = parseOut(opts.out, path.dirname(file), m.app);
  const config = await optionalConfig(opts);
  await timed(emit, "verify", () => verifyArtifact(file, { head }));

  await mkdir(path.join(layout, "blobs", "sha256"), { recursive: true });
  const base = opts.base ? await prepareBase({ ref: opts.base, cwd: opts.cwd, manifest: m, layout, env: opts.env }) : undefined;
  if (base) emit({ type: "log", level: "info", message: `base ${opts.base} (${base.digest}): ${base.layers.length} layer(s)` });
  const root = m.root.replace(/^\/+/, "");
  const ancestors = (p: string) => p.split("/").map((_, i, parts) => parts.slice(0, i + 1).join("/"));
  const venvLayer = m.layers.find((l) => l.name === "venv")!;
  const codeLayer = m.layers.find((l) => l.name === "code")!;

  const layers: ImageResult["layers"] = [];
  // The venv layer is a function of the artifact's venv layer alone: made once per layout
  // (a code-only build finds it by the memo and only checks that the blob is there).
  const memo = new LayerMemo(path.join(cacheDir(process.env), "oci"));
  const venvMemoKey = `${venvLayer.sha256}:${root}:${m.env.key}:v1`;
  const venv = await timed(emit, "venv-layer", async () => {
    const known = await memo.lookup(venvMemoKey);
    if (known && existsSync(blobPath(layout, known.digest))) return { ...known, reused: true };
    const made = await writeLayer(layout, (tmp) =>
      rerootLayer(
        openMember(file, venvLayer.member),
        venvLayer.compression,
        `${root}/virtualenvs/${m.env.key}`,
        [...ancestors(root), `${root}/virtualenvs`],
        tmp,
        [{ name: `${root}/virtualenvs/${m.env.key}/${COMPLETE_MARK}`, type: "file", content: Buffer.alloc(0), mode: 0o644 }],
      ),
    );
    await memo.record(venvMemoKey, made);
    return made;
  });
  layers.push({ name: "venv", digest: venv.result.digest, size: venv.result.size, diff_id: venv.result.diffId, reused: venv.result.reused });
  const code = await timed(emit, "code-layer", () =>
    writeLayer(layout, (tmp) =>
      rerootLayer(
        openMember(file, codeLayer.member),
        codeLayer.compression,
        `${root}/releases/${m.build_id}`,
        [...ancestors(root), `${root}/releases`],
        tmp,
        releaseExtras(m, head.manifestBytes, config),
      ),
    ),
  );
  layers.push({ name: "code", digest: code.result.digest, size: code.result.size, diff_id: code.result.diffId, reused: code.result.reused });

  const ownConfig = imageConfig(m, layers, config?.image);
  const configJson = base ? mergeConfig(base.config, ownConfig, m) : ownConfig;
  const configDesc = await writeBlob(layout, MEDIA.config, configJson);
  const ownManifest = imageManifest(
    configDesc,
    layers.map((l) => ({ mediaType: MEDIA.layerGzip, digest: l.digest, size: l.size })),
    m,
    head.manifestBytes,
  );
  const manifestJson = base ? mergeManifest(base, ownManifest) : ownManifest;
  const manifestDesc = await writeBlob(layout, MEDIA.manifest, manifestJson);
  await writeIndex(layout, manifestDesc, m.build_id);
  emit({ type: "log", level: "info", message: `image ${m.app}:${m.build_id} in ${layout} (manifest ${manifestDesc.digest})` });
  const baseResult = base ? { base: { ref: base.ref, digest: base.digest, layers: base.layers } } : {};
  return { layout, ref: m.build_id, manifest: manifestDesc, config: configDesc, layers, ...baseResult };
}

/** Links and marks a deploy makes in a release (deploy/stage.ts UNPACK_RELEASE), and `current`. */
export function releaseExtras(m: Manifest, manifestBytes: Buffer, config: Config | undefined): ExtraEntry[] {
  const root = m.root.replace(/^\/+/, "");
  const rel = `${root}/releases/${m.build_id}`;
  const extras: ExtraEntry[] = [
    { name: `${rel}/slipway.json`, type: "file", content: manifestBytes, mode: 0o644 },
    { name: `${rel}/virtualenv`, type: "symlink", linkname: `${m.root}/virtualenvs/${m.env.key}`, mode: 0o777 },
  ];
  for (const d of config?.deploy.shared ?? []) {
    extras.push({ name: `${root}/shared/${d}`, type: "directory", mode: 0o755 });
    extras.push({ name: `${rel}/${d}`, type: "symlink", linkname: `${m.root}/shared/${d}`, mode: 0o777 });
  }
  for (const f of config?.deploy.linked_files ?? []) {
    extras.push({ name: `${rel}/${f}`, type: "symlink", linkname: `${m.root}/shared/${f}`, mode: 0o777 });
  }
  const mark = `${createHash("sha256").update(manifestBytes).digest("hex")}\n`;
  extras.push({ name: `${rel}/${COMPLETE_MARK}`, type: "file", content: Buffer.from(mark), mode: 0o644 });
  extras.push({ name: `${root}/current`, type: "symlink", linkname: `releases/${m.build_id}`, mode: 0o777 });
  return extras;
}

function parseOut(out: string | undefined, artifactDir: string, app: string): string {
  if (out === undefined) return path.join(artifactDir, `${app}.oci`);
  const m = /^oci-dir:(.+)$/.exec(out);
  if (!m)
    throw new UsageError(
      `--out ${JSON.stringify(out)}: expected oci-dir:PATH`,
      "e.g. --out oci-dir:dist/ledger.oci (registries: slipway push --to oci://…, a later step)",
    );
  return path.resolve(m[1]!);
}

async function optionalConfig(opts: ImageOptions): Promise<Config | undefined> {
  if (!opts.configPath && !existsSync(path.join(opts.cwd, "slipway.toml")) && !existsSync(path.join(opts.cwd, "pyproject.toml"))) return undefined;
  return (await loadConfig({ cwd: opts.cwd, configPath: opts.configPath })).config;
}

/** Write a layer into the layout by content: a blob already there is kept (and reported reused). */
async function writeLayer(layout: string, make: (tmp: string) => Promise<OciLayer>): Promise<OciLayer & { reused: boolean }> {
  const tmp = path.join(layout, "blobs", `.tmp-${randomBytes(6).toString("hex")}`);
  try {
    const layer = await make(tmp);
    const dest = blobPath(layout, layer.digest);
    const reused = existsSync(dest);
    if (reused) await rm(tmp, { force: true });
    else await rename(tmp, dest);
    return { ...layer, reused };
  } finally {
    await rm(tmp, { force: true });
  }
}

async function writeBlob(layout: string, mediaType: string, bytes: Buffer): Promise<Descriptor> {
  const digest = `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
  const dest = blobPath(layout, digest);
  if (!existsSync(dest)) await atomicWrite(dest, bytes);
  return { mediaType, digest, size: bytes.length };
}

function blobPath(layout: string, digest: string): string {
  return path.join(layout, "blobs", "sha256", digest.slice("sha256:".length));
}

async function atomicWrite(dest: string, bytes: Buffer | string): Promise<void> {
  const tmp = `${dest}.tmp-${randomBytes(6).toString("hex")}`;
  await writeFile(tmp, bytes, { mode: 0o644 });
  await rename(tmp, dest);
}

/** index.json lists one manifest per build id (a build written again replaces its entry). */
async function writeIndex(layout: string, manifest: Descriptor, ref: string): Promise<void> {
  await atomicWrite(path.join(layout, "oci-layout"), `${JSON.stringify({ imageLayoutVersion: "1.0.0" })}\n`);
  const file = path.join(layout, "index.json");
  let manifests: (Descriptor & { annotations?: Record<string, string> })[] = [];
  if (existsSync(file)) {
    try {
      manifests = (JSON.parse(await readFile(file, "utf8")) as { manifests?: typeof manifests }).manifests ?? [];
    } catch {
      throw new UsageError(`${file} is not a readable OCI index`, "write the image into a new directory, or remove that one");
    }
  }
  manifests = manifests.filter((d) => d.annotations?.["org.opencontainers.image.ref.name"] !== ref);
  manifests.push({ ...manifest, annotations: { "org.opencontainers.image.ref.name": ref } });
  await atomicWrite(file, `${JSON.stringify({ schemaVersion: 2, mediaType: MEDIA.index, manifests }, null, 2)}\n`);
}
