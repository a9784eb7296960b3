// Make the CLI entry executable after tsc (npm links it as the `slipway` bin).
import { chmodSync } from "node:fs";
chmodSync(new URL("../dist/cli.js", import.meta.url), 0o755);
