/**
 * What an S3 store said, as an error naming the store, the bucket or key and the step; never a
 * credential or a presigned URL's signature (redact below).
 */
import { EnvironmentError, SlipwayError } from "../errors.js";

export type S3Step = "check the bucket" | "check a blob" | "upload a blob" | "upload the manifest" | "upload the signature" | "presign";

/** The store answered with an error, or could not be reached (exit 1). */
export class S3StoreError extends SlipwayError {
  constructor(
    readonly where: string,
    readonly step: S3Step,
    readonly status: number | undefined,
    detail: string,
    hint?: string,
  ) {
    super(`${where}: ${step} failed${status ? ` (HTTP ${status})` : ""}: ${detail}`, hint);
  }
}

const CREDENTIALS_HINT =
  "check the credentials the AWS SDK finds (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE and ~/.aws/credentials) and that they may read and write this bucket";

interface SdkError {
  name?: string;
  message?: string;
  code?: string;
  Code?: string;
  $metadata?: { httpStatusCode?: number };
  cause?: unknown;
  errors?: unknown[];
}

/** Remove signatures and credentials from text that may quote a request (a URL, a header). */
export function redact(text: string, secrets: readonly string[] = []): string {
  let out = text
    .replace(/(X-Amz-Signature|Signature|X-Amz-Security-Token|X-Amz-Credential|AWSAccessKeyId)=[^&\s"']+/gi, "$1=REDACTED")
    .replace(/(?<![-\w])(Signature=|Credential=)[^,&\s"']+/g, "$1REDACTED");
  for (const s of secrets) if (s.length >= 4) out = out.split(s).join("REDACTED");
  return out;
}

/**
 * The SDK's error → a SlipwayError. `where` is "s3://bucket/key at ENDPOINT"; `secrets` are
 * removed from anything quoted. No credentials at all is the machine's setup (exit 2).
 */
export function fromSdk(err: unknown, where: string, step: S3Step, secrets: readonly string[] = []): SlipwayError {
  if (err instanceof SlipwayError) return err;
  const e = (err ?? {}) as SdkError;
  const name = e.name ?? "Error";
  if (name === "CredentialsProviderError")
    return new EnvironmentError(
      `${where}: no AWS credentials found for the S3 store`,
      "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE with ~/.aws/credentials (the AWS SDK's standard chain)",
    );
  const status = e.$metadata?.httpStatusCode;
  const code = e.Code ?? (name !== "Error" && name !== "Unknown" && !/^\d+$/.test(name) ? name : undefined);
  const detail = redact(`${code ? `${code}: ` : ""}${e.message && e.message !== "UnknownError" ? e.message : httpText(status)}`, secrets);
  if (status === undefined) {
    const net = networkCode(err);
    return new S3StoreError(
      where,
      step,
      undefined,
      redact(net ? `cannot reach the store (${net})` : detail, secrets),
      "check the endpoint (AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL) and that it is up",
    );
  }
  if (status === 401 || status === 403 || code === "InvalidAccessKeyId" || code === "SignatureDoesNotMatch" || code === "AccessDenied")
    return new S3StoreError(where, step, status, detail === httpText(status) ? "access denied" : detail, CREDENTIALS_HINT);
  if (code === "NoSuchBucket" || (step === "check the bucket" && status === 404))
    return new S3StoreError(
      where,
      step,
      status,
      "the bucket does not exist",
      "create it first (e.g. `aws s3 mb s3://BUCKET`), or fix the bucket in the s3:// URL",
    );
  return new S3StoreError(where, step, status, detail);
}

function httpText(status: number | undefined): string {
  return status ? `HTTP ${status}` : "no answer";
}

function networkCode(err: unknown): string | undefined {
  for (let e = err as SdkError | undefined, i = 0; e && i < 5; e = e.cause as SdkError | undefined, i++) {
    if (e.code && /^E[A-Z]+$/.test(e.code)) return e.code;
    const inner = e.errors?.[0] as SdkError | undefined; // AggregateError: every address of the name failed
    if (inner?.code) return inner.code;
    if (e.name === "TimeoutError") return "timed out";
  }
  return undefined;
}
