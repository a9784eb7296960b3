/** The package trees of an artifact: its layers unpacked at their host paths, with what a deploy adds. */
import path from "node:path";
import { openMember } from "../artifact/read.js";
import type { Manifest } from "../artifact/manifest.js";
import type { Config } from "../config/schema.js";
import { COMPLETE_MARK } from "../deploy/complete.js";
import { releaseExtras } from "../oci/image.js";
import { mkdirs, unpackLayer, writeExtras } from "./tree.js";

/** The venv layer at <root>/virtualenvs/<key> under `stage`, with its completion mark. */
export async function stageVenv(file: string, m: Manifest, stage: string): Promise<{ stage: string; dir: string }> {
  const root = m.root.replace(/^\/+/, "");
  const venvLayer = m.layers.find((l) => l.name === "venv")!;
  const dir = `${root}/virtualenvs/${m.env.key}`;
  await mkdirs(stage, dir);
  await unpackLayer(openMember(file, venvLayer.member), venvLayer.compression, path.join(stage, dir));
  await writeExtras(stage, [{ name: `${dir}/${COMPLETE_MARK}`, type: "file", content: Buffer.alloc(0), mode: 0o644 }]);
  return { stage, dir };
}

/**
 * The code layer at <root>/releases/<build> under `stage`, with what a deploy adds. Not `current`
 * (the meta package's scripts switch it) and not the shared dirs (the host's; the release
 * postinst makes them).
 */
export async function stageRelease(file: string, m: Manifest, manifestBytes: Buffer, config: Config, stage: string): Promise<{ stage: string; dir: string }> {
  const root = m.root.replace(/^\/+/, "");
  const codeLayer = m.layers.find((l) => l.name === "code")!;
  const dir = `${root}/releases/${m.build_id}`;
  await mkdirs(stage, dir);
  await unpackLayer(openMember(file, codeLayer.member), codeLayer.compression, path.join(stage, dir));
  const extras = releaseExtras(m, manifestBytes, config).filter((e) => e.name !== `${root}/current` && e.type !== "directory");
  await writeExtras(stage, extras);
  return { stage, dir };
}
