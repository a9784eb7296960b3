import { open, rename, rm, mkdir } from "node:fs/promises";
import path from "node:path";

/** Write a file so readers see the old content or the new, never a partial one. */
export async function writeFileAtomic(file: string, data: string | Buffer, mode = 0o644): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  const tmp = tempSibling(file);
  try {
    const fh = await open(tmp, "w", mode);
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, file);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

/** A temporary name beside `file` (same filesystem, so rename is atomic), hidden and unique. */
export function tempSibling(file: string): string {
  const rand = Math.random().toString(36).slice(2, 8);
  return path.join(path.dirname(file), `.${path.basename(file)}.tmp-${process.pid}-${rand}`);
}

export function isErrno(err: unknown, ...codes: string[]): err is NodeJS.ErrnoException {
  return err instanceof Error && codes.includes((err as NodeJS.ErrnoException).code ?? "");
}
