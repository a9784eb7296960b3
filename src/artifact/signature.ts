import { createHash, createPublicKey, sign, verify, type KeyObject } from "node:crypto";
import * as z from "zod";

/**
 * The `slipway.json.sig` member (docs/artifact-format.md): ed25519 over the manifest's exact
 * bytes — which carry every layer's sha256 and size, so the signature covers the whole
 * artifact. It names the key (and carries its public half) so `inspect` can say who signed;
 * whether that key is trusted is decided only by `deploy.trusted_keys`.
 */
export const SIGNATURE_FORMAT = 1;
const MAX_SIGNATURE_BYTES = 4096;

const base64 = (bytes: number) =>
  z
    .string()
    .regex(/^[A-Za-z0-9+/]+={0,2}$/, { error: "must be base64" })
    .refine((s) => Buffer.from(s, "base64").length === bytes, {
      error: `must decode to ${bytes} bytes`,
    });

const signatureSchema = z.strictObject({
  format: z.literal(SIGNATURE_FORMAT),
  algorithm: z.literal("ed25519"),
  key_id: z.string().regex(/^[0-9a-f]{16}$/, { error: "must be 16 lower-case hex digits" }),
  public_key: base64(32),
  signature: base64(64),
});

export type SignatureInfo = z.infer<typeof signatureSchema>;

/** A short, stable name for a public key: the first 16 hex digits of sha256 over its 32 raw bytes. */
export function keyId(key: KeyObject): string {
  return createHash("sha256").update(rawPublicKey(key)).digest("hex").slice(0, 16);
}

export function rawPublicKey(key: KeyObject): Buffer {
  const pub = key.type === "private" ? createPublicKey(key) : key;
  return Buffer.from(pub.export({ format: "jwk" }).x!, "base64url");
}

/** The signature member's bytes for `manifest`, signed with an ed25519 private key. */
export function signManifest(manifest: Buffer, privateKey: KeyObject): Buffer {
  const info: SignatureInfo = {
    format: SIGNATURE_FORMAT,
    algorithm: "ed25519",
    key_id: keyId(privateKey),
    public_key: rawPublicKey(privateKey).toString("base64"),
    signature: sign(null, manifest, privateKey).toString("base64"),
  };
  return Buffer.from(JSON.stringify(info, null, 2) + "\n");
}

/** Parse the member strictly; a problem comes back as text for the caller to place. */
export function parseSignature(bytes: Buffer): SignatureInfo | string {
  if (bytes.length > MAX_SIGNATURE_BYTES) return `is larger than ${MAX_SIGNATURE_BYTES} bytes`;
  let raw: unknown;
  try {
    raw = JSON.parse(bytes.toString("utf8"));
  } catch {
    return "is not JSON";
  }
  const parsed = signatureSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    return `is invalid at ${issue.path.join(".") || "(top)"}: ${issue.message}`;
  }
  let key: KeyObject;
  try {
    key = publicKeyFromRaw(Buffer.from(parsed.data.public_key, "base64"));
  } catch {
    return "carries a public key that is not an ed25519 key";
  }
  if (keyId(key) !== parsed.data.key_id) return `names key ${parsed.data.key_id} but carries the public key ${keyId(key)}`;
  return parsed.data;
}

/** True when `info.signature` is `key`'s signature over `manifest` (key defaults to the one the member carries). */
export function signatureMatches(manifest: Buffer, info: SignatureInfo, key?: KeyObject): boolean {
  const pub = key ?? publicKeyFromRaw(Buffer.from(info.public_key, "base64"));
  try {
    return verify(null, manifest, pub, Buffer.from(info.signature, "base64"));
  } catch {
    return false;
  }
}

function publicKeyFromRaw(raw: Buffer): KeyObject {
  return createPublicKey({ key: { kty: "OKP", crv: "Ed25519", x: raw.toString("base64url") }, format: "jwk" });
}
