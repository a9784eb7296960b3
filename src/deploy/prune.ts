import { isValidBuildId } from "../config/patterns.js";
import { sh } from "./layout.js";
import { isComplete, RELEASE_STATE_FN } from "./complete.js";

/** What is on a host, for `releases` and `prune`. */
export interface HostListing {
  /** `incomplete`: no completion mark agreeing with its manifest (complete.ts): never reused or switched to. */
  releases: { id: string; mtime: number; venv?: string; kb: number; incomplete?: true }[];
  venvs: { key: string; kb: number; complete: boolean }[];
  current?: string;
  previous?: string;
  freeKb: number;
}

/**
 * The listing printed by list_host. `du` costs ~100 ms per host on a few releases: only
 * `slipway releases` asks for sizes. Names starting with "." (temporary dirs) are not listed.
 */
export const LIST_FN = `${RELEASE_STATE_FN}
list_host() (
  root=$1 sizes=$2
  cd "$root" 2>/dev/null || { echo "missing"; exit 0; }
  read_links .
  echo "current=$links_cur"
  echo "previous=$links_prev"
  echo "free_kb=$(df -Pk . | { read -r _; read -r _ _ _ a _; echo "$a"; })"
  # One stat for every release, venv and completion mark, one find for every release's venv link.
  stat -c 'stat=%Y %n' releases/*/ virtualenvs/*/ virtualenvs/*/.slipway-complete 2>/dev/null
  find releases -mindepth 2 -maxdepth 2 -name virtualenv -type l -printf 'link=%h %l\\n' 2>/dev/null
  release_states . "" | while read -r line; do echo "release_state=$line"; done
  if [ "$sizes" = 1 ]; then
    for d in releases/*/ virtualenvs/*/; do [ -d "$d" ] && echo "kb=$(du -sk "$d" | cut -f1) $d"; done
  fi
  true
)`;

export function listHost(root: string, sizes = false): string[] {
  return sh(`${LIST_FN}\nlist_host "$1" "$2"`, root, sizes ? "1" : "0");
}

export function parseListing(stdout: string): HostListing {
  const out: HostListing = { releases: [], venvs: [], freeKb: 0 };
  const releases = new Map<string, HostListing["releases"][number]>();
  const venvs = new Map<string, HostListing["venvs"][number]>();
  const release = (id: string) => releases.get(id) ?? releases.set(id, { id, mtime: 0, kb: 0 }).get(id)!;
  const venv = (key: string) => venvs.get(key) ?? venvs.set(key, { key, kb: 0, complete: false }).get(key)!;
  for (const line of stdout.split("\n")) {
    const i = line.indexOf("=");
    if (i < 0) continue;
    const k = line.slice(0, i);
    const v = line.slice(i + 1);
    if (k === "current" || k === "previous") out[k] = /releases\/([^/]+)/.exec(v)?.[1];
    else if (k === "free_kb") out.freeKb = Number(v) || 0;
    else if (k === "release_state") {
      const [state, id] = v.split(" ");
      if (id && !id.startsWith(".") && !isComplete(state)) release(id).incomplete = true;
    } else if (k === "link") {
      const [, id, target] = /^releases\/([^/ ]+) (.+)$/.exec(v) ?? [];
      if (id && !id.startsWith(".")) release(id).venv = target!.replace(/\/+$/, "").split("/").pop();
    } else if (k === "stat" || k === "kb") {
      const [, n, name] = /^(\d+) (.*)$/.exec(v) ?? [];
      const [top, item, leaf] = (name ?? "").replace(/\/$/, "").split("/");
      if (!item || item.startsWith(".")) continue;
      if (top === "releases" && leaf === undefined) {
        if (k === "stat") release(item).mtime = Number(n);
        else release(item).kb = Number(n);
      } else if (top === "virtualenvs" && leaf === undefined) {
        if (k === "kb") venv(item).kb = Number(n);
        else venv(item);
      } else if (top === "virtualenvs" && leaf === ".slipway-complete") {
        venv(item).complete = true;
      }
    }
  }
  out.releases = [...releases.values()].sort((a, b) => b.mtime - a.mtime || (a.id < b.id ? 1 : -1));
  out.venvs = [...venvs.values()];
  return out;
}

export interface PrunePlan {
  keep: string[];
  removeReleases: string[];
  removeVenvs: string[];
}

/**
 * Which releases and venvs to remove (pure): keep the newest `keep` releases, and `current`
 * and `previous` whatever their age; remove the rest, and every venv no kept release links to.
 */
export function planPrune(listing: HostListing, keep: number): PrunePlan {
  const kept = new Set<string>([listing.current, listing.previous].filter((id): id is string => Boolean(id)));
  for (const r of listing.releases.slice(0, keep)) kept.add(r.id); // releases are newest first
  const keepList = listing.releases.map((r) => r.id).filter((id) => kept.has(id));
  const removeReleases = listing.releases.map((r) => r.id).filter((id) => !kept.has(id) && isValidBuildId(id));
  const usedVenvs = new Set(listing.releases.filter((r) => kept.has(r.id)).map((r) => r.venv));
  const removeVenvs = listing.venvs.map((v) => v.key).filter((k) => !usedVenvs.has(k) && /^[0-9a-f]{16}$/.test(k));
  return { keep: keepList, removeReleases, removeVenvs };
}

/**
 * Each item is renamed to a temp name first, then deleted: the rename is atomic, so a host
 * that reboots (or an rm that is killed) mid-delete leaves a gutted tree only under a name
 * that nothing reads as a release or venv — never under its own. The temp dirs of a prune
 * killed that way are deleted by the next prune (and by the next deploy's lock: CLEAN_STALE).
 * Runs only while holding the lock.
 */
export const REMOVE_FN = `
remove_items() {
  root=$1 rc=0; shift
  for d in "$root"/releases/.tmp-prune-* "$root"/virtualenvs/.tmp-prune-*; do
    if [ -e "$d" ]; then rm -rf -- "$d" 2>/dev/null || true; fi
  done
  for item in "$@"; do
    case "$item" in
      r:*) dir=releases name=\${item#r:};;
      v:*) dir=virtualenvs name=\${item#v:};;
      *) continue;;
    esac
    [ -e "$root/$dir/$name" ] || continue
    gone="$root/$dir/.tmp-prune-$name-$$"
    if mv -T -- "$root/$dir/$name" "$gone"; then rm -rf -- "$gone" || rc=1; else rc=1; fi
  done
  return $rc
}`;

/** The items of a prune plan, as `remove_items` takes them (names validated by planPrune). */
export function pruneItems(plan: PrunePlan): string[] {
  return [...plan.removeReleases.map((r) => `r:${r}`), ...plan.removeVenvs.map((v) => `v:${v}`)];
}

export function removeItems(root: string, plan: PrunePlan): string[] | undefined {
  const items = pruneItems(plan);
  return items.length ? sh(`${REMOVE_FN}\nremove_items "$@"`, root, ...items) : undefined;
}
