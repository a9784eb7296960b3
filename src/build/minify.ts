import { mkdir, readFile, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import path from "node:path";
import type { Loader } from "esbuild";
import picomatch from "picomatch";
import { SlipwayError } from "../errors.js";
import { sha256 } from "../util/hash.js";
import { writeFileAtomic } from "../util/fs.js";
import type { TreeEntry } from "./tree.js";

const LOADERS: Record<string, Loader> = { ".js": "js", ".mjs": "js", ".cjs": "js", ".css": "css" };

export interface MinifyResult {
  files: number;
  /** How many came from the cache (unchanged since an earlier build). */
  cached: number;
  bytesBefore: number;
  bytesAfter: number;
}

/**
 * Minify, in place in the staging tree, the .js/.css files matched by `globs` with esbuild.
 * Output is cached by content (and esbuild version) under `cacheDir`, so a build whose
 * static files did not change does not even start esbuild.
 */
export async function minifyTree(dir: string, entries: readonly TreeEntry[], globs: readonly string[], cacheDir: string): Promise<MinifyResult> {
  const result: MinifyResult = { files: 0, cached: 0, bytesBefore: 0, bytesAfter: 0 };
  if (globs.length === 0) return result;
  const match = picomatch([...globs], { dot: true });
  const files = entries.filter((e) => e.type === "file" && match(e.rel) && LOADERS[path.extname(e.rel)]);
  if (files.length === 0) return result;
  const version = esbuildVersion();
  let esbuild: typeof import("esbuild") | undefined;
  await mkdir(path.join(cacheDir, "minify"), { recursive: true });
  for (const e of files) {
    const loader = LOADERS[path.extname(e.rel)]!;
    const file = path.join(dir, e.rel);
    const source = await readFile(file, "utf8");
    const cached = path.join(cacheDir, "minify", `${sha256(`${version}\0${loader}\0${source}`)}.${loader}`);
    let code = await readFile(cached, "utf8").catch(() => undefined);
    if (code === undefined) {
      esbuild ??= await import("esbuild");
      code = await minifyOne(esbuild, source, loader, e.rel);
      await writeFileAtomic(cached, code);
    } else result.cached++;
    await writeFile(file, code);
    result.files++;
    result.bytesBefore += Buffer.byteLength(source);
    result.bytesAfter += Buffer.byteLength(code);
  }
  return result;
}

async function minifyOne(esbuild: typeof import("esbuild"), source: string, loader: Loader, rel: string): Promise<string> {
  try {
    return (await esbuild.transform(source, { loader, minify: true, sourcefile: rel, logLevel: "silent" })).code;
  } catch (err) {
    const first = (err as { errors?: { text: string; location?: { line: number; column: number } }[] }).errors?.[0];
    const where = first?.location ? `${rel}:${first.location.line}:${first.location.column}` : rel;
    throw new SlipwayError(
      `minify failed at ${where}: ${first?.text ?? (err as Error).message}`,
      "fix the syntax error, or leave the file out of build.minify",
    );
  }
}

/** esbuild's version without loading it (its output may change between versions). */
function esbuildVersion(): string {
  const require = createRequire(import.meta.url);
  return (require("esbuild/package.json") as { version: string }).version;
}
