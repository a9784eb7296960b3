// After tsc (which emits the library and its types into dist/), bundle the CLI: a CLI pays for
// every module it resolves and compiles at start-up, and a warm build is ~0.3 s in total.
// Split by command: dist/cli.js holds the argument parsing and the renderers, and each command
// (its `await import(...)` in src/cli.ts) loads its own chunks from dist/chunks/, so `build`
// never parses the server, the OCI or the package code (~1.5 MB in one file before).
// esbuild and better-sqlite3 stay external: each finds its native binary relative to its own package.
import { chmodSync, readFileSync, rmSync } from "node:fs";
import { build } from "esbuild";

const dist = new URL("../dist/", import.meta.url).pathname;
const { version } = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8"));
rmSync(`${dist}chunks`, { recursive: true, force: true });
await build({
  entryPoints: { cli: new URL("../src/cli.ts", import.meta.url).pathname },
  outdir: dist,
  bundle: true,
  splitting: true,
  chunkNames: "chunks/[name]-[hash]",
  platform: "node",
  format: "esm",
  target: "node20",
  external: ["esbuild", "better-sqlite3"],
  define: { SLIPWAY_BUNDLED_VERSION: JSON.stringify(version) },
  banner: { js: "import { createRequire as __slipwayRequire } from 'node:module'; const require = __slipwayRequire(import.meta.url);" },
  sourcemap: "linked",
  minifyWhitespace: true,
  minifySyntax: true,
  keepNames: true,
  logLevel: "warning",
});
chmodSync(`${dist}cli.js`, 0o755);
