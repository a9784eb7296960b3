import { readFileSync } from "node:fs";

/** slipway's own version, from its package.json (one level above src/ and dist/). */
export const VERSION: string = (JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version: string }).version;
