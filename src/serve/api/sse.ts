/**
 * A deploy's events as Server-Sent Events: the ones stored so far after `after`, then each as
 * it comes, then an `end` event with the deploy's final row. Frames were serialized once for
 * every viewer (live-events.ts); on Node they are written straight to the response socket,
 * one write per wake-up, so fifty viewers cost the server little more than one.
 */
import type { ServerResponse } from "node:http";
import type { Core } from "../core.js";

/** Where frames go: `write` resolves once the bytes are handed on (after a drain if needed). */
export interface SseSink {
  write(text: string): Promise<void>;
  readonly signal: AbortSignal;
}

const KEEP_ALIVE_MS = 15_000;

export async function streamDeployEvents(core: Core, id: number, after: number, sink: SseSink): Promise<void> {
  let seq = after;
  const keepAlive = setInterval(() => void sink.write(": keep-alive\n\n").catch(() => {}), KEEP_ALIVE_MS);
  keepAlive.unref();
  try {
    while (!sink.signal.aborted) {
      const batch = core.live.after(id, seq);
      if (batch.length) {
        let text = "";
        for (const e of batch) text += `id: ${e.seq}\nevent: event\ndata: ${e.frame}\n\n`;
        await sink.write(text);
        seq = batch.at(-1)!.seq;
      }
      if (core.live.finished(id) && core.live.after(id, seq).length === 0) {
        await sink.write(`event: end\ndata: ${JSON.stringify(core.reads.deploy(id))}\n\n`);
        return;
      }
      await core.reads.waitEvents(id, seq, sink.signal);
    }
  } finally {
    clearInterval(keepAlive);
  }
}

/** A Node response as an SSE sink: headers now, frames with backpressure, aborted when the client goes. */
export function nodeSink(res: ServerResponse): SseSink {
  const abort = new AbortController();
  res.on("close", () => abort.abort());
  res.writeHead(200, {
    "content-type": "text/event-stream; charset=utf-8",
    "cache-control": "no-cache",
    connection: "keep-alive",
    "x-accel-buffering": "no",
  });
  res.flushHeaders();
  return {
    signal: abort.signal,
    write: (text) =>
      new Promise<void>((resolve) => {
        if (abort.signal.aborted) return resolve();
        if (res.write(text)) return resolve();
        const done = () => {
          res.off("drain", done);
          abort.signal.removeEventListener("abort", done);
          resolve();
        };
        res.on("drain", done);
        abort.signal.addEventListener("abort", done);
      }),
  };
}
