import { UsageError } from "../errors.js";
import { isValidBuildId } from "../config/patterns.js";

const CI_VARIABLES = ["BUILD_NUMBER", "GITHUB_RUN_NUMBER", "CI_PIPELINE_IID"] as const;

/**
 * The build id: --build-id, else the CI's build number, else a UTC timestamp with the short
 * commit. It becomes a directory name on every host, so it is validated wherever it comes from.
 */
export function resolveBuildId(flag: string | undefined, env: NodeJS.ProcessEnv, now: Date, shortCommit?: string): string {
  let id = flag;
  let source = "--build-id";
  if (!id) {
    const ci = CI_VARIABLES.find((v) => env[v]);
    if (ci) {
      id = env[ci]!;
      source = `$${ci}`;
    }
  }
  if (!id) {
    const stamp = now
      .toISOString()
      .replace(/[-:]/g, "")
      .replace(/\.\d+Z$/, "Z");
    return shortCommit ? `${stamp}.${shortCommit}` : stamp;
  }
  if (!isValidBuildId(id)) {
    throw new UsageError(
      `build id ${JSON.stringify(id)} (from ${source}) is not valid: it must match [A-Za-z0-9][A-Za-z0-9._+-]{0,127} without ".."`,
      "pass --build-id with letters, digits, '.', '_', '+' or '-'",
    );
  }
  return id;
}
