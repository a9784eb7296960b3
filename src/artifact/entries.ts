import { Writable } from "node:stream";
import tar from "tar-stream";
import { decompressor, type Compression } from "./compress.js";
import { EntryProblem, EntryRules, type LayerRules } from "./entry-rules.js";
import type { LayerInfo, Manifest } from "./manifest.js";

export { EntryProblem } from "./entry-rules.js";

/** Leading bytes of a zstd frame and a gzip (deflate) member. */
const MAGIC: Record<Compression, Buffer> = {
  zstd: Buffer.from([0x28, 0xb5, 0x2f, 0xfd]),
  gzip: Buffer.from([0x1f, 0x8b, 0x08]),
};

/** The rules for one of a manifest's layers: its declared totals, reserved names, the interpreter link. */
export function rulesFor(m: Manifest, layer: LayerInfo): LayerRules {
  const venv = layer.name === "venv";
  const py = m.env.python;
  return {
    layer: layer.name,
    unpackedSize: layer.unpacked_size,
    files: layer.files,
    allowedTargets: venv ? [...new Set([py.configured, py.executable].filter((p) => p.startsWith("/")))] : [],
    // The host adds these itself: slipway.json and the venv link to a release, the marker to a venv.
    reserved: venv ? [".slipway-complete"] : ["slipway.json", "virtualenv"],
  };
}

export interface LayerCheck {
  /** Write the compressed layer here, then end it. Accepts (and drops) data after a failure. */
  input: Writable;
  /** Resolves with the totals once the whole layer passed; rejects with an EntryProblem. */
  result: Promise<{ entries: number; bytes: number }>;
  /** Stop early (the caller found the layer bad some other way). */
  abort(): void;
}

/**
 * Check a layer's entries as it streams past: decompress, parse with tar-stream and apply
 * EntryRules to every header, without writing anything anywhere. Decompression is cut off
 * as soon as the output outgrows what the entries seen so far can explain (a bomb).
 */
export function checkLayer(compression: Compression, layerRules: LayerRules): LayerCheck {
  const rules = new EntryRules(layerRules);
  const codec = decompressor(compression);
  const extract = tar.extract();
  const exited = codec.done.then(
    () => undefined,
    (err: Error) => err,
  );
  let stopped: Error | undefined;
  let settled = false;
  let blocked: (() => void) | undefined;
  const sniff = sniffer(compression);
  // Once the verdict is in, the input only drops data: a writer waiting on it is let go.
  const release = () => {
    const cb = blocked;
    blocked = undefined;
    cb?.();
  };
  const stop = (err: Error) => {
    if (stopped) return;
    stopped = err;
    codec.input.destroy();
    codec.output.destroy();
    extract.destroy(err);
    release();
  };

  const input = new Writable({
    write(chunk: Buffer, _enc, cb) {
      if (stopped || settled) return cb();
      const problem = sniff.feed(chunk);
      if (problem) {
        stop(new EntryProblem(problem));
        return cb();
      }
      if (codec.input.write(chunk)) return cb();
      blocked = cb;
      codec.input.once("drain", () => {
        if (blocked !== cb) return;
        blocked = undefined;
        cb();
      });
    },
    final(cb) {
      const problem = stopped ? undefined : sniff.end();
      if (problem) stop(new EntryProblem(problem));
      if (!stopped) codec.input.end();
      cb();
    },
  });

  const result = (async () => {
    let seen = 0;
    codec.output.on("data", (chunk: Buffer) => {
      seen += chunk.length;
      if (seen > rules.streamAllowance()) {
        stop(new EntryProblem(`decompresses to more than its entries account for (over ${seen} bytes): a decompression bomb`));
      }
    });
    // Whether the decompressor finished or failed by itself (zlib fails its stream; zstd ends it and exits non-zero).
    let ended = false;
    let failed: Error | undefined;
    codec.output.on("end", () => (ended = true));
    codec.output.on("error", (err: Error) => {
      failed ??= err;
      extract.destroy(err);
    });
    codec.output.pipe(extract as unknown as NodeJS.WritableStream);
    try {
      for await (const entry of extract) {
        // tar-stream folds a pax global header into later entries where GNU tar applies it to every one: refuse it.
        if ((extract as unknown as { _paxGlobal: unknown })._paxGlobal) throw new EntryProblem("has a pax global header, which slipway never writes");
        const h = entry.header;
        rules.add({
          name: h.name,
          type: h.type ?? null,
          mode: h.mode ?? 0,
          size: h.size ?? 0,
          linkname: h.linkname,
          pax: h.pax as Record<string, string> | undefined,
        });
        (entry as unknown as NodeJS.ReadableStream).resume();
      }
    } catch (err) {
      const first = stopped ?? (err instanceof EntryProblem ? err : undefined);
      stop(first ?? (err as Error));
      if (first) throw first;
      // When the stream ended early, the decompressor usually gave up first: its reason is the better one.
      const gaveUp = failed ? problemOf(failed, compression) : ended ? await decompressionProblem(exited, compression) : undefined;
      throw gaveUp ?? new EntryProblem(`is not a valid tar stream: ${(err as Error).message}`);
    }
    if (stopped) throw stopped;
    const gaveUp = await decompressionProblem(exited, compression);
    if (gaveUp) throw gaveUp;
    return rules.finish();
  })();
  result
    .catch(() => {})
    .finally(() => {
      settled = true;
      release();
    }); // the caller observes the result; this only frees the input
  return { input, result, abort: () => stop(new EntryProblem("was not checked")) };
}

async function decompressionProblem(exited: Promise<Error | undefined>, compression: Compression): Promise<EntryProblem | undefined> {
  const err = await exited;
  return err && problemOf(err, compression);
}

function problemOf(err: Error, compression: Compression): EntryProblem {
  const reason = err.message
    .replace(/^zstd exited with \d+: /, "")
    .replace(/^zstd: /, "")
    .split("\n")[0]!
    .trim();
  return new EntryProblem(`is not valid ${compression} data (truncated or corrupt): ${reason || "decompression failed"}`);
}

/** Check the first bytes against the declared compression, so a plain tar or another format is named as such. */
function sniffer(compression: Compression) {
  const magic = MAGIC[compression];
  let head = Buffer.alloc(0);
  let done = false;
  const verdict = () => {
    done = true;
    return head.subarray(0, magic.length).equals(magic)
      ? undefined
      : `is not ${compression} data (it starts with ${head.subarray(0, 8).toString("hex") || "nothing"})`;
  };
  return {
    feed(chunk: Buffer): string | undefined {
      if (done) return undefined;
      head = Buffer.concat([head, chunk.subarray(0, 8 - head.length)]);
      return head.length >= magic.length ? verdict() : undefined;
    },
    end: (): string | undefined => (done ? undefined : verdict()),
  };
}
