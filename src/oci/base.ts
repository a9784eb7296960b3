/**
 * `slipway image --base REF`: the artifact's image on top of a base image that provides the
 * interpreter the venv was built with. REF is an image layout (`oci-dir:PATH[:TAG]`) or a
 * registry reference (`oci://HOST:PORT/REPO:TAG`, `oci+http://…`, `…@sha256:…`).
 *
 * The base's layer blobs are copied into the output layout unchanged (same digests, checked
 * while copying); its config is kept and merged with slipway's (venv first on PATH, WorkingDir
 * <root>/current, Entrypoint/Cmd from [image] when set). Refused before anything is written
 * to index.json: a base that is not there, one for another OS or architecture, and one whose
 * layers lack the interpreter path (followed through symlinks, whiteouts applied).
 */
import { createHash, randomBytes } from "node:crypto";
import { createReadStream, createWriteStream, existsSync } from "node:fs";
import { mkdir, readFile, rename, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { PassThrough, Transform, type Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGunzip } from "node:zlib";
import tar from "tar-stream";
import type { Manifest } from "../artifact/manifest.js";
import { decompressor } from "../artifact/compress.js";
import { UsageError } from "../errors.js";
import { RegistryClient, registryCredentials } from "./registry.js";
import { MEDIA, ociPlatform, type Descriptor } from "./spec.js";

export type BaseRef = { kind: "layout"; dir: string; tag?: string } | { kind: "registry"; base: URL; repo: string; reference: string; name: string };

/** The parts of an image config (image-spec config.md) slipway reads or merges. */
export interface ImageConfigJson {
  created?: string;
  architecture?: string;
  os?: string;
  variant?: string;
  config?: { Env?: string[]; Entrypoint?: string[] | null; Cmd?: string[] | null; Labels?: Record<string, string>; [k: string]: unknown };
  rootfs?: { type?: string; diff_ids?: string[] };
  history?: Record<string, unknown>[];
  [k: string]: unknown;
}

export interface BaseImage {
  /** REF as given. */
  ref: string;
  /** The base's (platform-specific) manifest digest. */
  digest: string;
  /** HOST:PORT/REPO:TAG of a registry base (the org.opencontainers.image.base.name annotation). */
  name?: string;
  /** Its layers, media types in OCI spelling (a Docker gzip layer is the same bytes). */
  layers: Descriptor[];
  config: ImageConfigJson;
}

const INDEX_TYPES = new Set([MEDIA.index, "application/vnd.docker.distribution.manifest.list.v2+json"]);
const MANIFEST_TYPES = new Set([MEDIA.manifest, "application/vnd.docker.distribution.manifest.v2+json"]);
const LAYER_TYPES: Record<string, { mediaType: string; codec: "gzip" | "zstd" | "none" }> = {
  "application/vnd.oci.image.layer.v1.tar+gzip": { mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", codec: "gzip" },
  "application/vnd.oci.image.layer.v1.tar+zstd": { mediaType: "application/vnd.oci.image.layer.v1.tar+zstd", codec: "zstd" },
  "application/vnd.oci.image.layer.v1.tar": { mediaType: "application/vnd.oci.image.layer.v1.tar", codec: "none" },
  "application/vnd.docker.image.rootfs.diff.tar.gzip": { mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", codec: "gzip" },
};
const ACCEPT = [...INDEX_TYPES, ...MANIFEST_TYPES];
const REF_NAME = "org.opencontainers.image.ref.name";
const DIGEST = /^sha256:[0-9a-f]{64}$/;
const TAG = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;
// The distribution spec's repository name grammar.
const REPO = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*$/;
const EXAMPLE = "e.g. --base oci-dir:base.oci:bookworm, or --base oci+http://127.0.0.1:5000/debian:bookworm";

const refused = (ref: string, problem: string, hint?: string) => new UsageError(`--base ${ref}: ${problem}`, hint);

/** `oci-dir:PATH[:TAG]` (PATH alone when it is a directory) or `oci[+http]://HOST:PORT/REPO(:TAG|@DIGEST)`. */
export function parseBaseRef(ref: string, cwd: string): BaseRef {
  const dir = /^oci-dir:(.+)$/.exec(ref);
  if (dir) {
    const whole = path.resolve(cwd, dir[1]!);
    const colon = dir[1]!.lastIndexOf(":");
    if (existsSync(whole) || colon < 0) return { kind: "layout", dir: whole };
    const tag = dir[1]!.slice(colon + 1);
    if (!TAG.test(tag)) throw refused(ref, `${JSON.stringify(tag)} is not a tag`, EXAMPLE);
    return { kind: "layout", dir: path.resolve(cwd, dir[1]!.slice(0, colon)), tag };
  }
  const reg = /^(oci|oci\+http|oci\+https):\/\/([^/]+)\/(.+)$/.exec(ref);
  if (!reg) throw refused(ref, "expected oci-dir:PATH[:TAG] or oci://HOST:PORT/REPO:TAG", EXAMPLE);
  const [, scheme, host, rest] = reg as unknown as [string, string, string, string];
  if (host.includes("@")) throw refused(ref, "must not carry credentials", "set SLIPWAY_REGISTRY_USER and SLIPWAY_REGISTRY_PASSWORD, or use `docker login`");
  const at = /^(.+)@(sha256:[0-9a-f]{64})$/.exec(rest);
  const tagged = /^(.+):([^:/]+)$/.exec(rest);
  const [repo, reference] = at ? [at[1]!, at[2]!] : tagged ? [tagged[1]!, tagged[2]!] : [rest, ""];
  if (!REPO.test(repo)) throw refused(ref, `${JSON.stringify(repo)} is not a repository name (lowercase [a-z0-9._-] parts separated by /)`, EXAMPLE);
  if (!reference) throw refused(ref, "names no tag or digest", "add :TAG or @sha256:…, so the base is the one you mean");
  if (!at && !TAG.test(reference)) throw refused(ref, `${JSON.stringify(reference)} is not a tag`, EXAMPLE);
  let base: URL;
  try {
    base = new URL(`${scheme === "oci+http" ? "http" : "https"}://${host}`);
  } catch {
    throw refused(ref, `${JSON.stringify(host)} is not a HOST:PORT`, EXAMPLE);
  }
  return { kind: "registry", base, repo, reference, name: `${host}/${repo}${at ? "@" : ":"}${reference}` };
}

interface Fetched {
  bytes: Buffer;
  mediaType: string;
  digest: string;
}

/** Where a base's manifests and blobs come from. */
interface Source {
  /** The manifest or index REF names. */
  top(): Promise<Fetched>;
  manifest(digest: string): Promise<Fetched>;
  blob(desc: Descriptor): Promise<Buffer>;
  /** Write a blob to `file`, its size and digest checked. */
  blobTo(desc: Descriptor, file: string): Promise<void>;
}

function layoutSource(ref: string, r: Extract<BaseRef, { kind: "layout" }>): Source {
  const blobFile = (digest: string) => path.join(r.dir, "blobs", "sha256", digest.slice("sha256:".length));
  const read = async (desc: Descriptor): Promise<Buffer> => {
    if (!DIGEST.test(desc.digest)) throw refused(ref, `a descriptor names ${JSON.stringify(desc.digest)}, not a sha256 digest`);
    const bytes = await readFile(blobFile(desc.digest)).catch(() => {
      throw refused(ref, `blob ${desc.digest} is missing from ${r.dir}`);
    });
    const actual = `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
    if (actual !== desc.digest || bytes.length !== desc.size) throw refused(ref, `blob ${desc.digest} in ${r.dir} does not match its digest or size`);
    return bytes;
  };
  return {
    async top() {
      const file = path.join(r.dir, "index.json");
      let index: { manifests?: (Descriptor & { annotations?: Record<string, string> })[] };
      try {
        index = JSON.parse(await readFile(file, "utf8"));
      } catch (err) {
        if (!existsSync(r.dir)) throw refused(ref, `${r.dir}: no such directory`, "make the base with `skopeo copy … oci:PATH:TAG` (docs/distribution.md)");
        const missing = (err as NodeJS.ErrnoException).code === "ENOENT";
        throw refused(ref, missing ? `${file} not found: not an OCI image layout` : `${file} is not JSON`);
      }
      const all = index.manifests ?? [];
      const tags = all.map((d) => d.annotations?.[REF_NAME]).filter((t): t is string => t !== undefined);
      const chosen = r.tag === undefined ? all : all.filter((d) => d.annotations?.[REF_NAME] === r.tag);
      if (chosen.length !== 1) {
        const what = r.tag === undefined ? `${r.dir} holds ${all.length} images; name one with :TAG` : `no image tagged ${JSON.stringify(r.tag)} in ${r.dir}`;
        throw refused(ref, what, tags.length ? `its tags: ${tags.join(", ")}` : undefined);
      }
      const desc = chosen[0]!;
      return { bytes: await read(desc), mediaType: desc.mediaType, digest: desc.digest };
    },
    async manifest(digest) {
      const size = (await stat(blobFile(digest)).catch(() => undefined))?.size ?? -1;
      const bytes = await read({ mediaType: "", digest, size });
      return { bytes, mediaType: "", digest };
    },
    blob: read,
    async blobTo(desc, file) {
      if (!DIGEST.test(desc.digest)) throw refused(ref, `a layer names ${JSON.stringify(desc.digest)}, not a sha256 digest`);
      const hash = createHash("sha256");
      let size = 0;
      const count = new Transform({
        transform(chunk: Buffer, _e, done) {
          hash.update(chunk);
          size += chunk.length;
          done(null, chunk);
        },
      });
      const src = createReadStream(blobFile(desc.digest));
      await pipeline(src, count, createWriteStream(file, { mode: 0o644 })).catch((err: NodeJS.ErrnoException) => {
        throw err.code === "ENOENT" ? refused(ref, `layer ${desc.digest} is missing from ${r.dir}`) : err;
      });
      if (size !== desc.size || `sha256:${hash.digest("hex")}` !== desc.digest)
        throw refused(ref, `layer ${desc.digest} in ${r.dir} does not match its digest or size`);
    },
  };
}

function registrySource(ref: string, r: Extract<BaseRef, { kind: "registry" }>, env: NodeJS.ProcessEnv): Source {
  const client = new RegistryClient({ base: r.base, repo: r.repo, credentials: registryCredentials(r.base.host, env) });
  const manifest = async (reference: string) => {
    const got = await client.getManifest(reference, ACCEPT);
    if (!got) throw refused(ref, `${r.base.host} has no ${r.repo}${reference.startsWith("sha256:") ? "@" : ":"}${reference}`, "check the repository and tag");
    return got;
  };
  return {
    top: () => manifest(r.reference),
    manifest,
    async blob(desc) {
      const tmp = path.join(tmpdir(), `slipway-base-${randomBytes(6).toString("hex")}`);
      try {
        await client.getBlob(desc.digest, desc.size, tmp);
        return await readFile(tmp);
      } finally {
        await rm(tmp, { force: true });
      }
    },
    blobTo: (desc, file) => client.getBlob(desc.digest, desc.size, file),
  };
}

const json = (ref: string, what: string, bytes: Buffer): Record<string, unknown> => {
  try {
    const v = JSON.parse(bytes.toString("utf8"));
    if (v && typeof v === "object") return v as Record<string, unknown>;
  } catch {
    // reported below
  }
  throw refused(ref, `its ${what} is not a JSON object`);
};

/** The base's image manifest for `want` (an index is resolved by platform), and its config. */
async function resolveImage(ref: string, src: Source, want: { os: string; architecture: string; variant?: string }) {
  let got = await src.top();
  for (let depth = 0; ; depth++) {
    const doc = json(ref, "manifest", got.bytes);
    const mediaType = (doc["mediaType"] as string | undefined) ?? got.mediaType;
    if (INDEX_TYPES.has(mediaType) || (Array.isArray(doc["manifests"]) && !doc["layers"])) {
      if (depth > 1) throw refused(ref, "nests image indexes more than twice");
      const entries = (doc["manifests"] ?? []) as (Descriptor & { platform?: { os?: string; architecture?: string; variant?: string } })[];
      const match = entries.filter((d) => d.platform?.os === want.os && d.platform?.architecture === want.architecture);
      const pick =
        match.find((d) => !want.variant || !d.platform?.variant || d.platform.variant === want.variant) ?? (entries.length === 1 ? entries[0] : undefined);
      if (!pick) {
        const has = entries.map((d) => `${d.platform?.os ?? "?"}/${d.platform?.architecture ?? "?"}`).join(", ");
        throw refused(ref, `has no image for ${want.os}/${want.architecture} (it has: ${has || "none"})`, "the venv runs only on the platform it was built on");
      }
      got = await src.manifest(pick.digest);
      continue;
    }
    if (mediaType && !MANIFEST_TYPES.has(mediaType)) throw refused(ref, `names a ${mediaType}, not an image manifest`);
    const configDesc = doc["config"] as Descriptor | undefined;
    const layerDescs = (doc["layers"] ?? []) as Descriptor[];
    if (!configDesc?.digest || !Array.isArray(layerDescs)) throw refused(ref, "its manifest has no config or layers");
    const config = json(ref, "config", await src.blob(configDesc)) as ImageConfigJson;
    const layers = layerDescs.map((l) => {
      const known = LAYER_TYPES[l.mediaType];
      if (!known)
        throw refused(ref, `layer ${l.digest} is a ${l.mediaType}, which slipway does not copy`, "use a base whose layers are plain OCI or Docker tar layers");
      if (!DIGEST.test(l.digest) || !Number.isSafeInteger(l.size)) throw refused(ref, `layer ${JSON.stringify(l.digest)} has no sha256 digest and size`);
      return { mediaType: known.mediaType, digest: l.digest, size: l.size };
    });
    const diffIds = config.rootfs?.diff_ids ?? [];
    if (diffIds.length !== layers.length) throw refused(ref, `its config lists ${diffIds.length} diff_ids for ${layers.length} layers`);
    return { digest: got.digest, layers, config };
  }
}

/** The paths the venv needs in the image: the interpreter it was built with (resolved, and as configured). */
export function interpreterPaths(m: Manifest): string[] {
  const paths = [m.env.python.executable];
  if (m.env.python.configured.startsWith("/") && m.env.python.configured !== m.env.python.executable) paths.push(m.env.python.configured);
  return paths;
}

/**
 * Resolve REF, check that it suits the artifact, and put its layer blobs into `layout`
 * (blobs/sha256, digests unchanged). Nothing is left in the layout when it is refused.
 */
export async function prepareBase(opts: { ref: string; cwd: string; manifest: Manifest; layout: string; env?: NodeJS.ProcessEnv }): Promise<BaseImage> {
  const { ref, manifest: m, layout } = opts;
  const r = parseBaseRef(ref, opts.cwd);
  const src = r.kind === "layout" ? layoutSource(ref, r) : registrySource(ref, r, opts.env ?? process.env);
  const want = ociPlatform(m.env.python.platform);
  const img = await resolveImage(ref, src, want);
  if (img.config.os !== want.os || img.config.architecture !== want.architecture)
    throw refused(
      ref,
      `the base is for ${img.config.os ?? "?"}/${img.config.architecture ?? "?"}, the venv was built for ${want.os}/${want.architecture} (${m.env.python.platform})`,
      "use a base for the platform the artifact was built on",
    );

  // Each layer goes to a staging dir first; only a base that passes moves into blobs/sha256.
  const blobs = path.join(layout, "blobs", "sha256");
  const staging = path.join(layout, "blobs", `.base-${randomBytes(6).toString("hex")}`);
  await mkdir(blobs, { recursive: true });
  await mkdir(staging);
  try {
    const files: string[] = [];
    for (const l of img.layers) {
      const have = path.join(blobs, l.digest.slice("sha256:".length));
      if (existsSync(have)) {
        files.push(have);
        continue;
      }
      const file = path.join(staging, l.digest.slice("sha256:".length));
      await src.blobTo(l, file);
      files.push(file);
    }
    const tree = new LayerTree();
    for (const [i, l] of img.layers.entries()) await tree.addLayer(files[i]!, LAYER_TYPES[l.mediaType]!.codec);
    for (const p of interpreterPaths(m)) {
      const found = tree.resolve(p);
      if (!found.ok)
        throw refused(
          ref,
          `the base has no ${p}${found.missing !== p || found.why !== "is missing" ? ` (${found.missing} ${found.why})` : ""}, the interpreter the venv was built with`,
          "use a base that installs that Python at that path (e.g. Debian's python3.11 package for /usr/bin/python3.11), or build with app.python set to the base's interpreter",
        );
    }
    // (A layer listed twice was staged once and moves once.)
    for (const f of files) if (path.dirname(f) === staging && existsSync(f)) await rename(f, path.join(blobs, path.basename(f)));
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
  return { ref, digest: img.digest, ...(r.kind === "registry" ? { name: r.name } : {}), layers: img.layers, config: img.config };
}

type Node = { type: "file" | "directory" | "symlink" | "other"; linkname?: string; mode: number; layer: number };

/** The union of a base's layers, by path (no contents): enough to follow a path through symlinks. */
export class LayerTree {
  readonly #nodes = new Map<string, Node>();
  #layer = 0;

  async addLayer(file: string, codec: "gzip" | "zstd" | "none"): Promise<void> {
    const layer = this.#layer++;
    const extract = tar.extract();
    const source = createReadStream(file);
    let reading: Promise<unknown>;
    if (codec === "zstd") {
      const c = decompressor("zstd");
      reading = Promise.all([pipeline(source, c.input), pipeline(c.output, extract as unknown as NodeJS.WritableStream), c.done]);
    } else {
      const stream: Readable = codec === "gzip" ? source.pipe(createGunzip()) : source.pipe(new PassThrough());
      reading = pipeline(stream, extract as unknown as NodeJS.WritableStream);
    }
    const consuming = (async () => {
      for await (const entry of extract) {
        this.add(entry.header, layer);
        entry.resume();
      }
    })();
    await Promise.all([reading, consuming]);
  }

  /** One tar entry of layer `layer` (whiteouts per image-spec layer.md). */
  add(h: Pick<tar.Header, "name" | "type" | "linkname" | "mode">, layer: number): void {
    const name = norm(h.name);
    if (!name) return;
    const dir = path.posix.dirname(name);
    const base = path.posix.basename(name);
    const parent = dir === "." ? "" : dir;
    if (base === ".wh..wh..opq") {
      // Opaque: what lower layers had under the directory is hidden.
      for (const [k, n] of this.#nodes) if (n.layer < layer && (!parent || k.startsWith(`${parent}/`))) this.#nodes.delete(k);
      return;
    }
    if (base.startsWith(".wh.")) {
      this.#remove(parent ? `${parent}/${base.slice(4)}` : base.slice(4));
      return;
    }
    const type =
      h.type === "directory"
        ? "directory"
        : h.type === "symlink"
          ? "symlink"
          : h.type === "file" || h.type === "link" || h.type === "contiguous-file"
            ? "file"
            : "other";
    if (this.#nodes.get(name)?.type === "directory" && type !== "directory") this.#remove(name);
    // Parents a tar leaves implicit are directories.
    for (let p = parent; p && !this.#nodes.has(p); p = path.posix.dirname(p) === "." ? "" : path.posix.dirname(p))
      this.#nodes.set(p, { type: "directory", mode: 0o755, layer });
    const mode = h.type === "link" ? (this.#nodes.get(norm(h.linkname ?? ""))?.mode ?? h.mode ?? 0) : (h.mode ?? 0);
    this.#nodes.set(name, { type, mode, layer, ...(type === "symlink" ? { linkname: h.linkname ?? "" } : {}) });
  }

  #remove(name: string): void {
    this.#nodes.delete(name);
    for (const k of this.#nodes.keys()) if (k.startsWith(`${name}/`)) this.#nodes.delete(k);
  }

  /** Follow `p` (absolute) through the tree's symlinks: an executable file, or the first part missing. */
  resolve(p: string): { ok: true; path: string } | { ok: false; missing: string; why: string } {
    let todo = p.split("/").filter(Boolean);
    let at: string[] = [];
    for (let hops = 0; todo.length; ) {
      const part = todo.shift()!;
      if (part === ".") continue;
      if (part === "..") {
        at.pop();
        continue;
      }
      const here = [...at, part].join("/");
      const node = this.#nodes.get(here);
      if (!node) return { ok: false, missing: `/${here}`, why: "is missing" };
      if (node.type === "symlink") {
        if (++hops > 40) return { ok: false, missing: `/${here}`, why: "is a symlink loop" };
        const target = node.linkname ?? "";
        if (target.startsWith("/")) at = [];
        todo = [...target.split("/").filter(Boolean), ...todo];
        continue;
      }
      if (todo.length && node.type !== "directory") return { ok: false, missing: `/${here}`, why: "is not a directory" };
      at.push(part);
      if (!todo.length) {
        if (node.type !== "file") return { ok: false, missing: `/${here}`, why: `is a ${node.type}, not a file` };
        if ((node.mode & 0o111) === 0) return { ok: false, missing: `/${here}`, why: "is not executable" };
      }
    }
    return { ok: true, path: `/${at.join("/")}` };
  }
}

function norm(name: string): string {
  return name.replace(/^(\.\/|\/)+/, "").replace(/\/+$/, "");
}

/**
 * slipway's image config on top of the base's: the base's fields kept (Env, User, Volumes, …),
 * PATH with the venv's bin first, slipway's variables, labels and WorkingDir over the base's,
 * Entrypoint and Cmd from [image] when either is set (both, as set), else the base's.
 */
export function mergeConfig(base: ImageConfigJson, ours: Buffer, m: Manifest): Buffer {
  const own = JSON.parse(ours.toString("utf8")) as Required<ImageConfigJson> & { config: NonNullable<ImageConfigJson["config"]> };
  const b = base.config ?? {};
  const key = (e: string) => e.slice(0, Math.max(0, e.indexOf("=")));
  const venvBin = `${m.root}/virtualenvs/${m.env.key}/bin`;
  const env = [...(b.Env ?? [])];
  for (const e of own.config.Env ?? []) {
    const k = key(e);
    const i = env.findIndex((x) => key(x) === k);
    const basePath = k === "PATH" && i >= 0 ? env[i]!.slice(5) : undefined;
    const value = basePath !== undefined ? `PATH=${venvBin}:${basePath}` : e;
    if (i >= 0) env[i] = value;
    else env.push(value);
  }
  const setsCommand = own.config.Entrypoint !== undefined || own.config.Cmd !== undefined;
  const { Entrypoint: _be, Cmd: _bc, ...baseRest } = b;
  const { Entrypoint: _oe, Cmd: _oc, Env: _env, Labels: ownLabels, ExposedPorts: ownPorts, ...ownRest } = own.config;
  const command = setsCommand ? { Entrypoint: own.config.Entrypoint, Cmd: own.config.Cmd } : { Entrypoint: b.Entrypoint, Cmd: b.Cmd };
  const ports = { ...(b["ExposedPorts"] as Record<string, object> | undefined), ...(ownPorts as Record<string, object> | undefined) };
  const labels = { ...(b.Labels ?? {}), ...(ownLabels ?? {}) };
  const baseHistory = base.history?.length
    ? base.history
    : (base.rootfs?.diff_ids ?? []).map(() => ({ created_by: "base image layer (the base has no history)" }) as Record<string, unknown>);
  const merged = {
    created: own.created,
    architecture: base.architecture,
    os: base.os,
    ...(base.variant ? { variant: base.variant } : {}),
    ...(base["os.version"] ? { "os.version": base["os.version"] } : {}),
    config: {
      ...baseRest,
      ...Object.fromEntries(Object.entries(command).filter(([, v]) => v !== undefined && v !== null)),
      ...ownRest,
      Env: env,
      ...(Object.keys(ports).length ? { ExposedPorts: sortKeys(ports) } : {}),
      Labels: sortKeys(labels),
    },
    rootfs: { type: "layers", diff_ids: [...(base.rootfs?.diff_ids ?? []), ...(own.rootfs.diff_ids ?? [])] },
    history: [...baseHistory, ...(own.history ?? [])],
  };
  return Buffer.from(JSON.stringify(merged));
}

/** slipway's manifest with the base's layers first and the base named (image-spec annotations.md). */
export function mergeManifest(base: BaseImage, ours: Buffer): Buffer {
  const own = JSON.parse(ours.toString("utf8")) as { layers: Descriptor[]; annotations?: Record<string, string> };
  const annotations = sortKeys({
    ...own.annotations,
    "org.opencontainers.image.base.digest": base.digest,
    ...(base.name ? { "org.opencontainers.image.base.name": base.name } : {}),
  });
  return Buffer.from(JSON.stringify({ ...own, layers: [...base.layers, ...own.layers], annotations }));
}

function sortKeys<T>(o: Record<string, T>): Record<string, T> {
  return Object.fromEntries(Object.entries(o).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}
