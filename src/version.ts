import { readFileSync } from "node:fs";

/** Set by the CLI bundle (scripts/postbuild.mjs), whose chunks sit at another depth than src/ and dist/. */
declare const SLIPWAY_BUNDLED_VERSION: string | undefined;

/** slipway's own version, from its package.json (one level above src/ and dist/). */
export const VERSION: string =
  typeof SLIPWAY_BUNDLED_VERSION === "string"
    ? SLIPWAY_BUNDLED_VERSION
    : (JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version: string }).version;
