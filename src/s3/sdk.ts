/**
 * The parts of the AWS SDK slipway uses, in one place. The CLI bundle (scripts/postbuild.mjs)
 * bundles this file on its own, as dist/s3-sdk.cjs, which only S3 commands load: the SDK is half
 * the CLI's code, and every other command would read it at start-up.
 */
export { GetObjectCommand, HeadBucketCommand, HeadObjectCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
export { getSignedUrl } from "@aws-sdk/s3-request-presigner";
