// After tsc (which emits the library and its types into dist/), bundle the CLI into one file:
// a CLI pays for every module it resolves at start-up, and a warm build is ~0.3 s in total.
// esbuild and better-sqlite3 stay external: each finds its native binary relative to its own package.
import { chmodSync } from "node:fs";
import { build } from "esbuild";

const out = new URL("../dist/cli.js", import.meta.url).pathname;
await build({
  entryPoints: [new URL("../src/cli.ts", import.meta.url).pathname],
  outfile: out,
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node20",
  external: ["esbuild", "better-sqlite3"],
  banner: { js: "import { createRequire as __slipwayRequire } from 'node:module'; const require = __slipwayRequire(import.meta.url);" },
  sourcemap: "linked",
  minifyWhitespace: true,
  minifySyntax: true,
  keepNames: true,
  logLevel: "warning",
});
chmodSync(out, 0o755);
