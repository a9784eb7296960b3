/**
 * `s3://BUCKET/PREFIX` (docs/distribution.md): where `slipway push --to` stores an artifact's
 * layers by content and its manifest by build id, and where pulling hosts read them.
 */
import { UsageError } from "../errors.js";

export interface S3Location {
  bucket: string;
  /** Without leading or trailing slash; "" for the bucket's top. */
  prefix: string;
}

// S3's bucket naming rules (the strict, DNS-compatible ones every S3-compatible store accepts).
const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
// Key prefix parts: S3's "safe characters", no empty, `.` or `..` part.
const PART = /^[A-Za-z0-9!_.*'()-]+$/;
const EXAMPLE = "e.g. s3://artifacts/ledger (bucket artifacts, keys under ledger/)";

/** `where` names the flag or config key in errors (default --to). */
export function parseS3Url(url: string, where = "--to"): S3Location {
  const m = /^s3:\/\/([^/]*)(?:\/(.*))?$/.exec(url);
  if (!m) throw new UsageError(`${where} ${JSON.stringify(url)}: expected s3://BUCKET/PREFIX`, EXAMPLE);
  const bucket = m[1]!;
  if (bucket.includes("@") || bucket.includes(":"))
    throw new UsageError(
      `${where} must not carry credentials or a port`,
      "credentials come from the AWS environment (AWS_ACCESS_KEY_ID, AWS_PROFILE…), the endpoint from AWS_ENDPOINT_URL_S3",
    );
  if (!BUCKET.test(bucket) || bucket.includes("..") || /^\d+\.\d+\.\d+\.\d+$/.test(bucket))
    throw new UsageError(`${where} ${JSON.stringify(url)}: ${JSON.stringify(bucket)} is not a bucket name (3-63 of a-z 0-9 . -)`, EXAMPLE);
  const prefix = (m[2] ?? "").replace(/\/+$/, "");
  const badPart = (p: string) => !PART.test(p) || p === "." || p === "..";
  if (prefix !== "" && prefix.split("/").some(badPart))
    throw new UsageError(
      `${where} ${JSON.stringify(url)}: ${JSON.stringify(prefix)} is not a key prefix (parts of A-Z a-z 0-9 ! _ . * ' ( ) - separated by /; no empty, . or .. part)`,
      EXAMPLE,
    );
  return { bucket, prefix };
}

export function s3Url(loc: S3Location): string {
  return `s3://${loc.bucket}${loc.prefix ? `/${loc.prefix}` : ""}`;
}

function under(loc: S3Location, key: string): string {
  return loc.prefix ? `${loc.prefix}/${key}` : key;
}

/** A layer, by the sha256 (hex) of its bytes: the same venv layer is stored once for every build. */
export function blobKey(loc: S3Location, sha256: string): string {
  if (!/^[0-9a-f]{64}$/.test(sha256)) throw new Error(`not a sha256 hex digest: ${sha256}`);
  return under(loc, `blobs/sha256/${sha256}`);
}

/** A build's manifest (slipway.json); its signature, if signed, at the same key plus `.sig`. */
export function manifestKey(loc: S3Location, buildId: string): string {
  return under(loc, `manifests/${buildId}.json`);
}
