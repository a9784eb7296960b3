/**
 * Pull mode, the deployer's side (docs/distribution.md): before any host is changed, make sure
 * the target's registry holds the artifact's image (oci/push.ts: only what it lacks is sent,
 * so a code-only build sends its small code layer once, however many hosts), and work out what
 * each host needs to pull: the blob URLs, the digests the deployer computed itself from the
 * artifact it verified (a host checks every byte against them), where each layer's entries sit
 * inside the image, and a pull-only Authorization header.
 */
import path from "node:path";
import type { Manifest } from "../artifact/manifest.js";
import type { Config } from "../config/schema.js";
import { COMPLETE_MARK } from "../deploy/complete.js";
import type { PullLayers } from "../deploy/fetch.js";
import { cacheDir } from "../build/layer-cache.js";
import type { Emit } from "../events.js";
import { releaseExtras } from "./image.js";
import { pushImage } from "./push.js";
import { RegistryClient, RegistryError, registryCredentials } from "./registry.js";

export interface PullPlan extends PullLayers {
  /** registry/repo:build_id and the manifest digest, as pushed. */
  ref: string;
  manifestDigest: string;
  /** Blobs the registry lacked and got now. */
  blobsSent: number;
}

/** http(s)://HOST[:PORT]/REPO (source.registry) → the `slipway push --to` form and the parts. */
export function registryParts(registry: string): { to: string; base: URL; repo: string } {
  const url = new URL(registry);
  const repo = url.pathname.replace(/^\/+|\/+$/g, "");
  return { to: `${url.protocol === "http:" ? "oci+http" : "oci"}://${url.host}/${repo}`, base: new URL(url.origin), repo };
}

export async function publishForPull(o: {
  cwd: string;
  configPath?: string;
  artifact: string;
  /** Where the hosts read (source.registry). */
  registry: string;
  /** Where the deployer pushes (source.publish_to; default: registry). */
  publishTo?: string;
  m: Manifest;
  manifestBytes: Buffer;
  config: Config;
  env?: NodeJS.ProcessEnv;
  emit: Emit;
}): Promise<PullPlan> {
  const env = o.env ?? process.env;
  const { to, base, repo } = registryParts(o.publishTo ?? o.registry);
  const hosts = registryParts(o.registry);
  // A layout kept in the cache: the venv layer of a known venv key is not made again (layer-memo.ts).
  const layout = path.join(cacheDir(env), "oci", "layouts", o.m.app);
  const pushed = await pushImage({ cwd: o.cwd, configPath: o.configPath, artifact: o.artifact, to, layout, env, emit: o.emit });
  const layers = new Map(pushed.layers.map((l) => [l.name, l]));
  const venv = layers.get("venv")!;
  const code = layers.get("code")!;
  // A client of its own: the registry's challenge for a read asks for a pull-only token, which
  // is all a host gets (the push's token could write).
  const reader = new RegistryClient({ base, repo, credentials: registryCredentials(base.host, env) });
  if (!(await reader.hasBlob(code.digest)))
    throw new RegistryError(
      base.host,
      "check blob",
      404,
      `${code.digest} is missing right after it was pushed`,
      "is the registry's storage shared by all its replicas?",
    );
  const root = o.m.root.replace(/^\/+/, "");
  const venvPrefix = `${root}/virtualenvs/${o.m.env.key}`;
  return {
    source: { blobs: `${hosts.base.origin}/v2/${hosts.repo}/blobs/`, authorization: reader.authorization },
    venv: { digest: hex(venv.digest), size: venv.size, prefix: venvPrefix, exclude: [`${venvPrefix}/${COMPLETE_MARK}`] },
    code: {
      digest: hex(code.digest),
      size: code.size,
      prefix: `${root}/releases/${o.m.build_id}`,
      exclude: releaseExtras(o.m, o.manifestBytes, o.config).map((e) => e.name),
    },
    ref: pushed.ref,
    manifestDigest: pushed.digest,
    blobsSent: pushed.blobs.filter((b) => !b.skipped).length,
  };
}

const hex = (digest: string) => digest.replace(/^sha256:/, "");
