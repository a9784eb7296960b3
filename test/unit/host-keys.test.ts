// known_hosts lookups for kept ssh connections (transport/host-keys.ts): plain and hashed names,
// ports, markers; a changed key gives a different key list (so a different kept connection).
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHmac, randomBytes } from "node:crypto";
import { keysFor, knownHostsName } from "../../src/transport/host-keys.js";

const hashed = (name: string) => {
  const salt = randomBytes(20);
  return `|1|${salt.toString("base64")}|${createHmac("sha1", salt).update(name).digest("base64")}`;
};

test("known_hosts names: [host]:port unless port 22", () => {
  assert.equal(knownHostsName("app-01"), "app-01");
  assert.equal(knownHostsName("app-01", "22"), "app-01");
  assert.equal(knownHostsName("10.0.0.5", "2222"), "[10.0.0.5]:2222");
});

test("keys for a host: plain lists, hashed names, ports; revoked and wildcard lines are not matches", () => {
  const text = [
    "# comment",
    "app-01,10.0.0.1 ssh-ed25519 AAAAplain",
    `${hashed("app-02")} ssh-ed25519 AAAAhashed`,
    `${hashed("[app-03]:2222")} ecdsa-sha2-nistp256 AAAAport`,
    "@revoked app-01 ssh-rsa AAAArevoked",
    "*.example ssh-ed25519 AAAAwild",
    "@cert-authority app-04 ssh-ed25519 AAAAca",
    "",
  ].join("\n");
  assert.deepEqual(keysFor(text, "app-01"), ["ssh-ed25519 AAAAplain"]);
  assert.deepEqual(keysFor(text, "10.0.0.1"), ["ssh-ed25519 AAAAplain"]);
  assert.deepEqual(keysFor(text, "app-02"), ["ssh-ed25519 AAAAhashed"]);
  assert.deepEqual(keysFor(text, "app-03"), [], "port 2222 is another name");
  assert.deepEqual(keysFor(text, "[app-03]:2222"), ["ecdsa-sha2-nistp256 AAAAport"]);
  assert.deepEqual(keysFor(text, "x.example"), []);
  assert.deepEqual(keysFor(text, "app-04"), ["@cert-authority ssh-ed25519 AAAAca"]);
  assert.notDeepEqual(keysFor(text.replace("AAAAplain", "AAAAnewkey"), "app-01"), keysFor(text, "app-01"), "a new host key, a new list");
});
