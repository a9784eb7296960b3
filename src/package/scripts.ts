/**
 * Maintainer scripts of the packages `slipway package` writes: plain POSIX sh, doing on the
 * host what a deploy does there, with the deploy's own host steps (deploy/switch.ts,
 * procman/restart.ts, health/check.ts) embedded verbatim. Every value is quoted once
 * (transport/quote.ts) into a constant header of assignments; the body never interpolates.
 * Pure: the same inputs give the same bytes (the packages are reproducible).
 */
import type { HealthConfig, PackageConfig, RestartConfig } from "../config/schema.js";
import { COMPLETE_MARK } from "../deploy/complete.js";
import { layout } from "../deploy/layout.js";
import { switchCurrent } from "../deploy/switch.js";
import { healthCommand } from "../health/check.js";
import { restartCommand, restartVerifyCommand } from "../procman/restart.js";
import { shQuote } from "../transport/quote.js";
import type { PackageFormat } from "./names.js";

export interface SwitchParams {
  app: string;
  root: string;
  buildId: string;
  restart: NonNullable<PackageConfig["restart"]>;
  health: HealthConfig;
  /** deploy.linked_files: each must exist under <root>/shared before the switch. */
  linkedFiles: readonly string[];
  /** A unit this package ships ([package.systemd]): reloaded and enabled when systemd runs. */
  systemdUnit?: string;
}

/** Stand-ins for values only known on the host, replaced by shell words (see `words`). */
const BUILD = "\u0001build";
const RELEASE = "\u0001release";

/** An argv as shell words: each argument quoted, stand-ins as the shell text given for them. */
function words(argv: readonly string[], raw: Record<string, string> = {}): string {
  return argv.map((a) => raw[a] ?? shQuote(a)).join(" ");
}

function restartArgv(r: SwitchParams["restart"], app: string, root: string): { run?: string[]; verify?: string[] } {
  // The targets' restart, with the keys `[package.restart]` leaves out at their defaults.
  const full: RestartConfig = { manager: r.manager, programs: r.programs, conf: r.conf, command: r.command, scope: "system", action: "restart", sudo: false };
  const current = layout(root).current;
  return { run: restartCommand(full, current, { SLIPWAY_APP: app, SLIPWAY_ROOT: root }), verify: restartVerifyCommand(full) };
}

/**
 * The switch, as the meta package's postinst (deb, `configure`) or %post (rpm) runs it:
 * check the release is complete and the linked files exist, switch `current` (the old one
 * becomes `previous`) by rename, restart, health-check; on a failure switch back (and
 * `previous` to what it was), restart and check the old release, and exit 1. Every outcome is
 * one line of <root>/.slipway/history.jsonl, as a deploy writes it (target "package").
 */
export function switchScript(p: SwitchParams, format: PackageFormat): string {
  const L = layout(p.root);
  const { run: restart, verify } = restartArgv(p.restart, p.app, p.root);
  const health = healthCommand(p.health, L.current, { build: BUILD, dir: RELEASE });
  const raw = { [BUILD]: '"$1"', [RELEASE]: '"$root/releases/$1"' };
  const header = [
    `app=${shQuote(p.app)}`,
    `root=${shQuote(p.root)}`,
    `build=${shQuote(p.buildId)}`,
    `linked=${shQuote(p.linkedFiles.join(":"))}`,
    `switch_sh=${shQuote(switchCurrent(p.root, p.buildId)[2]!)}`,
  ];
  const fns = [
    `do_restart() {\n  ${restart ? words(restart) : ":"}\n}`,
    `do_verify() {\n  ${verify ? words(verify) : ":"}\n}`,
    `do_health() {\n  ${health ? words(health, raw) : ":"}\n}`,
  ];
  const entry =
    format === "deb"
      ? `case "$1" in\n  configure) ;;\n  abort-upgrade|abort-remove|abort-deconfigure) exit 0 ;;\n  *) echo "postinst called with unknown argument '$1'" >&2; exit 1 ;;\nesac`
      : "";
  return `#!/bin/sh
# ${p.app} ${p.buildId}: make releases/${p.buildId} current (slipway package, docs/packages.md)
set -e
${entry}
${header.join("\n")}
${fns.join("\n")}
${p.systemdUnit ? SYSTEMD_RELOAD.replace("UNIT", shQuote(p.systemdUnit)) : ""}${SWITCH_BODY}`;
}

