import { test } from "node:test";
import assert from "node:assert/strict";
import { secretByContent, secretByName } from "../../src/build/secrets.js";

test("secretByName: the names the guard refuses, and templates it lets through", () => {
  const secret = [
    ".env",
    "config/.env",
    ".env.production",
    "deploy/site.pem",
    "tls/server.key",
    "id_rsa",
    "keys/id_ed25519",
    "store.p12",
    "cert.pfx",
    ".netrc",
    "home/.pgpass",
    "credentials.json",
    "vault.kdbx",
    "id_ecdsa",
  ];
  const fine = [".env.example", ".env.sample", "id_rsa.pub", "environment.py", "keys.py", "monkey.txt", "pem.py", "app/credentials.py", "env"];
  for (const f of secret) assert.equal(secretByName(f), true, f);
  for (const f of fine) assert.equal(secretByName(f), false, f);
});

test("secretByContent: a PEM or OpenSSH private key block, not a public key, not binary", () => {
  const yes = [
    "-----BEGIN PRIVATE KEY-----\nMII",
    "x\n-----BEGIN RSA PRIVATE KEY-----\n",
    "-----BEGIN OPENSSH PRIVATE KEY-----",
    "-----BEGIN ENCRYPTED PRIVATE KEY-----",
    "-----BEGIN PGP PRIVATE KEY BLOCK-----",
  ];
  const no = ["-----BEGIN PUBLIC KEY-----", "-----BEGIN CERTIFICATE-----", "PRIVATE KEY without the dashes", ""];
  for (const t of yes) assert.equal(secretByContent(Buffer.from(t)), true, t);
  for (const t of no) assert.equal(secretByContent(Buffer.from(t)), false, t);
  assert.equal(
    secretByContent(Buffer.concat([Buffer.from([0, 1, 2]), Buffer.from("-----BEGIN PRIVATE KEY-----")])),
    false,
    "binary files are not read as text",
  );
});
