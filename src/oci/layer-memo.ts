/**
 * What an artifact layer became as an OCI layer (digest, size, diff_id), by a key naming the
 * artifact layer's sha256 and how it was rooted. Rerooting is a pure function of those, so a
 * recorded answer is the answer; a lost memo only costs making the layer again.
 */
import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { createHash, randomBytes } from "node:crypto";
import path from "node:path";
import type { OciLayer } from "./reroot.js";

export class LayerMemo {
  constructor(private readonly dir: string) {}

  private file(key: string): string {
    return path.join(this.dir, `${createHash("sha256").update(key).digest("hex")}.json`);
  }

  async lookup(key: string): Promise<OciLayer | undefined> {
    try {
      const v = JSON.parse(await readFile(this.file(key), "utf8")) as OciLayer & { key?: string };
      if (v.key !== key || !/^sha256:[0-9a-f]{64}$/.test(v.digest) || !/^sha256:[0-9a-f]{64}$/.test(v.diffId) || !Number.isSafeInteger(v.size))
        return undefined;
      return { digest: v.digest, size: v.size, diffId: v.diffId };
    } catch {
      return undefined;
    }
  }

  async record(key: string, layer: OciLayer): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    const dest = this.file(key);
    const tmp = `${dest}.${randomBytes(6).toString("hex")}.tmp`;
    await writeFile(tmp, JSON.stringify({ key, digest: layer.digest, size: layer.size, diffId: layer.diffId }));
    await rename(tmp, dest);
  }
}
