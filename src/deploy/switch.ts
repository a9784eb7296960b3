import { sh } from "./layout.js";

/**
 * Point `current` at releases/<build_id> by rename(2) of a fresh symlink over it (GNU
 * `mv -T`), so `current` is never missing and never half-written. The release it pointed at
 * becomes `previous` first ($3 = "-") — or, for a switch back, `previous` is set to what it was
 * before the switch being undone ($3 = "=<link>", "=" for none), or left alone ($3 = "+"). Prints the old `current`, and
 * the old `previous` when it changes it. If `current` cannot be moved, `previous` is put back:
 * a failed switch changes neither. Idempotent: switching to the release that is already
 * current changes nothing.
 */
export const SWITCH_FN = `
set_link() {
  if [ -n "$2" ]; then ln -sfn "$2" ".$1.tmp" && mv -Tf ".$1.tmp" "$1"; else rm -f "$1"; fi
}
switch_to() (
  cd "$1" || exit 1
  [ -d "releases/$2" ] || { echo "releases/$2 is missing" >&2; exit 3; }
  old=$(readlink current 2>/dev/null || true)
  echo "old=$old"
  prev=$(readlink previous 2>/dev/null || true)
  case $3 in
    -) [ "$old" = "releases/$2" ] && exit 0; want=\${old:-$prev} ;;
    +) want=$prev ;;
    *) want=\${3#=} ;;
  esac
  if [ "$want" != "$prev" ]; then echo "prev=$prev"; set_link previous "$want" || exit 1; fi
  [ "$old" = "releases/$2" ] && exit 0
  set_link current "releases/$2" && exit 0
  set_link previous "$prev"
  exit 1
)`;

/**
 * How a switch sets `previous`: "shift" makes the old `current` the new `previous` (a deploy or
 * rollback). A switch back undoes one: { restore } sets it to the link it had ("" for none),
 * "keep" leaves it (the switch being undone did not change it).
 */
export type PreviousMode = "shift" | "keep" | { restore: string };

export const mode = (p: PreviousMode) => (p === "shift" ? "-" : p === "keep" ? "+" : `=${p.restore}`);

/** How to switch back after a switch that printed `stdout`: `previous` as it was before it. */
export function undoPrevious(stdout: string): PreviousMode {
  const before = parseSwitched(stdout).previous;
  return before === undefined ? "keep" : { restore: before };
}

export function switchCurrent(root: string, buildId: string, previous: PreviousMode = "shift"): string[] {
  return sh(`${SWITCH_FN}\nswitch_to "$1" "$2" "$3"`, root, buildId, mode(previous));
}

/** What a switch script reported: the links `current` and `previous` had ("" for none; previous undefined when unchanged). */
export function parseSwitched(stdout: string): { current?: string; previous?: string } {
  const current = /^old=(.*)$/m.exec(stdout)?.[1];
  const previous = /^prev=(.*)$/m.exec(stdout)?.[1];
  return { current, previous };
}

/** Printed on its own line by switchThenRun once `current` is switched; what follows is the command's. */
export const SWITCHED = "slipway-switched";

/**
 * Switch, then run `argv` (the restart) in the same round trip: the script prints SWITCHED
 * between the two and exits with the command's status. No SWITCHED line: the switch failed.
 */
export function switchThenRun(root: string, buildId: string, argv: readonly string[], previous: PreviousMode = "shift"): string[] {
  return sh(`${SWITCH_FN}\nswitch_to "$1" "$2" "$3" || exit $?\nshift 3\necho ${SWITCHED}\nexec "$@"`, root, buildId, mode(previous), ...argv);
}

/**
 * Run a user command (migrations, hooks, restart "command") in a directory on the host, with
 * the release's venv first on PATH and the deploy described in SLIPWAY_* variables. The
 * command is the user's own shell text from their config; everything else is an argument.
 */
const IN_DIR = `
dir=$1 cmd=$2; shift 2
cd "$dir" || exit 1
export VIRTUAL_ENV="$dir/virtualenv" PATH="$dir/virtualenv/bin:$PATH"
for kv in "$@"; do export "$kv"; done
exec sh -c "$cmd"`;

export function runInDir(dir: string, command: string, env: Record<string, string>): string[] {
  const vars = Object.entries(env).map(([k, v]) => {
    if (!/^[A-Z_][A-Z0-9_]*$/.test(k)) throw new Error(`bad environment variable name ${k}`);
    return `${k}=${v}`;
  });
  return sh(IN_DIR, dir, command, ...vars);
}

/** Append one JSON line to the host's history, creating it if needed. */
const APPEND = `mkdir -p "$(dirname "$1")" && printf '%s\\n' "$2" >> "$1"`;

export function appendLine(file: string, line: string): string[] {
  if (line.includes("\n")) throw new Error("a history record must be one line");
  return sh(APPEND, file, line);
}
