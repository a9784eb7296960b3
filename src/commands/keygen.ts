import path from "node:path";
import { UsageError } from "../errors.js";
import { writeKeyPair, type KeyPair } from "../artifact/keys.js";

export interface KeygenOptions {
  cwd: string;
  /** PREFIX: writes PREFIX.key (private, mode 0600) and PREFIX.pub. */
  out?: string;
  /** Replace an existing pair (--yes). */
  overwrite?: boolean;
}

/** `slipway keygen --out PREFIX`: an ed25519 key pair for signing artifacts (docs/security.md). */
export async function keygen(opts: KeygenOptions): Promise<KeyPair> {
  if (!opts.out) throw new UsageError("--out PREFIX is required", "e.g. `slipway keygen --out ci-signing` writes ci-signing.key and ci-signing.pub");
  return writeKeyPair(path.resolve(opts.cwd, opts.out), Boolean(opts.overwrite));
}
