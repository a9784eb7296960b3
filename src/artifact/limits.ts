/**
 * What slipway accepts in one artifact (documented in docs/security.md). Beyond these an
 * artifact is refused before anything is unpacked: a manifest cannot promise, and a layer
 * cannot deliver, more than a host is ever asked to hold.
 */
export const LIMITS = {
  /** Sum of the regular files' sizes in one layer (a large ML venv is well below it). */
  unpackedBytes: 16 * 2 ** 30,
  /** Tar entries (files, directories, links) in one layer. */
  entries: 1_000_000,
  /** Compressed size of one layer. */
  layerBytes: 16 * 2 ** 30,
  /** Bytes of an entry's path or link target (Linux PATH_MAX), and of one path component. */
  pathBytes: 4095,
  componentBytes: 255,
  /** Requirement inputs listed in the manifest. */
  inputs: 10_000,
  /**
   * Tar framing a layer may add per entry on top of file data: header, padding and the pax
   * records for a long path and link target. Anything more is a decompression bomb.
   */
  framingPerEntry: 12 * 1024,
  /** Slack for end-of-archive blocks, record padding and data in flight between parser and counter. */
  framingSlack: 4 * 2 ** 20,
} as const;

export type Limits = { readonly [K in keyof typeof LIMITS]: number };

/**
 * The decompressed bytes a layer of `entries` entries whose files hold `bytes` may produce:
 * its file data plus the framing allowed per entry and the slack. More is a decompression bomb
 * (the deployer's stream check, entry-rules.ts, and the host's cap on what reaches tar, stage.ts).
 */
export function unpackAllowance(bytes: number, entries: number, limits: Limits = LIMITS): number {
  return bytes + entries * limits.framingPerEntry + limits.framingSlack;
}

/** "16 GiB", "1000000 entries": how limits read in messages. */
export function describeBytes(n: number): string {
  if (n >= 2 ** 30 && n % 2 ** 30 === 0) return `${n / 2 ** 30} GiB`;
  if (n >= 2 ** 20 && n % 2 ** 20 === 0) return `${n / 2 ** 20} MiB`;
  return `${n} bytes`;
}
