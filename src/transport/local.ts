import type { ExecOptions, ExecResult, Transport } from "./types.js";
import { canSendRanges, spawnWithRange } from "./range-send.js";
import { spawnCollect } from "./spawn.js";

/** This machine, no ssh: argv runs directly, as the user running slipway. */
export class LocalTransport implements Transport {
  constructor(readonly host: string) {}
  async exec(argv: readonly string[], opts?: ExecOptions): Promise<ExecResult> {
    if (opts?.stdinRange && (await canSendRanges())) return spawnWithRange(argv, opts.stdinRange, opts);
    return spawnCollect(argv, opts);
  }
  async close(): Promise<void> {}
}
