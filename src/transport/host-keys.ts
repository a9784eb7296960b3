/**
 * The keys known_hosts lists for a destination (pure): what a kept ssh connection is keyed by,
 * so that a host whose key changed (a new machine at an old address, known_hosts updated)
 * never gets a connection made to the old one. Reads plain entries (comma-separated names,
 * `[host]:port` for a port other than 22) and hashed ones (`|1|salt|hmac`, HashKnownHosts);
 * wildcard patterns, negations and @revoked lines are not matches; @cert-authority lines are
 * (the CA is what vouches for the host).
 */
import { createHmac } from "node:crypto";

/** known_hosts' name for host and port: `host`, or `[host]:port` when the port is not 22. */
export function knownHostsName(host: string, port?: string): string {
  return port && port !== "22" ? `[${host}]:${port}` : host;
}

function matches(field: string, name: string): boolean {
  if (field.startsWith("|1|")) {
    const [, , salt, hash] = field.split("|");
    if (!salt || !hash) return false;
    return createHmac("sha1", Buffer.from(salt, "base64")).update(name).digest("base64") === hash;
  }
  return field.split(",").some((p) => p === name);
}

/** The key fields ("type base64") known_hosts `text` holds for `name`, sorted; [] when none. */
export function keysFor(text: string, name: string): string[] {
  const keys: string[] = [];
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (!line || line.startsWith("#")) continue;
    const parts = line.split(/\s+/);
    let marker = "";
    if (parts[0]!.startsWith("@")) marker = parts.shift()!;
    if (marker === "@revoked" || parts.length < 3) continue;
    if (matches(parts[0]!, name)) keys.push(`${marker ? `${marker} ` : ""}${parts[1]} ${parts[2]}`);
  }
  return keys.sort();
}
