import { mkdir, readFile, stat } from "node:fs/promises";
import path from "node:path";
import { spawn } from "node:child_process";
import { pipeline } from "node:stream/promises";
import { createReadStream } from "node:fs";
import type { Emit } from "../events.js";
import { throttledProgress } from "../events.js";
import { writeFileAtomic } from "../util/fs.js";
import { LAYER_SUFFIX, decompressor, type Compression } from "../artifact/compress.js";
import { writeLayer, type LayerStats } from "../artifact/layer-writer.js";
import { hasGnuTar, writeLayerWithGnuTar } from "../artifact/gnu-tar-pack.js";
import { withBuildLock } from "./lock.js";
import { walkTree } from "./tree.js";
import { COMPLETE_MARKER } from "./venv.js";
import { cacheDir } from "../util/cache-dir.js";

/**
 * The compressed venv layer, made once per key and kept on the build machine, so a warm build
 * copies a finished file instead of re-reading and re-compressing the venv.
 * Location: $SLIPWAY_CACHE_DIR, else $XDG_CACHE_HOME/slipway, else ~/.cache/slipway.
 */
export { cacheDir } from "../util/cache-dir.js";

export interface CachedLayer {
  file: string;
  stats: LayerStats;
  cache: "hit" | "miss";
}

function layerPaths(dir: string, key: string, compression: Compression) {
  const file = path.join(dir, "layers", `venv-${key}${LAYER_SUFFIX[compression]}`);
  return { file, meta: `${file}.json`, lock: path.join(dir, "layers", `.venv-${key}.lock`) };
}

/** Read the cached layer's stats; undefined unless both files exist and agree on the size. */
async function readCached(file: string, meta: string): Promise<LayerStats | undefined> {
  try {
    const stats = JSON.parse(await readFile(meta, "utf8")) as LayerStats;
    return (await stat(file)).size === stats.size ? stats : undefined;
  } catch {
    return undefined;
  }
}

export async function ensureVenvLayer(venvDir: string, key: string, compression: Compression, env: NodeJS.ProcessEnv, emit: Emit): Promise<CachedLayer> {
  const dir = cacheDir(env);
  const { file, meta, lock } = layerPaths(dir, key, compression);
  const found = await readCached(file, meta);
  if (found) return { file, stats: found, cache: "hit" };
  await mkdir(path.dirname(file), { recursive: true });
  const reason = `another build is compressing venv ${key}; waiting for it`;
  return withBuildLock(lock, { phase: "venv-layer", emit, reason }, async () => {
    const again = await readCached(file, meta);
    if (again) return { file, stats: again, cache: "hit" };
    const entries = await walkTree(venvDir, (rel) => rel === COMPLETE_MARKER);
    const total = entries.reduce((n, e) => n + e.size, 0);
    const progress = throttledProgress(emit, "venv-layer", "bytes", total);
    // Venv bytes are not required to be reproducible (pip writes timestamps into .pyc files);
    // the layer is made once per key, so a fixed mtime only keeps it tidy.
    // GNU tar reads a big venv at the compressor's speed; tar-stream is the fallback (and packs the code layer).
    const pack = (await hasGnuTar()) ? writeLayerWithGnuTar : writeLayer;
    const stats = await pack({ dir: venvDir, entries, mtime: new Date(0), compression, out: file, onProgress: progress.update });
    progress.flush();
    await writeFileAtomic(meta, JSON.stringify(stats) + "\n");
    return { file, stats, cache: "miss" };
  });
}

/**
 * Fill an empty venv dir from the cached layer, if there is one (CI that caches only the
 * slipway cache dir then skips pip). Returns false when there is nothing to restore from.
 */
export async function restoreVenvFromCache(venvDir: string, key: string, compression: Compression, env: NodeJS.ProcessEnv): Promise<boolean> {
  const { file, meta } = layerPaths(cacheDir(env), key, compression);
  if (!(await readCached(file, meta))) return false;
  await mkdir(venvDir, { recursive: true });
  const codec = decompressor(compression);
  const tar = spawn("tar", ["-x", "-f", "-", "-C", venvDir, "--no-same-owner"], { stdio: ["pipe", "ignore", "pipe"] });
  let stderr = "";
  tar.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
  const exited = new Promise<number | null>((resolve) => tar.on("close", resolve));
  await Promise.all([pipeline(createReadStream(file), codec.input), pipeline(codec.output, tar.stdin), codec.done]);
  const code = await exited;
  if (code !== 0) throw new Error(`restoring venv ${key} from ${file} failed: tar exited ${code}: ${stderr.trim()}`);
  return true;
}
