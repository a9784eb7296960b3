import { sh } from "./layout.js";
import { RELEASE_FN } from "./lock.js";
import { REMOVE_FN, type HostListing } from "./prune.js";

/**
 * The end of a deploy on one host, in one round trip: append its history line, remove what
 * the prune plan says, release our lock (only if it is ours).
 */
const FINISH = `${REMOVE_FN}${RELEASE_FN}
root=$1 line=$2 token=$3; shift 3
if [ -n "$line" ]; then { [ -d "$root/.slipway" ] || mkdir -p "$root/.slipway"; } && printf '%s\\n' "$line" >> "$root/.slipway/history.jsonl"; fi
remove_items "$root" "$@"
release_lock "$root" "$token"`;

/** `historyLine` undefined: nothing to record (a host the command never got to). */
export function finishHost(root: string, historyLine: string | undefined, token: string, pruneItems: readonly string[]): string[] {
  if (historyLine?.includes("\n")) throw new Error("a history record must be one line");
  return sh(FINISH, root, historyLine ?? "", token, ...pruneItems);
}

/**
 * What the host holds once this deploy switched it (pure): the probe's listing plus the new
 * release, newest, now current, with the old current as previous. The prune is planned on it.
 */
export function listingAfterSwitch(before: HostListing, buildId: string, key: string): HostListing {
  const others = before.releases.filter((r) => r.id !== buildId);
  const previous = before.current && before.current !== buildId ? before.current : before.previous;
  return {
    ...before,
    releases: [{ id: buildId, mtime: Number.MAX_SAFE_INTEGER, venv: key, kb: 0 }, ...others],
    venvs: before.venvs.some((v) => v.key === key) ? before.venvs : [...before.venvs, { key, kb: 0, complete: true }],
    current: buildId,
    previous,
  };
}
