// After tsc (which emits the library and its types into dist/), bundle the CLI. A CLI pays for
// every module it resolves and compiles at start-up, and a warm build is ~0.3 s in total, so:
// - dist/slipway.cjs is the whole CLI in one CommonJS file. Each command's code (its
//   `await import(...)` in src/cli.ts) is only evaluated when that command runs.
// - dist/cli.js (src/launch.ts) compiles it with V8's code cache, which Node 20 offers to
//   `vm.Script` but not to ES modules. With the cache warm, start-up skips nearly all compiling.
// - dist/s3-sdk.cjs is the AWS SDK (src/s3/sdk.ts), half the CLI's code, which only S3 commands load.
// esbuild and better-sqlite3 stay external: each finds its native binary relative to its own package.
import { chmodSync, readFileSync, rmSync } from "node:fs";
import { build } from "esbuild";

const dist = new URL("../dist/", import.meta.url).pathname;
const src = new URL("../src/", import.meta.url).pathname;
const { version } = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8"));
rmSync(`${dist}chunks`, { recursive: true, force: true });
/** src/s3/sdk.ts resolves to the SDK's own bundle, beside dist/slipway.cjs. */
const awsSdkApart = {
  name: "aws-sdk-apart",
  setup(b) {
    b.onResolve({ filter: /^\.\/sdk\.js$/ }, (args) => (args.importer.startsWith(`${src}s3/`) ? { path: "./s3-sdk.cjs", external: true } : undefined));
  },
};
const common = {
  bundle: true,
  platform: "node",
  target: "node20",
  sourcemap: "linked",
  minifyWhitespace: true,
  minifySyntax: true,
  keepNames: true,
  logLevel: "warning",
};
await build({
  ...common,
  entryPoints: [`${src}cli.ts`],
  outfile: `${dist}slipway.cjs`,
  format: "cjs",
  external: ["esbuild", "better-sqlite3"],
  plugins: [awsSdkApart],
  // import.meta has no CommonJS meaning: the bundle's own URL is what src/ asks it for.
  define: { SLIPWAY_BUNDLED_VERSION: JSON.stringify(version), "import.meta.url": "__slipwayBundleUrl" },
  // Strict, as the ES modules it is made of were ("use strict" must come first to count).
  banner: { js: "\"use strict\";var __slipwayBundleUrl = require('node:url').pathToFileURL(__filename).href;" },
  // vm.Script runs no import() without an experimental loader: every one becomes a require.
  supported: { "dynamic-import": false },
});
if (/\bimport\(/.test(readFileSync(`${dist}slipway.cjs`, "utf8"))) throw new Error("dist/slipway.cjs still holds an import(): src/launch.ts cannot run it");
await build({ ...common, entryPoints: [`${src}s3/sdk.ts`], outfile: `${dist}s3-sdk.cjs`, format: "cjs" });
await build({ ...common, entryPoints: [`${src}launch.ts`], outfile: `${dist}cli.js`, format: "esm" });
chmodSync(`${dist}cli.js`, 0o755);
