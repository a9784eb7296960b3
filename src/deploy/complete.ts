/*
 * When a release counts as present on a host. A release is unpacked into a temp dir and
 * renamed into releases/<id> whole, and prune renames it away before deleting it, so a dir
 * under a release name is normally whole. But a host that crashes (or an older slipway's
 * prune, which deleted in place) can leave a gutted tree that still has its slipway.json: a
 * deploy must not skip staging for it, and a rollback must not switch to it.
 *
 * So the unpack writes `.slipway-complete` last, holding the sha256 of the release's
 * slipway.json, before the rename. A release is complete only while that mark and its
 * manifest agree. A release without any mark was made by an older slipway: it counts as
 * complete only while `current` or `previous` points at it (it was whole when it was switched
 * to, and no prune removes those two); any other unmarked release is incomplete — a deploy of
 * that build restages it, and `rollback --to` refuses it.
 */

/** The file name of the completion mark, in a release and in a venv. */
export const COMPLETE_MARK = ".slipway-complete";

/**
 * `release_states ROOT [ID]` prints `<state> <id>` for every release (or for ID only), where
 * state is `complete`, `legacy` (no mark, but current or previous: complete), `incomplete`, or
 * `absent` (ID only). One sha256sum for every manifest and the marks read by the shell itself:
 * the probe runs this on every deploy, so its cost must not grow with the number of releases.
 */
export const RELEASE_STATE_FN = `
links_of=
read_links() { links_of=$1 links_cur=$(readlink "$1/current" 2>/dev/null || true) links_prev=$(readlink "$1/previous" 2>/dev/null || true); }
release_states() (
  cd "$1" 2>/dev/null || exit 0
  # Under the callers' set -e: no command here may fail. current and previous as the caller
  # read them for this same root (read_links), or read now.
  if [ "\${links_of-}" = "$1" ]; then cur=$links_cur prev=$links_prev
  else cur=$(readlink current 2>/dev/null || true) prev=$(readlink previous 2>/dev/null || true); fi
  nl='
'
  if [ -n "$2" ]; then
    if [ ! -d "releases/$2" ]; then echo "absent $2"; exit 0; fi
    sums=$nl$(sha256sum "releases/$2/slipway.json" 2>/dev/null || true)$nl
    set -- "releases/$2/"
  else
    sums=$nl$(sha256sum releases/*/slipway.json 2>/dev/null || true)$nl
    set -- releases/*/
  fi
  for d; do
    [ -d "$d" ] || continue
    id=\${d#releases/}; id=\${id%/}; state=incomplete
    if [ -f "\${d}slipway.json" ]; then
      if [ -f "\${d}${COMPLETE_MARK}" ]; then
        m=; read -r m < "\${d}${COMPLETE_MARK}" || true
        case $sums in *"$nl$m  \${d}slipway.json$nl"*) [ -n "$m" ] && state=complete;; esac
      elif [ "$cur" = "releases/$id" ] || [ "$prev" = "releases/$id" ]; then state=legacy; fi
    fi
    echo "$state $id"
  done
)`;

/** Whether a state printed by release_states counts as a release that may be reused or switched to. */
export function isComplete(state: string | undefined): boolean {
  return state === "complete" || state === "legacy";
}
