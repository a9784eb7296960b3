import { open } from "node:fs/promises";

/** Where one member's bytes lie in the artifact file. */
export interface MemberRange {
  offset: number;
  length: number;
}

const BLOCK = 512;

/**
 * The byte range of the artifact member `name` (a plain ustar file entry), found by reading
 * only the tar headers before it, or undefined when it is not there as one: a member behind a
 * pax or GNU long-name record, which `slipway build` never writes for its short member names,
 * is left to the streaming reader (read.ts openMember). A range lets the kernel send the
 * member (transport/range-send.ts) instead of node relaying it. Nothing here is trusted: the
 * host checks the bytes it receives against the manifest's sha256, as for any other send.
 */
export async function memberRange(file: string, name: string): Promise<MemberRange | undefined> {
  const fh = await open(file, "r");
  try {
    const { size: fileSize } = await fh.stat();
    const header = Buffer.alloc(BLOCK);
    let at = 0;
    while (at + BLOCK <= fileSize) {
      const { bytesRead } = await fh.read(header, 0, BLOCK, at);
      if (bytesRead < BLOCK || header.every((b) => b === 0)) return undefined;
      if (!checksumHolds(header)) return undefined;
      const type = String.fromCharCode(header[156]!);
      const size = octal(header.subarray(124, 136));
      if (size === undefined) return undefined;
      if (type === "x" || type === "g" || type === "L" || type === "K") return undefined;
      const prefix = text(header.subarray(345, 500));
      const own = text(header.subarray(0, 100));
      const full = prefix ? `${prefix}/${own}` : own;
      const data = at + BLOCK;
      if (full === name) return (type === "0" || type === "\0") && data + size <= fileSize ? { offset: data, length: size } : undefined;
      at = data + Math.ceil(size / BLOCK) * BLOCK;
    }
    return undefined;
  } finally {
    await fh.close();
  }
}

function text(b: Buffer): string {
  const end = b.indexOf(0);
  return b.subarray(0, end < 0 ? b.length : end).toString("utf8");
}

/** A ustar number field (octal digits, NUL or space ended); base-256 or junk: undefined. */
function octal(b: Buffer): number | undefined {
  const s = text(b).trim();
  return /^[0-7]+$/.test(s) ? Number.parseInt(s, 8) : undefined;
}

/** The header's checksum: the sum of its bytes with the checksum field read as spaces. */
function checksumHolds(h: Buffer): boolean {
  const stored = octal(h.subarray(148, 156));
  if (stored === undefined) return false;
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : h[i]!;
  return sum === stored;
}
