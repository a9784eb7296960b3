import { ArtifactError } from "../errors.js";
import type { LoadedKey } from "./keys.js";
import { SIGNATURE_MEMBER } from "./manifest.js";
import type { ArtifactHead } from "./read.js";
import { parseSignature, signatureMatches, type SignatureInfo } from "./signature.js";

const REBUILD = "do not deploy it: rebuild it with `slipway build --sign KEY` and copy it again";

/**
 * The artifact's own signature, if it has one: well-formed, and made by the key it names over
 * these exact manifest bytes. Says nothing about trust (see `checkTrust`).
 */
export function checkSignature(file: string, head: ArtifactHead): SignatureInfo | undefined {
  if (!head.signature) return undefined;
  const info = parseSignature(head.signature);
  if (typeof info === "string") throw new ArtifactError(`${file}: ${SIGNATURE_MEMBER} ${info}`, REBUILD);
  if (!signatureMatches(head.manifestBytes, info)) {
    throw new ArtifactError(
      `${file}: the signature in ${SIGNATURE_MEMBER} (key ${info.key_id}) does not match slipway.json: the manifest or the signature was modified`,
      REBUILD,
    );
  }
  return info;
}

/**
 * SPEC §1: with `deploy.trusted_keys` set, only an artifact signed by one of them is deployed;
 * the signature is checked with the trusted key's bytes, not the ones the artifact carries.
 */
export function checkTrust(file: string, head: ArtifactHead, trusted: readonly LoadedKey[]): { key_id: string; trusted: boolean } | undefined {
  const info = checkSignature(file, head);
  if (trusted.length === 0) return info && { key_id: info.key_id, trusted: false };
  const ids = trusted.map((k) => k.id).join(", ");
  if (!info) {
    throw new ArtifactError(
      `${file} is not signed, and deploy.trusted_keys requires a signature from one of: ${ids}`,
      "build it with `slipway build --sign KEY` (or build.signing_key) using a key whose .pub is in deploy.trusted_keys",
    );
  }
  const key = trusted.find((k) => k.id === info.key_id);
  if (!key) {
    throw new ArtifactError(
      `${file} is signed by key ${info.key_id}, which is not in deploy.trusted_keys (${ids})`,
      "rebuild it with a trusted key, or add that key's .pub to deploy.trusted_keys if you trust whoever holds it",
    );
  }
  if (!signatureMatches(head.manifestBytes, info, key.key)) {
    throw new ArtifactError(`${file}: the signature does not verify with the trusted key ${key.id} (${key.file})`, REBUILD);
  }
  return { key_id: info.key_id, trusted: true };
}
