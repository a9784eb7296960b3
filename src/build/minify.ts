import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { transform, type Loader } from "esbuild";
import picomatch from "picomatch";
import { SlipwayError } from "../errors.js";
import type { TreeEntry } from "./tree.js";

const LOADERS: Record<string, Loader> = { ".js": "js", ".mjs": "js", ".cjs": "js", ".css": "css" };

export interface MinifyResult {
  files: number;
  bytesBefore: number;
  bytesAfter: number;
}

/** Minify, in place in the staging tree, the .js/.css files matched by `globs` (esbuild). */
export async function minifyTree(dir: string, entries: readonly TreeEntry[], globs: readonly string[]): Promise<MinifyResult> {
  const result: MinifyResult = { files: 0, bytesBefore: 0, bytesAfter: 0 };
  if (globs.length === 0) return result;
  const match = picomatch([...globs], { dot: true });
  for (const e of entries) {
    if (e.type !== "file" || !match(e.rel)) continue;
    const loader = LOADERS[path.extname(e.rel)];
    if (!loader) continue;
    const file = path.join(dir, e.rel);
    const source = await readFile(file, "utf8");
    let code: string;
    try {
      ({ code } = await transform(source, { loader, minify: true, sourcefile: e.rel, logLevel: "silent" }));
    } catch (err) {
      const first = (err as { errors?: { text: string; location?: { line: number; column: number } }[] }).errors?.[0];
      const where = first?.location ? `${e.rel}:${first.location.line}:${first.location.column}` : e.rel;
      throw new SlipwayError(`minify failed at ${where}: ${first?.text ?? (err as Error).message}`,
        "fix the syntax error, or leave the file out of build.minify");
    }
    await writeFile(file, code);
    result.files++;
    result.bytesBefore += Buffer.byteLength(source);
    result.bytesAfter += Buffer.byteLength(code);
  }
  return result;
}
