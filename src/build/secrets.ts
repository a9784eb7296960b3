import { closeSync, openSync, readSync } from "node:fs";
import path from "node:path";
import picomatch from "picomatch";
import { SlipwayError, ExitCode } from "../errors.js";
import type { TreeEntry } from "./tree.js";

/**
 * File names that hold secrets far more often than not. Matched against the base name; a
 * file that really belongs in the release is let through by name with `build.allow`.
 */
const SECRET_NAMES = [
  ".env",
  ".env.*",
  "*.pem",
  "*.key",
  "id_rsa*",
  "id_dsa*",
  "id_ecdsa*",
  "id_ed25519*",
  "*.p12",
  "*.pfx",
  ".netrc",
  ".pgpass",
  "credentials.json",
  "*.kdbx",
];
/** Templates that name the variables without their values. */
const NOT_SECRET_NAMES = [".env.example", ".env.sample", ".env.template", "*.pub"];

/** Files up to this size are read for a private key block; keys are a few KiB. */
const SNIFF_BYTES = 64 * 1024;
const PRIVATE_KEY = /-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----/;

export interface SecretFinding {
  rel: string;
  why: string;
}

/** The code layer would hold secrets (exit 2: the build's input must change). */
export class SecretsError extends SlipwayError {
  override readonly exitCode = ExitCode.usage;
  constructor(readonly findings: readonly SecretFinding[]) {
    super(
      `the code layer would hold ${findings.length} file(s) that look like secrets — nothing was written:\n` +
        findings.map((f) => `  ${f.rel}: ${f.why}`).join("\n"),
      "keep secrets out of the repository (a linked file, deploy.linked_files, puts one on each host); " +
        "if a file is not a secret, list its path in build.allow",
    );
  }
}

const isSecretName = picomatch(SECRET_NAMES, { dot: true, basename: true });
const isTemplateName = picomatch(NOT_SECRET_NAMES, { dot: true, basename: true });

/** Pure: whether a path's name marks it as a secret. */
export function secretByName(rel: string): boolean {
  return isSecretName(rel) && !isTemplateName(rel);
}

/** Pure: whether a small file's bytes hold a private key block (binary files are not read as text). */
export function secretByContent(head: Buffer): boolean {
  if (head.includes(0)) return false;
  return PRIVATE_KEY.test(head.toString("latin1"));
}

/**
 * Every file of the tree `dir` (its layer `entries`) that looks like a secret, by name or by
 * content, except the paths `allow` names (globs, matched from the layer's top).
 */
export async function findSecrets(dir: string, entries: readonly TreeEntry[], allow: readonly string[]): Promise<SecretFinding[]> {
  const allowed = allow.length
    ? picomatch(
        allow.map((a) => a.replace(/^\.\//, "")),
        { dot: true },
      )
    : () => false;
  const found: SecretFinding[] = [];
  for (const e of entries) {
    if (e.type !== "file" || allowed(e.rel)) continue;
    if (secretByName(e.rel)) found.push({ rel: e.rel, why: `its name (${path.posix.basename(e.rel)}) is a secret's` });
    else if (e.size > 0 && e.size <= SNIFF_BYTES && secretByContent(readHead(path.join(dir, e.rel), e.size))) {
      found.push({ rel: e.rel, why: "it holds a private key (-----BEGIN … PRIVATE KEY-----)" });
    }
  }
  return found;
}

/** Synchronous: a code tree is many small files, and an awaited open/read/close per file costs more than the read. */
function readHead(file: string, size: number): Buffer {
  const fd = openSync(file, "r");
  try {
    const buf = Buffer.alloc(Math.min(size, SNIFF_BYTES));
    return buf.subarray(0, readSync(fd, buf, 0, buf.length, 0));
  } finally {
    closeSync(fd);
  }
}
