#!/usr/bin/env node
// The `slipway` executable (bundled by scripts/postbuild.mjs to dist/cli.js). It runs the CLI,
// which is one CommonJS bundle (dist/slipway.cjs), through `vm.Script` with V8's code cache
// (src/code-cache.ts), and saves the cache after the first run of each command. Any failure to
// read or write the cache only costs the compile it would have saved.
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";
import vm from "node:vm";
import { bundleOf, codeCacheDir, codeCacheName } from "./code-cache.js";

const bundle = fileURLToPath(new URL("./slipway.cjs", import.meta.url));
const source = readFileSync(bundle, "utf8");
const dir = codeCacheDir(process.env);
const name = dir ? codeCacheName(source, process.argv[2]) : undefined;
const entry = dir && name ? path.join(dir, name) : undefined;
let cachedData: Buffer | undefined;
try {
  if (entry) cachedData = readFileSync(entry);
} catch {
  // no entry yet: this run compiles, and writes one at exit
}

// The same wrapper node gives a CommonJS file, so the bundle sees require, module and __filename.
const script = new vm.Script(`(function (exports, require, module, __filename, __dirname) {${source}\n})`, {
  filename: bundle,
  cachedData,
  importModuleDynamically: vm.constants.USE_MAIN_CONTEXT_DEFAULT_LOADER,
});
if (entry && (!cachedData || script.cachedDataRejected)) process.once("exit", () => saveCache(entry, script));

const module = { exports: {} as { main?: (argv: string[]) => Promise<void> } };
(script.runInThisContext() as (...args: unknown[]) => void)(module.exports, createRequire(bundle), module, bundle, path.dirname(bundle));
await module.exports.main!(process.argv);

function saveCache(file: string, compiled: vm.Script): void {
  try {
    const data = compiled.createCachedData();
    mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    const tmp = `${file}.${process.pid}.tmp`;
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
  }
}
