import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from "node:crypto";
import { existsSync } from "node:fs";
import { chmod, open, readFile, rename, rm, stat } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { EnvironmentError, UsageError } from "../errors.js";
import type { Emit } from "../events.js";
import { tempSibling } from "../util/fs.js";
import { keyId } from "./signature.js";

/*
 * Key files are PEM, as OpenSSL writes them, so `openssl genpkey -algorithm ed25519` makes a
 * usable one too: the private key PKCS#8 ("BEGIN PRIVATE KEY", mode 0600), the public key
 * SPKI ("BEGIN PUBLIC KEY"). docs/security.md documents them.
 */

export interface LoadedKey {
  key: KeyObject;
  id: string;
  file: string;
}

/** Key paths in the config are relative to the config file's directory; `~/` is the home directory. */
export function resolveKeyPath(p: string, baseDir: string): string {
  return p.startsWith("~/") ? path.join(os.homedir(), p.slice(2)) : path.resolve(baseDir, p);
}

/** Read an ed25519 private key; one readable by group or others is signed with, after a warning. */
export async function loadPrivateKey(file: string, where: string, emit: Emit): Promise<LoadedKey> {
  const pem = await readKeyFile(file, where, "a private key written by `slipway keygen`");
  let key: KeyObject;
  try {
    key = createPrivateKey(pem);
  } catch (err) {
    throw new EnvironmentError(`${where}: ${file} is not a PEM private key (${(err as Error).message})`, "give the .key file written by `slipway keygen`");
  }
  if (key.asymmetricKeyType !== "ed25519") {
    throw new EnvironmentError(`${where}: ${file} is an ${key.asymmetricKeyType} key, not ed25519`, "make one with `slipway keygen --out PREFIX`");
  }
  const mode = (await stat(file)).mode & 0o777;
  if (mode & 0o077) {
    emit({
      type: "log",
      level: "warn",
      message: `${file}: the signing key is readable by ${mode & 0o007 ? "others" : "its group"} (mode 0${mode.toString(8)}); run \`chmod 600 ${file}\``,
    });
  }
  return { key, id: keyId(key), file };
}

/** Read an ed25519 public key (a trusted key). A private key here is refused: it must not be spread to deployers. */
export async function loadPublicKey(file: string, where: string): Promise<LoadedKey> {
  const pem = await readKeyFile(file, where, "the .pub file written by `slipway keygen`");
  if (/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(pem)) {
    throw new EnvironmentError(
      `${where}: ${file} is a private key`,
      "list the public half (the .pub file) in deploy.trusted_keys, and keep the private key on the build machine",
    );
  }
  let key: KeyObject;
  try {
    key = createPublicKey(pem);
  } catch (err) {
    throw new EnvironmentError(`${where}: ${file} is not a PEM public key (${(err as Error).message})`, "give the .pub file written by `slipway keygen`");
  }
  if (key.asymmetricKeyType !== "ed25519") {
    throw new EnvironmentError(`${where}: ${file} is an ${key.asymmetricKeyType} key, not ed25519`, "give the .pub file written by `slipway keygen`");
  }
  return { key, id: keyId(key), file };
}

async function readKeyFile(file: string, where: string, what: string): Promise<string> {
  try {
    const text = await readFile(file, "utf8");
    if (text.length > 16 * 1024) throw new Error("larger than 16 KiB");
    return text;
  } catch (err) {
    throw new EnvironmentError(`${where}: cannot read ${file}: ${(err as Error).message}`, `give the path of ${what}`);
  }
}

export interface KeyPair {
  key_id: string;
  private_key: string;
  public_key: string;
}

/**
 * Write PREFIX.key (mode 0600) and PREFIX.pub. Refuses to replace existing files unless
 * `overwrite`; each file appears whole (written beside it, then renamed).
 */
export async function writeKeyPair(prefix: string, overwrite: boolean): Promise<KeyPair> {
  const privateFile = `${prefix}.key`;
  const publicFile = `${prefix}.pub`;
  const existing = [privateFile, publicFile].filter((f) => existsSync(f));
  if (existing.length && !overwrite) {
    throw new UsageError(
      `${existing.join(" and ")} already exist${existing.length === 1 ? "s" : ""}`,
      "choose another --out PREFIX, or pass --yes to replace the key pair",
    );
  }
  if (!existsSync(path.dirname(path.resolve(privateFile)))) {
    throw new UsageError(
      `--out ${prefix}: the directory ${path.dirname(path.resolve(privateFile))} does not exist`,
      "create it first, or choose another --out PREFIX",
    );
  }
  const { privateKey, publicKey } = generateKeyPairSync("ed25519");
  await writeExclusive(privateFile, privateKey.export({ format: "pem", type: "pkcs8" }).toString(), 0o600);
  await writeExclusive(publicFile, publicKey.export({ format: "pem", type: "spki" }).toString(), 0o644);
  return { key_id: keyId(publicKey), private_key: path.resolve(privateFile), public_key: path.resolve(publicFile) };
}

/** Create a temp file with `mode` from the start (never briefly world-readable), then rename it into place. */
async function writeExclusive(file: string, text: string, mode: number): Promise<void> {
  const tmp = tempSibling(file);
  try {
    const fh = await open(tmp, "wx", mode);
    try {
      await fh.writeFile(text);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await chmod(tmp, mode); // the umask may have taken bits away from a public key; never adds any
    await rename(tmp, file);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}
