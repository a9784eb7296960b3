/**
 * The S3 client: credentials and region from the AWS SDK's standard chain (AWS_ACCESS_KEY_ID /
 * AWS_SECRET_ACCESS_KEY, AWS_PROFILE and ~/.aws, instance roles…), and an S3-compatible
 * endpoint from AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL (the SDK's own variables, read here so
 * errors can name the store). A custom endpoint gets path-style addressing unless
 * SLIPWAY_S3_ADDRESSING=virtual: most S3-compatible stores (Swift, Ceph, MinIO) serve buckets as paths.
 */
import { S3Client } from "./sdk.js";
import { UsageError } from "../errors.js";

export interface S3Store {
  client: S3Client;
  /** What errors and logs call the store: the endpoint's origin, or "AWS S3 (REGION)". */
  name: string;
  endpoint?: string;
}

/** The pinned SDK runs on Node 20; its warning is about later releases, so it is not shown to users. */
function quietSdk(env: NodeJS.ProcessEnv): void {
  if (process.env["AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED"] === undefined && env["AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED"] === undefined)
    process.env["AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED"] = "true";
}

/** The endpoint from the environment, checked: http(s), no credentials or query in it. */
export function endpointOf(env: NodeJS.ProcessEnv): { url?: string; from?: string } {
  const from = env["AWS_ENDPOINT_URL_S3"] ? "AWS_ENDPOINT_URL_S3" : env["AWS_ENDPOINT_URL"] ? "AWS_ENDPOINT_URL" : undefined;
  if (!from) return {};
  const raw = env[from]!;
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new UsageError(`${from}=${JSON.stringify(raw)} is not a URL`, "e.g. AWS_ENDPOINT_URL_S3=https://s3.internal:8080");
  }
  if (u.protocol !== "http:" && u.protocol !== "https:") throw new UsageError(`${from}: ${u.protocol} is not http: or https:`, "e.g. https://s3.internal:8080");
  if (u.username || u.password) throw new UsageError(`${from} must not carry credentials`, "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY");
  if (u.search || u.hash) throw new UsageError(`${from} must not have a query or fragment`, "give the store's base URL only");
  return { url: raw.replace(/\/+$/, ""), from };
}

function pathStyle(env: NodeJS.ProcessEnv, endpoint: string | undefined): boolean {
  const v = env["SLIPWAY_S3_ADDRESSING"];
  if (v === undefined || v === "") return endpoint !== undefined;
  if (v === "path") return true;
  if (v === "virtual") return false;
  throw new UsageError(
    `SLIPWAY_S3_ADDRESSING=${JSON.stringify(v)}: expected path or virtual`,
    "path: http://ENDPOINT/BUCKET/KEY; virtual: http://BUCKET.ENDPOINT/KEY",
  );
}

export async function s3Store(env: NodeJS.ProcessEnv = process.env): Promise<S3Store> {
  quietSdk(env);
  const { url: endpoint } = endpointOf(env);
  const forcePathStyle = pathStyle(env, endpoint);
  // Checksums only where S3 requires them: the SDK's default (CRC trailers on every upload) is
  // not understood by every S3-compatible store; each layer is sent with its sha256 instead.
  const checksums = {
    ...(env["AWS_REQUEST_CHECKSUM_CALCULATION"] ? {} : { requestChecksumCalculation: "WHEN_REQUIRED" as const }),
    ...(env["AWS_RESPONSE_CHECKSUM_VALIDATION"] ? {} : { responseChecksumValidation: "WHEN_REQUIRED" as const }),
  };
  const region = await regionOf(endpoint);
  const client = new S3Client({ ...(endpoint ? { endpoint } : {}), ...(region ? { region } : {}), forcePathStyle, ...checksums });
  return { client, endpoint, name: endpoint ? new URL(endpoint).origin : `AWS S3 (${region ?? (await client.config.region())})` };
}

/**
 * The chain's region, if it has one. A custom endpoint without one gets us-east-1 (the signing
 * region S3-compatible stores expect by default); AWS itself needs a region set.
 */
async function regionOf(endpoint: string | undefined): Promise<string | undefined> {
  try {
    return await new S3Client({}).config.region();
  } catch {
    if (endpoint) return "us-east-1";
    throw new UsageError(
      "no AWS region: the S3 client needs one",
      "set AWS_REGION (or region in ~/.aws/config), or AWS_ENDPOINT_URL_S3 for an S3-compatible store",
    );
  }
}
