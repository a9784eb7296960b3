import { sh } from "./layout.js";

/**
 * Point `current` at releases/<build_id> by rename(2) of a fresh symlink over it (GNU
 * `mv -T`), so `current` is never missing and never half-written; the release it pointed at
 * becomes `previous` first. Prints the old target. Idempotent: switching to the release that
 * is already current changes nothing.
 */
const SWITCH_FN = `
switch_to() (
  cd "$1" || exit 1
  [ -d "releases/$2" ] || { echo "releases/$2 is missing" >&2; exit 3; }
  old=$(readlink current 2>/dev/null || true)
  echo "old=$old"
  [ "$old" = "releases/$2" ] && exit 0
  if [ -n "$old" ]; then ln -sfn "$old" .previous.tmp && mv -Tf .previous.tmp previous || exit 1; fi
  ln -sfn "releases/$2" .current.tmp && mv -Tf .current.tmp current
)`;

export function switchCurrent(root: string, buildId: string): string[] {
  return sh(`${SWITCH_FN}\nswitch_to "$1" "$2"`, root, buildId);
}

/** Printed on its own line by switchThenRun once `current` is switched; what follows is the command's. */
export const SWITCHED = "slipway-switched";

/**
 * Switch, then run `argv` (the restart) in the same round trip: the script prints SWITCHED
 * between the two and exits with the command's status. No SWITCHED line: the switch failed.
 */
export function switchThenRun(root: string, buildId: string, argv: readonly string[]): string[] {
  return sh(`${SWITCH_FN}\nswitch_to "$1" "$2" || exit $?\nshift 2\necho ${SWITCHED}\nexec "$@"`, root, buildId, ...argv);
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
