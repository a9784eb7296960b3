import { settleAll } from "../util/pool.js";
import { sh } from "./layout.js";
import type { HostSession } from "./session.js";

/**
 * Asset bridging (deploy.assets): during and after a rolling deploy a page rendered by either
 * version must find its fingerprinted files on every host. Before any host switches, on each
 * host:
 *
 * 1. the new release's own asset files are listed once, in <root>/.slipway/assets/<build_id>
 *    (before it gains any: what it gains is never passed on, so nothing grows without bound;
 *    the list's mtime orders the releases, newest first);
 * 2. the release that is `current` gains the new release's files it lacks, so an old process
 *    serving from it (nginx, whitenoise with autorefresh) finds the new version's URLs;
 * 3. the new release gains the own files of the newest kept releases (keep_releases - 1 of
 *    them, newest first) that it lacks, so the new process finds the old version's URLs.
 *
 * Adding is the only change: an existing path is never overwritten or removed. Files are hard
 * links where the filesystem allows (a copy otherwise), so prune deleting an old release never
 * takes a file from a release that still links it. Lists of releases no longer there are
 * dropped. Prints `added <n> <m>`: files added to current, and to the new release.
 */
const BRIDGE = `set -e
umask 022
root=$1 build=$2 dir=$3 keep=$4
lists="$root/.slipway/assets"
new="$root/releases/$build"
[ -d "$new" ] || { echo "releases/$build is missing" >&2; exit 1; }
mkdir -p "$lists"
# A dir that is a link (to shared/, say) is the same for every release: nothing to bridge.
if [ -L "$new/$dir" ]; then echo "added 0 0"; exit 0; fi
# list ID: the release's own files, once (its mtime: when the release was staged).
list() {
  [ -f "$lists/$1" ] && return 0
  if [ -d "$root/releases/$1/$dir" ]; then
    (cd "$root/releases/$1/$dir" && find . -type f ! -name "$(printf '*\\n*')" -print) > "$lists/.tmp-$1-$$"
  else
    : > "$lists/.tmp-$1-$$"
  fi
  touch -r "$root/releases/$1" "$lists/.tmp-$1-$$"
  mv -f "$lists/.tmp-$1-$$" "$lists/$1"
}
list "$build"
touch "$lists/$build"
# add FROM TO LIST: each file of LIST that FROM has and TO lacks, hard-linked (else copied).
add() {
  n=0
  while IFS= read -r f; do
    [ -f "$1/$dir/$f" ] || continue
    if [ -e "$2/$dir/$f" ] || [ -L "$2/$dir/$f" ]; then continue; fi
    mkdir -p "$(dirname "$2/$dir/$f")"
    ln "$1/$dir/$f" "$2/$dir/$f" 2>/dev/null || cp -p "$1/$dir/$f" "$2/$dir/$f"
    n=$((n + 1))
  done < "$3"
  echo $n
}
to_current=0
cur=$(readlink "$root/current" 2>/dev/null || true)
cur=\${cur#releases/}
if [ -n "$cur" ] && [ "$cur" != "$build" ] && [ -d "$root/releases/$cur" ] && [ ! -L "$root/releases/$cur/$dir" ]; then
  list "$cur"  # (a release staged before deploy.assets was set has no list yet)
  to_current=$(add "$new" "$root/releases/$cur" "$lists/$build")
fi
to_new=0
taken=0
for other in $(ls -t "$lists"); do
  case $other in .tmp-*) continue ;; esac
  [ "$other" = "$build" ] && continue
  if [ ! -d "$root/releases/$other" ]; then rm -f "$lists/$other"; continue; fi
  [ "$taken" -lt $((keep - 1)) ] || continue
  taken=$((taken + 1))
  k=$(add "$root/releases/$other" "$new" "$lists/$other")
  to_new=$((to_new + k))
done
echo "added $to_current $to_new"`;

export function bridgeAssets(root: string, buildId: string, dir: string, keepReleases: number): string[] {
  return sh(BRIDGE, root, buildId, dir, String(keepReleases));
}

/** "added 12 40" → files added to the current release, and to the new one. */
export function parseBridged(stdout: string): { toCurrent: number; toNew: number } | undefined {
  const m = /^added (\d+) (\d+)$/m.exec(stdout);
  return m ? { toCurrent: Number(m[1]), toNew: Number(m[2]) } : undefined;
}

/** The bridge on every host, before any switches (SPEC §5 step 4): one round trip each. */
export async function bridgeAll(sessions: readonly HostSession[], root: string, buildId: string, dir: string, keepReleases: number): Promise<void> {
  await settleAll(
    sessions.map((s) =>
      s.step(
        "assets",
        () => s.run("assets", bridgeAssets(root, buildId, dir, keepReleases)),
        (r) => {
          const n = parseBridged(r.stdout);
          return n ? `current gained ${n.toCurrent} file(s) of ${dir}, the new release ${n.toNew}` : undefined;
        },
      ),
    ),
  );
}
