#!/usr/bin/env node
// The `slipway` executable (bundled by scripts/postbuild.mjs to dist/cli.js). It runs the CLI,
// which is one CommonJS bundle (dist/slipway.cjs), through `vm.Script` with V8's code cache
// (src/code-cache.ts), and saves the cache after a command's first successful run. Any failure
// to find, read or write the cache only costs the compile it would have saved.
import { lstatSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";
import vm from "node:vm";
import { bundleOf, codeCacheDir, codeCacheName } from "./code-cache.js";

const bundle = fileURLToPath(new URL("./slipway.cjs", import.meta.url));
const source = readFileSync(bundle, "utf8");
const entry = cacheEntry();
let cachedData: Buffer | undefined;
try {
  if (entry) cachedData = readFileSync(entry);
} catch {
  // no entry yet: this run compiles, and writes one at exit
}

// The same wrapper node gives a CommonJS file, so the bundle sees require, module and __filename.
const script = new vm.Script(`(function (exports, require, module, __filename, __dirname) {${source}\n})`, { filename: bundle, cachedData });
if (entry && (!cachedData || script.cachedDataRejected)) {
  // Only a run that succeeded: one that stopped at a usage error compiled little worth keeping.
  process.once("exit", (code) => code === 0 && saveCache(entry, script));
}

const module = { exports: {} as { main?: (argv: string[]) => Promise<void> } };
(script.runInThisContext() as (...args: unknown[]) => void)(module.exports, createRequire(bundle), module, bundle, path.dirname(bundle));
await module.exports.main!(process.argv);

/** The entry for this bundle and command, or undefined: cache off, no home, or a dir someone else could write. */
function cacheEntry(): string | undefined {
  try {
    const dir = codeCacheDir(process.env);
    if (!dir) return undefined;
    // V8 runs what an entry holds: a dir another user owns or may write to is not used.
    const st = lstatSync(dir, { throwIfNoEntry: false });
    if (st && (!st.isDirectory() || st.uid !== process.getuid?.() || st.mode & 0o022)) return undefined;
    return path.join(dir, codeCacheName(source, process.argv[2]));
  } catch {
    return undefined; // no home directory (os.homedir() throws), or the dir cannot be read
  }
}

function saveCache(file: string, compiled: vm.Script): void {
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    const data = compiled.createCachedData();
    mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    writeFileSync(tmp, data, { mode: 0o600 });
    renameSync(tmp, file);
    // Entries of other bundles (an older slipway) are never read again.
    const mine = bundleOf(path.basename(file));
    for (const other of readdirSync(path.dirname(file))) {
      const of = bundleOf(other);
      if (of && of !== mine) rmSync(path.join(path.dirname(file), other), { force: true });
    }
  } catch {
    // a read-only or full cache dir: the next run compiles again
    rmSync(tmp, { force: true });
  }
}
