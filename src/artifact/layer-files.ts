import { pipeline } from "node:stream/promises";
import { Transform } from "node:stream";
import tar from "tar-stream";
import { decompressor } from "./compress.js";
import type { LayerInfo } from "./manifest.js";
import { openMember } from "./read.js";
import { largest, type SizedFile } from "../util/largest.js";

/**
 * The `count` largest regular files of one layer of an artifact, read from its tar headers.
 * Reading stops with an error once the layer unpacks to more than it declared (a bomb is
 * never expanded here either).
 */
export async function largestFilesOf(artifact: string, layer: LayerInfo, count: number): Promise<SizedFile[]> {
  const codec = decompressor(layer.compression);
  const extract = tar.extract();
  const files: SizedFile[] = [];
  extract.on("entry", (header, stream, next) => {
    if (header.type === "file") files.push({ rel: header.name.replace(/^\.\//, ""), size: header.size ?? 0 });
    // (An entry cut short by a failure errors too: the failure is reported once, by the pipeline.)
    stream.on("error", () => {});
    stream.on("end", next);
    stream.resume();
  });
  const limit = layer.unpacked_size + 1024 * 1024;
  let seen = 0;
  const bounded = new Transform({
    transform(chunk: Buffer, _enc, done) {
      seen += chunk.length;
      done(seen > limit ? new Error(`the ${layer.name} layer unpacks to more than its declared ${layer.unpacked_size} bytes`) : null, chunk);
    },
  });
  const member = openMember(artifact, layer.member);
  try {
    await Promise.all([pipeline(member, codec.input), pipeline(codec.output, bounded, extract), codec.done]);
  } catch (err) {
    for (const s of [member, codec.input, codec.output, bounded, extract]) s.destroy();
    throw err;
  }
  return largest(files, count);
}
