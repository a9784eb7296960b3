import type { PythonInfo } from "../build/interpreter.js";
import { sha256 } from "../util/hash.js";

/**
 * A venv's completion mark (`<root>/virtualenvs/<key>/.slipway-complete`) holds one line naming
 * the interpreter the deploy that unpacked it had checked:
 *
 *   python <device> <inode> <size> <mtime> <ctime> <libc version, e.g. "glibc 2.36", or -> <fields>
 *
 * The first five are the interpreter file's (`env.python.configured`, followed; only an absolute
 * path that leads to the very file the build probed, `env.python.executable`, so a wrapper such as
 * a pyenv shim, which runs whatever it picks, never has a line). The libc version is the host's
 * (`getconf GNU_LIBC_VERSION`): the platform the preflight compares names it. `fields` is a hash
 * of what the preflight compared (interpreterFields). While a later preflight computes the same
 * line, the same file under the same libc would give the same answer: it compares the line
 * instead of starting Python (about 35 ms of a host's CPU).
 *
 * The probe computes the line before and after it starts Python, and gives it only if both agree;
 * the unpack writes it only if the file is still that one. An upgrade, a reinstall, a re-pointed symlink, a new libc or another artifact's
 * interpreter gives another line, and a mark without one (an older slipway's: empty) matches
 * nothing: Python is asked, and its answer compared, as before. A release's stage writes the line
 * into an existing venv's mark that lacks it, so a host upgraded from an older slipway is fast
 * from its second deploy on. A shared libpython upgraded apart from its interpreter binary is not
 * seen until a new venv key is unpacked.
 *
 * `interp_line PY EXE FIELDS` prints the line ("" when PY cannot have one); `interp_holds LINE PY
 * EXE` is true when LINE is not empty and still the line of PY (and EXE) with LINE's own fields.
 */
export const INTERPRETER_LINE_FN = `
interp_line() {
  [ -n "$3" ] || return 0
  case $1 in /*) ;; *) return 0;; esac
  il_s=$(stat -L -c '%d %i %s %Y %Z' -- "$1" "\${2:-$1}" 2>/dev/null) || return 0
  il_nl='
'
  il_a=\${il_s%%"$il_nl"*} il_b=\${il_s#*"$il_nl"}
  { [ -n "$il_a" ] && [ "$il_a" = "$il_b" ]; } || return 0
  il_c=$(getconf GNU_LIBC_VERSION 2>/dev/null) || il_c=
  printf 'python %s %s %s\\n' "$il_a" "\${il_c:--}" "$3"
}
interp_holds() { [ -n "$1" ] && [ "$(interp_line "$2" "$3" "\${1##* }")" = "$1" ]; }`;

/** A hash of the interpreter fields the preflight compares (plan.ts incompatibilities): the last word of a mark's line. Pure. */
export function interpreterFields(p: Pick<PythonInfo, "executable" | "implementation" | "version" | "abi" | "platform">): string {
  return sha256(JSON.stringify([p.executable, p.implementation, p.version, p.abi, p.platform])).slice(0, 16);
}