/** The unit the meta package ships may have changed: systemd reads it again (when it runs). */
const SYSTEMD_RELOAD = `if [ -d /run/systemd/system ]; then
  systemctl daemon-reload
  systemctl enable UNIT >/dev/null 2>&1 || true
fi
`;

/** The body of switchScript: constant. */
const SWITCH_BODY = `
release="$root/releases/$build"
clean() { printf '%s' "$1" | tr -cd 'A-Za-z0-9._@+-'; }
record() {
  mkdir -p "$root/.slipway"
  err=""
  [ -z "$3" ] || err=$(printf ',"error":"%s"' "$(printf '%s' "$3" | tr -d '"\\\\' | tr -cd '[:print:]')")
  printf '{"at":"%s","action":"deploy","user":"%s","from":"%s","target":"package","host":"%s","build_id":"%s","previous":"%s","result":"%s"%s}\\n' \\
    "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$(clean "$(id -un)")" "$(clean "$(hostname)")" "$(clean "$(hostname)")" \\
    "$build" "$(clean "$1")" "$2" "$err" >> "$root/.slipway/history.jsonl"
}
mark=""
[ -f "$release/${COMPLETE_MARK}" ] && read -r mark < "$release/${COMPLETE_MARK}" || true
sum=$(sha256sum < "$release/slipway.json" 2>/dev/null | cut -d' ' -f1) || true
if [ -z "$mark" ] || [ "$mark" != "$sum" ]; then
  echo "slipway: $release is incomplete (its ${COMPLETE_MARK} does not match its slipway.json): reinstall its package" >&2
  exit 1
fi
if [ -n "$linked" ]; then
  old_ifs=$IFS; IFS=:
  for f in $linked; do
    [ -e "$root/shared/$f" ] || { echo "slipway: $root/shared/$f is missing (deploy.linked_files): create it, then run dpkg --configure -a (or reinstall)" >&2; exit 1; }
  done
  IFS=$old_ifs
fi
out=$(sh -c "$switch_sh" slipway "$root" "$build" -) || { echo "slipway: cannot switch $root/current to releases/$build" >&2; exit 1; }
old=$(printf '%s\\n' "$out" | sed -n 's/^old=//p')
if [ "$old" = "releases/$build" ]; then
  echo "slipway: releases/$build is already current"
  exit 0
fi
# How to undo it: previous as it was (switch.ts undoPrevious).
undo=+
if printf '%s\\n' "$out" | grep -q '^prev='; then undo="=$(printf '%s\\n' "$out" | sed -n 's/^prev=//p')"; fi
echo "slipway: current -> releases/$build (was \${old:-nothing})"
restarted() {
  rout=$(do_restart 2>&1) || { printf '%s\\n' "$rout" >&2; return 1; }
  [ -z "$rout" ] || printf '%s\\n' "$rout"
  # supervisorctl may print ERROR and exit 0; "not running" is only the stop half (restart.ts).
  if printf '%s\\n' "$rout" | grep -v 'ERROR (not running)' | grep -q '\\bERROR\\b'; then return 1; fi
  do_verify
}
failed=""
if ! restarted; then failed="the restart failed"
elif ! hout=$(do_health "$build"); then failed="the health check failed: $hout"
fi
if [ -z "$failed" ]; then
  record "\${old#releases/}" ok ""
  echo "slipway: releases/$build is current and healthy"
  exit 0
fi
echo "slipway: $failed" >&2
if [ -z "$old" ]; then
  record "" failed "$failed (nothing to switch back to)"
  echo "slipway: nothing was current before releases/$build: it stays current" >&2
  exit 1
fi
back=\${old#releases/}
echo "slipway: switching back to $old" >&2
if ! sh -c "$switch_sh" slipway "$root" "$back" "$undo" >/dev/null; then
  record "\${old#releases/}" failed "$failed; the switch back failed"
  echo "slipway: cannot switch back to $old" >&2
  exit 1
fi
restarted >&2 || echo "slipway: restarting $old failed too" >&2
do_health "$back" >/dev/null || echo "slipway: $old does not pass the health check either" >&2
record "\${old#releases/}" rolled-back "$failed"
exit 1
`;

