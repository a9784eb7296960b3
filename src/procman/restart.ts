import type { TargetConfig } from "../config/schema.js";
import { sh } from "../deploy/layout.js";
import { runInDir } from "../deploy/switch.js";
import { SUPERVISORCTL_RESTART_PY, SUPERVISORD_RESTART_SH } from "./supervisord-rpc.js";

type Restart = TargetConfig["restart"];

/**
 * The argv that restarts the app on a host. Restart, not reload: after a HUP gunicorn's master
 * keeps the venv and directory it resolved through `current` when it started (the old release).
 * supervisord programs are restarted as `supervisorctl -c conf restart` does it, by the release's
 * Python over supervisord's XML-RPC socket (supervisord-rpc.ts). Returns undefined when there is
 * nothing to restart (manager "command" with no command).
 */
export function restartCommand(restart: Restart, currentDir: string, env: Record<string, string>): string[] | undefined {
  switch (restart.manager) {
    case "supervisord":
      return sh(SUPERVISORD_RESTART_SH, SUPERVISORCTL_RESTART_PY, `${currentDir}/virtualenv/bin/python`, restart.conf, ...restart.programs);
    case "systemd":
      return ["systemctl", ...systemdScope(restart), restart.action, ...restart.programs];
    case "command":
      return restart.command ? runInDir(currentDir, restart.command, env) : undefined;
  }
}

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
