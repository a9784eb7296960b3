/**
 * The OCI image config and manifest (image-spec v1.1) for an artifact: pure functions of the
 * slipway manifest and the layers, serialized with a fixed key order, so the same inputs give
 * the same digests.
 */
import type { Manifest } from "../artifact/manifest.js";
import type { Config } from "../config/schema.js";

export const MEDIA = {
  index: "application/vnd.oci.image.index.v1+json",
  manifest: "application/vnd.oci.image.manifest.v1+json",
  config: "application/vnd.oci.image.config.v1+json",
  layerGzip: "application/vnd.oci.image.layer.v1.tar+gzip",
} as const;

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
}

/** Annotation keys and config labels slipway sets (besides the org.opencontainers.image.* ones). */
export const LABELS = {
  buildId: "io.slipway.build-id",
  venvKey: "io.slipway.venv-key",
  root: "io.slipway.root",
  manifest: "io.slipway.manifest",
} as const;

/** Python's platform tag → OCI os and architecture ("linux-x86_64/glibc-2.36" → linux/amd64). */
export function ociPlatform(platform: string): { os: string; architecture: string; variant?: string } {
  const [osArch = ""] = platform.split("/");
  const [os = "linux", ...rest] = osArch.split("-");
  const arch = rest.join("-");
  const map: Record<string, { architecture: string; variant?: string }> = {
    x86_64: { architecture: "amd64" },
    amd64: { architecture: "amd64" },
    aarch64: { architecture: "arm64", variant: "v8" },
    arm64: { architecture: "arm64", variant: "v8" },
    armv7l: { architecture: "arm", variant: "v7" },
    i686: { architecture: "386" },
    ppc64le: { architecture: "ppc64le" },
    s390x: { architecture: "s390x" },
    riscv64: { architecture: "riscv64" },
  };
  return { os, ...(map[arch] ?? { architecture: arch || "amd64" }) };
}

export function imageConfig(m: Manifest, layers: readonly { diff_id: string }[], image: Config["image"] | undefined): Buffer {
  const venvBin = `${m.root}/virtualenvs/${m.env.key}/bin`;
  const env = [
    `PATH=${venvBin}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`,
    `VIRTUAL_ENV=${m.root}/virtualenvs/${m.env.key}`,
    `SLIPWAY_BUILD_ID=${m.build_id}`,
  ];
  for (const [k, v] of Object.entries(image?.env ?? {}).sort(([a], [b]) => (a < b ? -1 : 1))) env.push(`${k}=${v}`);
  const labels: Record<string, string> = {
    [LABELS.buildId]: m.build_id,
    [LABELS.root]: m.root,
    [LABELS.venvKey]: m.env.key,
    "org.opencontainers.image.created": m.created_at,
    "org.opencontainers.image.title": m.app,
    "org.opencontainers.image.version": m.build_id,
    ...(m.git ? { "org.opencontainers.image.revision": m.git.commit } : {}),
  };
  const config = {
    created: m.created_at,
    ...ociPlatform(m.env.python.platform),
    config: {
      ...(image?.entrypoint ? { Entrypoint: image.entrypoint } : {}),
      ...(image?.cmd ? { Cmd: image.cmd } : {}),
      Env: env,
      WorkingDir: `${m.root}/current`,
      ...(image?.ports.length ? { ExposedPorts: Object.fromEntries(image.ports.map((p) => [`${p}/tcp`, {}])) } : {}),
      Labels: sorted(labels),
    },
    rootfs: { type: "layers", diff_ids: layers.map((l) => l.diff_id) },
    history: [
      { created: m.created_at, created_by: `slipway build: venv ${m.env.key}` },
      { created: m.created_at, created_by: `slipway build: release ${m.build_id}` },
    ],
  };
  return Buffer.from(JSON.stringify(config));
}

export function imageManifest(config: Descriptor, layers: readonly Descriptor[], m: Manifest, slipwayManifest: Buffer): Buffer {
  return Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MEDIA.manifest,
      config,
      layers,
      annotations: sorted({
        [LABELS.buildId]: m.build_id,
        [LABELS.venvKey]: m.env.key,
        [LABELS.manifest]: slipwayManifest.toString("utf8"),
        "org.opencontainers.image.created": m.created_at,
        "org.opencontainers.image.version": m.build_id,
        ...(m.git ? { "org.opencontainers.image.revision": m.git.commit } : {}),
      }),
    }),
  );
}

function sorted(o: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(o).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}
