/**
 * `[targets.T.ssh] persist`: the CLI keeps each host's ssh master open past the run, so the next
 * deploy or rollback from this machine pays no handshake. Its socket is named by the user and
 * destination as written and by the host keys known_hosts lists for it (host-keys.ts): a host
 * whose key changed gets a new connection, never the one made to the old machine. A host with
 * no known_hosts entry under that name is not kept (nothing to key it by).
 * Sockets live in <cache>/ssh, a directory only this user may enter: a control socket opens
 * shells on the host to whoever can connect to it.
 */
import { chmodSync, lstatSync, mkdirSync, readFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { cacheDir } from "../build/layer-cache.js";
import { sha256 } from "../util/hash.js";
import { keysFor, knownHostsName } from "./host-keys.js";
import { expandHome, parseDestination, type KeptMaster, type SshSettings } from "./ssh.js";

/** The files ssh reads host keys from: the configured one, else the user's, and the system's. */
function knownHostsFiles(settings: SshSettings): string[] {
  const home = os.homedir();
  const user = settings.known_hosts ? [expandHome(settings.known_hosts)] : [path.join(home, ".ssh", "known_hosts"), path.join(home, ".ssh", "known_hosts2")];
  return [...user, "/etc/ssh/ssh_known_hosts", "/etc/ssh/ssh_known_hosts2"];
}

/** This user's private socket dir, made if missing; undefined when it is not private (then nothing is kept). */
function socketDir(env: NodeJS.ProcessEnv): string | undefined {
  const dir = path.join(cacheDir(env), "ssh");
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    chmodSync(dir, 0o700);
    const st = lstatSync(dir);
    return st.isDirectory() && st.uid === process.getuid?.() && (st.mode & 0o077) === 0 ? dir : undefined;
  } catch {
    return undefined;
  }
}

export function persistentMaster(dest: string, settings: SshSettings, idleSeconds: number, env: NodeJS.ProcessEnv): KeptMaster | undefined {
  const { target, port } = parseDestination(dest);
  const name = knownHostsName(target.replace(/^[^@]*@/, ""), port);
  const keys = knownHostsFiles(settings).flatMap((f) => {
    try {
      return keysFor(readFileSync(f, "utf8"), name);
    } catch {
      return [];
    }
  });
  if (keys.length === 0) return undefined;
  const dir = socketDir(env);
  if (!dir) return undefined;
  const id = sha256(JSON.stringify([os.userInfo().username, dest, settings.config, settings.identity, settings.options, keys])).slice(0, 24);
  // A unix socket path holds at most 107 bytes.
  const controlPath = path.join(dir, id);
  return controlPath.length <= 100 ? { controlPath, idleSeconds } : undefined;
}
