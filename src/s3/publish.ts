/**
 * Pull mode from an S3 store, the deployer's side (docs/distribution.md): before any host is
 * changed, the store gets the artifact's layers it lacks (push.ts), and each pulling host is
 * later given, per layer it lacks, a presigned GET URL made when it is staged — short-lived,
 * read-only for that one key — with the sha256 the deployer verified, which the host checks.
 */
import { GetObjectCommand, getSignedUrl } from "./sdk.js";
import type { Manifest } from "../artifact/manifest.js";
import type { PullLayers, PulledLayer } from "../deploy/fetch.js";
import type { Emit } from "../events.js";
import { fromSdk } from "./errors.js";
import { s3Store } from "./client.js";
import { pushS3 } from "./push.js";

/** How long a presigned URL is good for: it only has to start the host's download (S3 checks it then). */
export const PRESIGN_SECONDS = 300;

export async function publishToS3(o: {
  cwd: string;
  artifact: string;
  /** s3://BUCKET/PREFIX (source.s3). */
  s3: string;
  m: Manifest;
  env?: NodeJS.ProcessEnv;
  emit: Emit;
}): Promise<PullLayers & { blobsSent: number }> {
  const env = o.env ?? process.env;
  const store = await s3Store(env);
  const pushed = await pushS3({ cwd: o.cwd, artifact: o.artifact, to: o.s3, env, emit: o.emit, store });
  const secrets = [env["AWS_SECRET_ACCESS_KEY"] ?? "", env["AWS_SESSION_TOKEN"] ?? ""];
  const layer = (name: "venv" | "code"): PulledLayer => {
    const info = o.m.layers.find((l) => l.name === name)!;
    const blob = pushed.blobs.find((b) => b.name === name)!;
    return {
      digest: info.sha256,
      size: info.size,
      exclude: [],
      compression: info.compression,
      presign: async () => {
        try {
          return await getSignedUrl(store.client, new GetObjectCommand({ Bucket: pushed.bucket, Key: blob.key }), { expiresIn: PRESIGN_SECONDS });
        } catch (err) {
          throw fromSdk(err, `s3://${pushed.bucket}/${blob.key} at ${store.name}`, "presign", secrets);
        }
      },
    };
  };
  return { source: { blobs: "" }, venv: layer("venv"), code: layer("code"), blobsSent: pushed.blobs.filter((b) => !b.skipped).length };
}
