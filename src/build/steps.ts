import type { Emit } from "../events.js";
import { run } from "../util/exec.js";

/**
 * Run the configured build steps, in order, in the staging tree. Steps are shell commands the
 * user wrote in their own config, so they go to /bin/sh as written. The first failure stops
 * the build with its exit code and output.
 */
export async function runSteps(steps: readonly string[], cwd: string, env: NodeJS.ProcessEnv, emit: Emit): Promise<void> {
  for (const [index, command] of steps.entries()) {
    emit({ type: "step", index, command, status: "start" });
    const t0 = performance.now();
    await run(["/bin/sh", "-c", command], {
      cwd,
      env,
      step: `build step ${index + 1} (${command})`,
      onLine: (line) => emit({ type: "output", phase: "steps", line }),
    });
    emit({ type: "step", index, command, status: "done", ms: Math.round(performance.now() - t0) });
  }
}
