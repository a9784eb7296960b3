/**
 * The output of one command as it arrives, in linear time and bounded memory: everything up
 * to `limit` bytes, beyond that only the last `limit` (what a message shows is the end), with
 * a note of how much was left out at the start.
 */
export class Kept {
  private chunks: Buffer[] = [];
  private size = 0;
  private dropped = 0;

  constructor(private readonly limit: number) {}

  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.size += chunk.length;
    while (this.size > this.limit) {
      const first = this.chunks[0]!;
      const over = this.size - this.limit;
      if (first.length <= over) {
        this.chunks.shift();
        this.size -= first.length;
        this.dropped += first.length;
      } else {
        this.chunks[0] = first.subarray(over);
        this.size -= over;
        this.dropped += over;
      }
    }
  }

  /** Bytes seen in all (kept or not). */
  get total(): number {
    return this.size + this.dropped;
  }

  text(): string {
    const body = Buffer.concat(this.chunks, this.size).toString("utf8");
    return this.dropped ? `[… the first ${this.dropped} bytes of this output were not kept …]\n${body}` : body;
  }
}

/** stdout is parsed by callers (listings, probes, health): kept whole up to a size no real step reaches. */
export const STDOUT_LIMIT = 64 << 20;
/** stderr only ever ends up in messages: its last MiB is plenty. */
export const STDERR_LIMIT = 1 << 20;
