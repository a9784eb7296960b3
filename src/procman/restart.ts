import type { TargetConfig } from "../config/schema.js";
import { sh } from "../deploy/layout.js";
import { runInDir } from "../deploy/switch.js";
import { SUPERVISORCTL_RESTART_PY, SUPERVISORD_RESTART_SH } from "./supervisord-rpc.js";

type Restart = TargetConfig["restart"];

/**
 * The argv that restarts the app on a host. Restart, not reload: after a HUP gunicorn's master
 * keeps the venv and directory it resolved through `current` when it started (the old release).
 * supervisord programs are restarted as `supervisorctl -c conf restart` does it, by the release's
 * Python over supervisord's XML-RPC socket (supervisord-rpc.ts). Returns undefined for manager
 * "none" (the config rules refuse "command" with no command).
 */
export function restartCommand(restart: Restart, currentDir: string, env: Record<string, string>): string[] | undefined {
  switch (restart.manager) {
    case "supervisord":
      return sh(SUPERVISORD_RESTART_SH, SUPERVISORCTL_RESTART_PY, `${currentDir}/virtualenv/bin/python`, restart.conf, ...restart.programs);
    case "systemd":
      return restart.sudo
        ? sh(SUDO_SYSTEMCTL_SH, restart.action, ...restart.programs)
        : ["systemctl", ...systemdScope(restart), restart.action, ...restart.programs];
    case "command":
      return restart.command ? runInDir(currentDir, restart.command, env) : undefined;
    case "none":
      return undefined;
  }
}

/**
 * `sudo -n systemctl <args…>` (never a password prompt: a deploy has no terminal). When sudo
 * refuses, its own words ("a password is required", "not allowed to execute") do not say what
 * to change, so the script adds the sudoers line that would allow exactly this command, with
 * the host's own user name and systemctl path (sudo matches the resolved path and every
 * argument). The exit status is sudo's.
 */
export const SUDO_SYSTEMCTL_SH = `
out=$(sudo -n systemctl "$@" 2>&1); rc=$?
[ -z "$out" ] || printf '%s\n' "$out" >&2
[ "$rc" -eq 0 ] && exit 0
case $out in
  *"password is required"*|*"terminal is required"*|*"not allowed to execute"*|*"may not run sudo"*|*"not in the sudoers"*)
    me=$(id -un); bin=$(command -v systemctl || echo /usr/bin/systemctl)
    printf 'slipway: sudo refused %s; restart.sudo needs this line on the host (visudo -f /etc/sudoers.d/slipway):\n  %s ALL=(root) NOPASSWD: %s %s\n' "$me" "$me" "$bin" "$*" >&2 ;;
  *)
    command -v sudo >/dev/null 2>&1 || echo "slipway: sudo is not installed on this host (restart.sudo = true): install it, or restart as root" >&2 ;;
esac
exit "$rc"`;

function systemdScope(restart: Restart): string[] {
  return restart.scope === "user" ? ["--user"] : [];
}

/** After a systemd restart, every unit must be active (a unit can fail right after `restart` returns). */
export function restartVerifyCommand(restart: Restart): string[] | undefined {
  return restart.manager === "systemd" ? ["systemctl", ...systemdScope(restart), "is-active", ...restart.programs] : undefined;
}

/**
 * supervisorctl prints ERROR lines but (in older versions) still exits 0, so its output is
 * read too. "ERROR (not running)" is only the stop half of restarting a stopped program.
 */
export function restartFailed(manager: Restart["manager"], code: number, output: string): boolean {
  if (code !== 0) return true;
  if (manager !== "supervisord") return false;
  return output.split("\n").some((line) => /\bERROR\b/.test(line) && !/ERROR \(not running\)/.test(line));
}
