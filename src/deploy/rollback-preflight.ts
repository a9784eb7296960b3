import { sh } from "./layout.js";
import { ACQUIRE_FN, type LockInfo, type LockState } from "./lock.js";
import { DRAINED_FN } from "./drained.js";
import { LIST_FN, type HostListing } from "./prune.js";
import { parsePeek } from "./probe.js";

/**
 * A rollback's first round trip on a host: take the lock (mkdir, atomic, as acquireLock does;
 * a lock that already holds this run's token is ours), then read what the host has — under the
 * lock, so no deploy changes it between this read and the switch. A lock held by another run
 * is reported, with its info's first line, and nothing is written. The caller checks the
 * replies of every host and releases the locks it took if it refuses (rollback.ts).
 */
const PREFLIGHT_AND_LOCK = `${LIST_FN}${DRAINED_FN}${ACQUIRE_FN}
root=$1
if out=$(acquire_lock "$root" "$2" "$3"); then
  echo "lock=acquired"
else
  rc=$?
  [ "$rc" = 4 ] || exit "$rc"
  echo "lock=held"
  printf 'lock_info=%s\\n' "$(printf '%s\\n' "$out" | sed -n 2p)"
fi
drained_state "$root"
list_host "$root" 0`;

export function preflightAndLock(root: string, info: LockInfo): string[] {
  return sh(PREFLIGHT_AND_LOCK, root, JSON.stringify(info), info.token);
}

/** The reply (pure): whether this run now holds the lock ("acquired") or another does ("held"), and what the host has. */
export function parsePreflightAndLock(stdout: string): { lock: LockState; listing: HostListing; drained: string[] } {
  const peek = parsePeek(stdout);
  if (peek.lock.state === "held") return peek;
  if (!/^lock=acquired$/m.test(stdout)) throw new Error(`unexpected preflight reply: ${stdout.slice(0, 200)}`);
  return { ...peek, lock: { state: "acquired" } };
}
