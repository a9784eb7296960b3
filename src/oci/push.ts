/**
 * `slipway push ARTIFACT --to oci://HOST:PORT/REPO`: the artifact's OCI image (oci/image.ts),
 * pushed to a registry over the distribution API and tagged with the build id. Blobs the
 * registry already has (the venv layer of an unchanged venv key) are not sent again.
 */
import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { UsageError } from "../errors.js";
import { silent, type Emit } from "../events.js";
import { image } from "./image.js";
import { RegistryClient, RegistryError, registryCredentials } from "./registry.js";
import { MEDIA } from "./spec.js";

export interface PushImageOptions {
  cwd: string;
  configPath?: string;
  artifact: string;
  /** oci://HOST:PORT/REPO (https) or oci+http://HOST:PORT/REPO (plain http). */
  to: string;
  /** An image layout to write the image into and push from (kept); default: a temporary one. */
  layout?: string;
  /** Blobs above this size are uploaded in PATCH chunks of this size (default 32 MiB). */
  chunkSize?: number;
  /** A base image under the app's layers (oci/base.ts): its layers are pushed too (those the registry lacks). */
  base?: string;
  env?: NodeJS.ProcessEnv;
  emit?: Emit;
}

export interface PushImageResult {
  /** HOST:PORT/REPO:BUILD_ID */
  ref: string;
  /** The manifest's digest: pull by HOST:PORT/REPO@DIGEST. */
  digest: string;
  blobs: { digest: string; size: number; skipped: boolean }[];
  /** The image's own two layers (oci/image.ts). */
  layers: { name: "venv" | "code"; digest: string; size: number }[];
}

export interface OciTarget {
  base: URL;
  repo: string;
}

// The distribution spec's repository name grammar.
const REPO = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*$/;

/** oci://HOST:PORT/REPO → https, oci+http://… → http; anything else is a usage error. */
export function parseOciTarget(to: string): OciTarget {
  const example = "e.g. --to oci://registry.internal:5000/ledger (https), or oci+http://127.0.0.1:5000/ledger (plain http)";
  const m = /^(oci|oci\+http|oci\+https):\/\/([^/]+)\/(.+)$/.exec(to);
  if (!m) throw new UsageError(`--to ${JSON.stringify(to)}: expected oci://HOST:PORT/REPO`, example);
  const [, scheme, host, repo] = m as unknown as [string, string, string, string];
  if (host.includes("@"))
    throw new UsageError(`--to must not carry credentials`, "set SLIPWAY_REGISTRY_USER and SLIPWAY_REGISTRY_PASSWORD, or use `docker login`");
  let base: URL;
  try {
    base = new URL(`${scheme === "oci+http" ? "http" : "https"}://${host}`);
  } catch {
    throw new UsageError(`--to ${JSON.stringify(to)}: ${JSON.stringify(host)} is not a HOST:PORT`, example);
  }
  if (/[:@]/.test(repo) || !REPO.test(repo))
    throw new UsageError(
      `--to ${JSON.stringify(to)}: ${JSON.stringify(repo)} is not a repository name (lowercase [a-z0-9._-] parts separated by /; no tag: the tag is the build id)`,
      example,
    );
  return { base, repo };
}

export async function pushImage(opts: PushImageOptions): Promise<PushImageResult> {
  const emit = opts.emit ?? silent;
  const target = parseOciTarget(opts.to);
  const client = new RegistryClient({ ...target, credentials: registryCredentials(target.base.host, opts.env), chunkSize: opts.chunkSize });
  await client.ping();
  const tmp = opts.layout ? undefined : await mkdtemp(path.join(tmpdir(), "slipway-push-"));
  try {
    const layout = opts.layout ?? path.join(tmp!, "image.oci");
    const img = await image({
      cwd: opts.cwd,
      configPath: opts.configPath,
      artifact: opts.artifact,
      out: `oci-dir:${layout}`,
      base: opts.base,
      env: opts.env,
      emit,
    });
    const manifestBytes = await readFile(blobFile(layout, img.manifest.digest));
    const blobs: { digest: string; size: number; name: "venv" | "code" | "manifest" | "base" }[] = [
      ...(img.base?.layers ?? []).map((l) => ({ digest: l.digest, size: l.size, name: "base" as const })),
      ...img.layers.map((l) => ({ digest: l.digest, size: l.size, name: l.name })),
      { digest: img.config.digest, size: img.config.size, name: "manifest" as const },
    ];
    const host = client.registry;
    const pushed: PushImageResult["blobs"] = [];
    for (const b of blobs) {
      const file = blobFile(layout, b.digest);
      const size = (await stat(file)).size;
      if (size !== b.size) throw new RegistryError(host, "upload chunk", undefined, `${file} is ${size} bytes, its descriptor says ${b.size}`);
      if (await client.hasBlob(b.digest)) {
        emit({ type: "log", level: "info", message: `${b.name === "manifest" ? "config" : `${b.name} layer`} ${b.digest} already in ${host}/${target.repo}` });
        pushed.push({ digest: b.digest, size, skipped: true });
        continue;
      }
      const layer = b.name;
      if (layer === "base") {
        // A base layer has no transfer event of its own kind: one note when it is up.
        await client.uploadBlob(b.digest, size, file);
        emit({ type: "log", level: "info", message: `base layer ${b.digest} sent to ${host}/${target.repo} (${size} bytes)` });
      } else {
        emit({ type: "transfer", host, layer, sent: 0, total: size });
        await client.uploadBlob(b.digest, size, file, (sent) => emit({ type: "transfer", host, layer, sent, total: size }));
      }
      pushed.push({ digest: b.digest, size, skipped: false });
    }
    const reported = await client.putManifest(img.ref, MEDIA.manifest, manifestBytes);
    if (reported && reported !== img.manifest.digest)
      throw new RegistryError(
        host,
        "put manifest",
        201,
        `the registry stored the manifest as ${reported}, not ${img.manifest.digest}`,
        "a proxy may rewrite it",
      );
    emit({ type: "transfer", host, layer: "manifest", sent: manifestBytes.length, total: manifestBytes.length });
    const ref = `${host}/${target.repo}:${img.ref}`;
    const sent = pushed.filter((b) => !b.skipped);
    emit({
      type: "log",
      level: "info",
      message: `pushed ${ref} (${img.manifest.digest}): ${sent.length} blob(s) sent, ${pushed.length - sent.length} already there`,
    });
    return { ref, digest: img.manifest.digest, blobs: pushed, layers: img.layers.map((l) => ({ name: l.name, digest: l.digest, size: l.size })) };
  } finally {
    if (tmp) await rm(tmp, { recursive: true, force: true });
  }
}

function blobFile(layout: string, digest: string): string {
  return path.join(layout, "blobs", "sha256", digest.slice("sha256:".length));
}
