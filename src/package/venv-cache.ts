/**
 * The venv package, kept on the build machine once per content: every build with the same venv
 * key gives the same venv package byte for byte (plan.ts: constant version and mtimes), so a
 * code-only build copies the finished file instead of unpacking and compressing the venv again.
 * Keyed by everything its bytes come from: the format, the package's plan (name, version,
 * dependencies, texts, scripts), the architecture, the maintainer and the venv layer's sha256.
 * Location: <cache>/packages/<sha256>/<file> (build/layer-cache.ts's cache dir).
 */
import { copyFile, mkdir, readdir, rename, rm } from "node:fs/promises";
import path from "node:path";
import { cacheDir } from "../build/layer-cache.js";
import { sha256 } from "../util/hash.js";
import type { PackagePlan } from "./plan.js";

/** Bumped when deb.ts or rpm.ts change what they write for the same plan. */
const FORMAT_REVISION = 1;

export function venvPackageKey(parts: { format: string; plan: PackagePlan; arch: string; maintainer: string; layerSha256: string }): string {
  return sha256(JSON.stringify({ revision: FORMAT_REVISION, ...parts }));
}

const dirOf = (env: NodeJS.ProcessEnv, key: string) => path.join(cacheDir(env), "packages", key);

/** The cached package copied into `outDir` (its path), or undefined on a miss. */
export async function takeCached(env: NodeJS.ProcessEnv, key: string, outDir: string): Promise<string | undefined> {
  const dir = dirOf(env, key);
  const names = await readdir(dir).catch(() => [] as string[]);
  const name = names.find((n) => /\.(deb|rpm)$/.test(n));
  if (!name) return undefined;
  const file = path.join(outDir, name);
  const tmp = `${file}.tmp-${process.pid}`;
  try {
    await copyFile(path.join(dir, name), tmp);
    await rename(tmp, file);
  } finally {
    await rm(tmp, { force: true });
  }
  return file;
}

/** Keep a built package for the next build of the same content (best effort: a failure only costs the next build time). */
export async function keep(env: NodeJS.ProcessEnv, key: string, file: string): Promise<void> {
  const dir = dirOf(env, key);
  const tmpDir = `${dir}.tmp-${process.pid}`;
  try {
    await mkdir(tmpDir, { recursive: true });
    await copyFile(file, path.join(tmpDir, path.basename(file)));
    await rename(tmpDir, dir);
  } catch {
    // Another build kept it first, or the cache is not writable.
  } finally {
    await rm(tmpDir, { recursive: true, force: true });
  }
}