/** A shell `case` pattern test: is `current` or `previous` this release? */
const IN_USE_FN = `in_use() {
  for l in current previous; do
    [ "$(readlink "$root/$l" 2>/dev/null || true)" = "releases/$build" ] && { echo "$l"; return 0; }
  done
  return 1
}`;

/**
 * The release package's scripts. postinst: make the shared dirs its links point into. prerm
 * (remove): refuse while `current` or `previous` is this release — the package stays installed
 * and the release stays whole. postrm (remove): take away what the running app left in the
 * release dir (__pycache__), unless it is in use again.
 */
export function releaseScripts(
  p: { root: string; buildId: string; shared: readonly string[] },
  format: PackageFormat,
): { postinst: string; prerm: string; postrm: string } {
  const header = `set -e\nroot=${shQuote(p.root)}\nbuild=${shQuote(p.buildId)}\n`;
  const removing = format === "deb" ? '[ "$1" = remove ] || exit 0' : '[ "$1" = 0 ] || exit 0';
  const shared = p.shared.map((d) => `mkdir -p "$root/shared/"${shQuote(d)}`).join("\n");
  return {
    postinst: `#!/bin/sh\n${header}${shared || ":"}\n`,
    prerm: `#!/bin/sh
${header}${removing}
${IN_USE_FN}
if l=$(in_use); then
  echo "slipway: releases/$build is $l in $root: not removing it (install or roll back to another build first)" >&2
  exit 1
fi
`,
    postrm: `#!/bin/sh
${header}${format === "deb" ? 'case "$1" in remove|purge) ;; *) exit 0 ;; esac' : '[ "$1" = 0 ] || exit 0'}
${IN_USE_FN}
in_use >/dev/null || rm -rf "$root/releases/$build"
`,
  };
}

/**
 * The venv package's scripts. prerm (remove): refuse while the release `current` or
 * `previous` points at runs on this venv (a release deployed by `slipway deploy` may share it).
 * postrm: take away what was left in it (bytecode), unless a release still links to it.
 */
export function venvScripts(p: { root: string; key: string }, format: PackageFormat): { prerm: string; postrm: string } {
  const header = `set -e\nroot=${shQuote(p.root)}\nkey=${shQuote(p.key)}\n`;
  const removing = format === "deb" ? '[ "$1" = remove ] || exit 0' : '[ "$1" = 0 ] || exit 0';
  return {
    prerm: `#!/bin/sh
${header}${removing}
for l in current previous; do
  if [ "$(readlink "$root/$l/virtualenv" 2>/dev/null || true)" = "$root/virtualenvs/$key" ]; then
    echo "slipway: the release $l points at runs on virtualenvs/$key: not removing it" >&2
    exit 1
  fi
done
`,
    postrm: `#!/bin/sh
${header}${format === "deb" ? 'case "$1" in remove|purge) ;; *) exit 0 ;; esac' : '[ "$1" = 0 ] || exit 0'}
for v in "$root"/releases/*/virtualenv; do
  [ "$(readlink "$v" 2>/dev/null || true)" = "$root/virtualenvs/$key" ] && exit 0
done
rm -rf "$root/virtualenvs/$key"
`,
  };
}
