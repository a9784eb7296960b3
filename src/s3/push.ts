/**
 * `slipway push ARTIFACT --to s3://BUCKET/PREFIX`: the artifact's layers stored by content at
 * PREFIX/blobs/sha256/<hex> — a layer already there with the same size is not sent again, so an
 * unchanged venv is stored once for every build — then its manifest at
 * PREFIX/manifests/<build_id>.json (and the signature beside it, `.json.sig`), last, so a
 * manifest in the store means its layers are there. The artifact is verified first, as
 * `slipway push --to oci://` and `deploy` verify it.
 */
import { existsSync } from "node:fs";
import path from "node:path";
import { pipeline, Transform } from "node:stream";
import { HeadBucketCommand, HeadObjectCommand, PutObjectCommand } from "./sdk.js";
import { openMember, readHead } from "../artifact/read.js";
import { verifyArtifact } from "../artifact/verify.js";
import { UsageError } from "../errors.js";
import { silent, timed, type Emit } from "../events.js";
import { fromSdk } from "./errors.js";
import { s3Store, type S3Store } from "./client.js";
import { blobKey, manifestKey, parseS3Url, s3Url } from "./url.js";

export interface PushS3Options {
  cwd: string;
  artifact: string;
  /** s3://BUCKET/PREFIX */
  to: string;
  env?: NodeJS.ProcessEnv;
  emit?: Emit;
  /** A client made already (client.ts s3Store); default: one from the environment. */
  store?: S3Store;
}

export interface PushS3Result {
  /** s3://BUCKET/PREFIX */
  url: string;
  bucket: string;
  /** The endpoint's origin, or "AWS S3 (REGION)". */
  store: string;
  build_id: string;
  manifest: string;
  signature?: string;
  blobs: { name: "venv" | "code"; sha256: string; key: string; size: number; skipped: boolean }[];
}

// Progress events at most every this many bytes.
const PROGRESS_STEP = 1 << 20;

export async function pushS3(opts: PushS3Options): Promise<PushS3Result> {
  const emit = opts.emit ?? silent;
  const env = opts.env ?? process.env;
  const loc = parseS3Url(opts.to);
  const file = path.resolve(opts.cwd, opts.artifact);
  if (!existsSync(file)) throw new UsageError(`${opts.artifact}: no such file`, "give the path of a .tar built by `slipway build`");
  const store = opts.store ?? (await s3Store(env));
  const url = s3Url(loc);
  const where = (key?: string) => `${key ? `s3://${loc.bucket}/${key}` : url} at ${store.name}`;
  const secrets = [env["AWS_SECRET_ACCESS_KEY"] ?? "", env["AWS_SESSION_TOKEN"] ?? ""];
  const send = async <T>(step: Parameters<typeof fromSdk>[2], key: string | undefined, run: () => Promise<T>): Promise<T> => {
    try {
      return await run();
    } catch (err) {
      throw fromSdk(err, where(key), step, secrets);
    }
  };
  // Reachable, and the bucket there and ours to use, before the artifact is read in full.
  await send("check the bucket", undefined, () => store.client.send(new HeadBucketCommand({ Bucket: loc.bucket })));
  const head = await readHead(file);
  const m = head.manifest;
  await timed(emit, "verify", () => verifyArtifact(file, { head }));

  const blobs: PushS3Result["blobs"] = [];
  for (const layer of [...m.layers].sort((a, b) => (a.name === "venv" ? -1 : b.name === "venv" ? 1 : 0))) {
    const key = blobKey(loc, layer.sha256);
    const there = await send("check a blob", key, () => headSize(store, loc.bucket, key));
    if (there === layer.size) {
      emit({ type: "log", level: "info", message: `${layer.name} layer sha256:${layer.sha256} already in ${url}` });
      blobs.push({ name: layer.name, sha256: layer.sha256, key, size: layer.size, skipped: true });
      continue;
    }
    if (there !== undefined) emit({ type: "log", level: "warn", message: `${where(key)} is ${there} bytes, not ${layer.size}: sending the layer again` });
    emit({ type: "transfer", host: url, layer: layer.name, sent: 0, total: layer.size });
    const body = counter((sent) => emit({ type: "transfer", host: url, layer: layer.name, sent, total: layer.size }));
    // A read error ends the upload with it (pipeline destroys the body with the error).
    pipeline(openMember(file, layer.member), body, () => {});
    await send("upload a blob", key, () => putObject(store, loc.bucket, key, body, layer.size, "application/octet-stream", layer.sha256));
    emit({ type: "transfer", host: url, layer: layer.name, sent: layer.size, total: layer.size });
    blobs.push({ name: layer.name, sha256: layer.sha256, key, size: layer.size, skipped: false });
  }

  let signature: string | undefined;
  if (head.signature) {
    signature = `${manifestKey(loc, m.build_id)}.sig`;
    const sig = head.signature;
    await send("upload the signature", signature, () => putObject(store, loc.bucket, signature!, sig, sig.length, "application/octet-stream"));
  }
  // The manifest last: its presence says the build's layers are all in the store.
  const manifest = manifestKey(loc, m.build_id);
  await send("upload the manifest", manifest, () => putObject(store, loc.bucket, manifest, head.manifestBytes, head.manifestBytes.length, "application/json"));
  emit({ type: "transfer", host: url, layer: "manifest", sent: head.manifestBytes.length, total: head.manifestBytes.length });
  const sent = blobs.filter((b) => !b.skipped).length;
  emit({ type: "log", level: "info", message: `pushed ${m.build_id} to ${url} at ${store.name}: ${sent} layer(s) sent, ${blobs.length - sent} already there` });
  return { url, bucket: loc.bucket, store: store.name, build_id: m.build_id, manifest, signature, blobs };
}

/** The object's size, or undefined when there is none. */
async function headSize(store: S3Store, bucket: string, key: string): Promise<number | undefined> {
  try {
    const r = await store.client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
    return r.ContentLength ?? 0;
  } catch (err) {
    if ((err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 404) return undefined;
    throw err;
  }
}

/**
 * One PUT. With `sha256` (hex) the request is signed over the body's real hash (x-amz-content-sha256)
 * instead of UNSIGNED-PAYLOAD, which the SDK would use for a stream: a store that checks it
 * refuses bytes that changed on the way.
 */
async function putObject(
  store: S3Store,
  bucket: string,
  key: string,
  body: Buffer | NodeJS.ReadableStream,
  size: number,
  contentType: string,
  sha256?: string,
): Promise<void> {
  const cmd = new PutObjectCommand({ Bucket: bucket, Key: key, Body: body as Buffer, ContentLength: size, ContentType: contentType });
  if (sha256)
    cmd.middlewareStack.add(
      (next) => async (args) => {
        const req = args.request as { headers?: Record<string, string> };
        if (req.headers) req.headers["x-amz-content-sha256"] = sha256;
        return next(args);
      },
      { step: "build", name: "slipwayContentSha256" },
    );
  await store.client.send(cmd);
}

function counter(onProgress: (sent: number) => void): Transform {
  let sent = 0;
  let reported = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, done) {
      sent += chunk.length;
      if (sent - reported >= PROGRESS_STEP) {
        reported = sent;
        onProgress(sent);
      }
      done(null, chunk);
    },
  });
}
