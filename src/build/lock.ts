import lockfile from "proper-lockfile";
import type { Emit, Phase } from "../events.js";
import { isErrno } from "../util/fs.js";

/**
 * Hold an exclusive build-machine lock (atomic mkdir, refreshed while held, broken when
 * stale, so a killed build does not block the next one) while `body` runs. A second build
 * of the same key waits here, then finds the work done.
 */
export async function withBuildLock<T>(lockPath: string, what: { phase: Phase; emit: Emit; reason: string }, body: () => Promise<T>): Promise<T> {
  const opts = { realpath: false, lockfilePath: lockPath, stale: 20_000, update: 5_000 };
  let release: () => Promise<void>;
  try {
    release = await lockfile.lock(lockPath, { ...opts, retries: 0 });
  } catch (err) {
    if (!isErrno(err, "ELOCKED")) throw err;
    what.emit({ type: "waiting", phase: what.phase, reason: what.reason });
    release = await lockfile.lock(lockPath, {
      ...opts,
      retries: { retries: 60 * 60 * 2, factor: 1, minTimeout: 500, maxTimeout: 500 },
    });
  }
  try {
    return await body();
  } finally {
    await release().catch(() => {});
  }
}
