import type { TargetConfig } from "../config/schema.js";
import { runInDir } from "../deploy/switch.js";

/**
 * The argv that restarts the app on a host. Restart, not reload: gunicorn resolves `current`
 * when its master starts, so a HUP would only reload the old release's code.
 * Returns undefined when there is nothing to restart (manager "command" with no command).
 */
export function restartCommand(restart: TargetConfig["restart"], currentDir: string, env: Record<string, string>): string[] | undefined {
  switch (restart.manager) {
    case "supervisord":
      return ["supervisorctl", ...(restart.conf ? ["-c", restart.conf] : []), "restart", ...restart.programs];
    case "systemd":
      return ["systemctl", "restart", ...restart.programs];
    case "command":
      return restart.command ? runInDir(currentDir, restart.command, env) : undefined;
  }
}

/** supervisorctl prints ERROR lines but (in older versions) still exits 0: read its output too. */
export function restartFailed(manager: TargetConfig["restart"]["manager"], code: number, output: string): boolean {
  if (code !== 0) return true;
  return manager === "supervisord" && /\bERROR\b|no such process|spawn error/i.test(output);
}
