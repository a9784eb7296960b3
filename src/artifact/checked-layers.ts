import { readFile } from "node:fs/promises";
import path from "node:path";
import { sha256 } from "../util/hash.js";
import { writeFileAtomic } from "../util/fs.js";
import { VERSION } from "../version.js";
import type { LayerRules } from "./entry-rules.js";

/** What a layer's entry check found. */
export interface LayerTotals {
  entries: number;
  bytes: number;
}

/**
 * A memo, by content, of layers that passed the entry checks on this machine: the key is a
 * hash of the layer's sha256, the rules it was checked under and slipway's version. Checking
 * is a pure function of those, so a layer whose bytes hash to a recorded sha256 needs no
 * second decompress-and-parse: a code-only deploy re-hashes its (unchanged) venv layer but
 * does not unpack it again. Records live in the cache dir (`checked/`); losing them only
 * costs a full check. `inspect --verify` never uses them.
 */
export class CheckedLayers {
  constructor(private readonly dir: string) {}

  private file(layerSha: string, rules: LayerRules): string {
    return path.join(this.dir, "checked", sha256(JSON.stringify({ v: VERSION, layerSha, rules })));
  }

  async lookup(layerSha: string, rules: LayerRules): Promise<LayerTotals | undefined> {
    try {
      const v = JSON.parse(await readFile(this.file(layerSha, rules), "utf8")) as Partial<LayerTotals>;
      return Number.isInteger(v.entries) && Number.isInteger(v.bytes) ? { entries: v.entries!, bytes: v.bytes! } : undefined;
    } catch {
      return undefined;
    }
  }

  /** Never fails the command: a memo that cannot be written is only a missed shortcut. */
  async record(layerSha: string, rules: LayerRules, totals: LayerTotals): Promise<void> {
    await writeFileAtomic(this.file(layerSha, rules), JSON.stringify(totals) + "\n").catch(() => undefined);
  }
}
