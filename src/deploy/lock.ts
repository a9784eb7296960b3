import { sh } from "./layout.js";

/** Who holds a deploy lock: written into <root>/.slipway/lock/info when it is taken. */
export interface LockInfo {
  /** Unique per deploy run: only the run that took a lock releases it without --yes. */
  token: string;
  user: string;
  from: string;
  action: string;
  target: string;
  build_id?: string;
  since: string;
  pid: number;
}

/** Whether the lock's info names this token (as LockInfo's JSON writes it). */
const HAS_TOKEN_FN = `
lock_has_token() {
  [ -n "$2" ] || return 1
  info=; { IFS= read -r info < "$1/.slipway/lock/info"; } 2>/dev/null || [ -n "$info" ] || return 1
  case $info in *"\\"token\\":\\"$2\\""*) return 0;; esac
  return 1
}`;

/**
 * mkdir is atomic: exactly one deploy creates the lock dir; the others read who did. The
 * topmost directory the lock had to create is remembered, so releasing the lock of a deploy
 * that changed nothing leaves the host exactly as it was. Idempotent for one run: a lock that
 * already holds this run's token ($3) is ours — taken by an earlier try whose reply was lost —
 * and is acquired again. The umask is set so that a hardened one (077) on the host does not
 * make <root>, releases/ and virtualenvs/ unreadable to the app's user.
 */
export const ACQUIRE_FN = `${HAS_TOKEN_FN}
acquire_lock() {
  umask 022
  top=""; d=$1; while [ ! -d "$d" ]; do top=$d; d=$(dirname "$d"); done
  [ -d "$1/.slipway" ] || mkdir -p "$1/.slipway" || return 1
  if mkdir "$1/.slipway/lock" 2>/dev/null; then
    printf '%s\\n' "$2" > "$1/.slipway/lock/info"
    printf '%s\\n' "$top" > "$1/.slipway/lock/created"
    echo acquired
  elif lock_has_token "$1" "$3"; then
    echo acquired
  else
    echo held
    cat "$1/.slipway/lock/info" 2>/dev/null || true
    return 4
  fi
}`;

/**
 * Take the lock. With `clean`, also remove what a deploy that died while staging left behind
 * (temporary release and venv dirs, a killed prune's renamed dirs, half-received files) —
 * safe only now that we hold it.
 */
export function acquireLock(root: string, info: LockInfo, clean = false): string[] {
  const then = clean ? `\n${CLEAN_STALE}` : "";
  // Held (4) is an answer, not a failure: the caller reads who holds it.
  return sh(`${ACQUIRE_FN}\nacquire_lock "$1" "$2" "$3" || { rc=$?; [ $rc = 4 ] && exit 0; exit $rc; }${then}`, root, JSON.stringify(info), info.token);
}

/**
 * Remove what a deploy that died while staging left behind. Only while holding the lock.
 *
 * Every temp dir's name ends in the pid of the host script that made it. A killed deployer can
 * leave that script running past `unlock` and into the next deploy (its ssh session outlives
 * it), and such a script renames its dir into place when it is done: removing files under it
 * meanwhile (rm follows the dir through the rename) once left a venv marked complete without
 * its bin/python. So a dir whose script still runs is left to it; the next clean removes it
 * if it is still there.
 */
const CLEAN_STALE = `umask 022
inc=$1/.slipway/incoming
live() { p=\${1##*-}; case $p in ''|*[!0-9]*) return 1;; esac; [ -d "/proc/$p" ] || kill -0 "$p" 2>/dev/null; }
for x in "$1"/releases/.tmp-* "$1"/virtualenvs/.tmp-*; do
  if { [ -e "$x" ] || [ -L "$x" ]; } && ! live "$x"; then rm -rf "$x"; fi
done
if [ -L "$inc" ] || { [ -e "$inc" ] && [ ! -d "$inc" ]; }; then rm -rf "$inc"
else
  for x in "$inc"/* "$inc"/.[!.]* "$inc"/..?*; do
    if [ -e "$x" ] || [ -L "$x" ]; then rm -rf "$inc"; break; fi
  done
fi
for x in "$1/releases" "$1/virtualenvs" "$inc"; do [ -d "$x" ] || mkdir -p "$x" || exit 1; done`;

/** Removes the lock only if it is ours (its info holds our token), or any lock when the token is empty (--force). */
export const RELEASE_FN = `${HAS_TOKEN_FN}
release_lock() {
  if [ ! -d "$1/.slipway/lock" ]; then echo absent; return 0; fi
  if [ -z "$2" ] || lock_has_token "$1" "$2"; then
    top=; { read -r top < "$1/.slipway/lock/created"; } 2>/dev/null || true
    rm -rf "$1/.slipway/lock"
    rmdir "$1/.slipway" 2>/dev/null || true
    if [ -n "$top" ]; then
      d=$1
      while rmdir "$d" 2>/dev/null && [ "$d" != "$top" ]; do d=$(dirname "$d"); done
    fi
    echo released
  else
    echo not-ours
    cat "$1/.slipway/lock/info" 2>/dev/null || true
  fi
}`;

export function releaseLock(root: string, token: string): string[] {
  return sh(`${RELEASE_FN}\nrelease_lock "$1" "$2"`, root, token);
}

/** Read-only: who holds the lock, if anyone. Used first, so a held lock anywhere changes nothing anywhere. */
export const PEEK_FN = `peek_lock() { if [ -d "$1/.slipway/lock" ]; then echo held; cat "$1/.slipway/lock/info" 2>/dev/null || true; else echo free; fi; }`;

export function peekLock(root: string): string[] {
  return sh(`${PEEK_FN}\npeek_lock "$1"`, root);
}

/** The reply of `acquireLock` ("acquired" or "held") or of `peekLock` ("free" or "held"). */
export type LockState = { state: "acquired" | "free" } | { state: "held"; holder?: LockInfo; raw: string };

export function parseLockReply(stdout: string): LockState {
  const [first, ...rest] = stdout.split("\n");
  const word = first?.trim();
  if (word === "acquired" || word === "free") return { state: word };
  const raw = rest.join("\n").trim();
  return { state: "held", holder: parseInfo(raw), raw };
}

export function parseInfo(raw: string): LockInfo | undefined {
  try {
    const v = JSON.parse(raw) as LockInfo;
    return typeof v.token === "string" ? v : undefined;
  } catch {
    return undefined;
  }
}

export function describeHolder(holder: LockInfo | undefined): string {
  if (!holder) return "an unknown deploy (the lock has no readable details)";
  const what = holder.build_id ? `${holder.action} of ${holder.build_id}` : holder.action;
  return `${holder.user}@${holder.from} since ${holder.since} (${what}, pid ${holder.pid})`;
}
