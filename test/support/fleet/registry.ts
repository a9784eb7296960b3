// Registry of live test fleets, shared by every test process on this machine.
//
// One file per claimed subnet: <os.tmpdir()>/slipway-fleets/net-<octet>.json. It is
// created with link(2) (atomic, fails if taken) BEFORE any namespace or link exists, so
// a fleet whose creating process died (even by SIGKILL) can always be found and torn
// down by cleanupStaleFleets(). Teardown here is synchronous so that it can run from a
// process 'exit' handler.
import { execFileSync } from "node:child_process";
import { linkSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface FleetRecord {
  id: string;
  pid: number;
  /** /proc/<pid>/stat start time, so a recycled pid is not mistaken for the owner. */
  pidStart: string;
  octet: number;
  bridge: string;
  namespaces: string[];
  veths: string[];
  /** Fleet tmp dir (keys, confs, srv dirs); removed by stale cleanup. */
  dir: string;
  createdAt: string;
}

export const REGISTRY_DIR = join(tmpdir(), "slipway-fleets");
export const NAME_PREFIX = "slf";

export function recordPath(octet: number): string {
  return join(REGISTRY_DIR, `net-${octet}.json`);
}

export function procStartTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    // fields[0] is field 3 (state); start time is field 22.
    if (fields[0] === "Z") return undefined;
    return fields[19];
  } catch {
    return undefined;
  }
}

export function isAlive(rec: Pick<FleetRecord, "pid" | "pidStart">): boolean {
  return procStartTime(rec.pid) === rec.pidStart;
}

/** Atomically create the record file; false if the subnet is already claimed. */
export function tryClaim(rec: FleetRecord): boolean {
  mkdirSync(REGISTRY_DIR, { recursive: true });
  const tmp = join(REGISTRY_DIR, `.claim-${process.pid}-${rec.id}`);
  writeFileSync(tmp, JSON.stringify(rec, null, 2));
  try {
    linkSync(tmp, recordPath(rec.octet));
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw err;
  } finally {
    rmSync(tmp, { force: true });
  }
}

export function readRecord(file: string): FleetRecord | undefined {
  try {
    return JSON.parse(readFileSync(file, "utf8")) as FleetRecord;
  } catch {
    return undefined;
  }
}

export function releaseRecord(octet: number, id: string): void {
  const file = recordPath(octet);
  const rec = readRecord(file);
  if (rec && rec.id === id) rmSync(file, { force: true });
}

function run(cmd: string, args: string[], input?: string): string {
  try {
    return execFileSync(cmd, args, { input, encoding: "utf8", stdio: ["pipe", "pipe", "pipe"] });
  } catch {
    return "";
  }
}

/** Pids of every process whose network namespace is `ns` (`ip netns pids`). */
export function netnsPidsSync(ns: string): number[] {
  return run("ip", ["netns", "pids", ns])
    .split(/\s+/)
    .filter(Boolean)
    .map(Number)
    .filter((p) => Number.isInteger(p) && p > 0 && p !== process.pid);
}

/**
 * SIGKILL every process inside the namespaces (sshd, its sessions, supervisord, its
 * programs, the anchor holding the mount namespace: killing them all also drops each
 * host's private mounts), then delete the namespaces, veths and bridge. Idempotent.
 */
export function teardownSync(rec: Pick<FleetRecord, "namespaces" | "veths" | "bridge">): void {
  for (let round = 0; round < 5; round++) {
    let found = 0;
    for (const ns of rec.namespaces) {
      for (const pid of netnsPidsSync(ns)) {
        found++;
        try {
          process.kill(pid, "SIGKILL");
        } catch {
          /* already gone */
        }
      }
    }
    if (found === 0) break;
  }
  const batch = [...rec.namespaces.map((ns) => `netns del ${ns}`), ...rec.veths.map((v) => `link del ${v}`), `link del ${rec.bridge}`].join("\n");
  run("ip", ["-force", "-batch", "-"], batch + "\n");
}

/**
 * Tear down every registered fleet whose creating process is dead: processes, namespaces,
 * veths, bridge, its tmp dir and its registry entry. Safe to call any time; startFleet()
 * calls it first. Returns the ids it removed.
 */
export function cleanupStaleFleets(): string[] {
  let names: string[];
  try {
    names = readdirSync(REGISTRY_DIR);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of names) {
    if (!/^net-\d+\.json$/.test(name)) continue;
    const file = join(REGISTRY_DIR, name);
    const rec = readRecord(file);
    if (!rec) {
      // Unreadable: only a torn write could do that (we write via link), drop it when old.
      try {
        if (Date.now() - statSync(file).mtimeMs > 60_000) unlinkSync(file);
      } catch {
        /* raced */
      }
      continue;
    }
    if (isAlive(rec)) continue;
    teardownSync(rec);
    if (rec.dir.startsWith(join(tmpdir(), "slipway-fleet-"))) rmSync(rec.dir, { recursive: true, force: true });
    // Only remove the entry if it still is the one we tore down.
    const again = readRecord(file);
    if (again && again.id === rec.id) rmSync(file, { force: true });
    removed.push(rec.id);
  }
  return removed;
}
