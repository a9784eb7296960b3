import type { ExecOptions, ExecResult, Transport } from "./types.js";
import { spawnCollect } from "./spawn.js";

/** This machine, no ssh: argv runs directly, as the user running slipway. */
export class LocalTransport implements Transport {
  constructor(readonly host: string) {}
  exec(argv: readonly string[], opts?: ExecOptions): Promise<ExecResult> {
    return spawnCollect(argv, opts);
  }
  async close(): Promise<void> {}
}
