import { parseDuration } from "../config/patterns.js";
import { SlipwayError } from "../errors.js";
import { isUp } from "./haproxy.js";
import { stats, type Balancer } from "./balancers.js";

const POLL_MS = 100;

/** Waited for servers to come back before a drain: who, and how long. */
export interface CapacityWait {
  ms: number;
  waitedFor: string[];
}

/**
 * The capacity guard: before `server` is drained on `b`, wait until every other server that
 * was in rotation when this run first looked is UP again — a neighbour restarted a moment ago
 * may still be failing HAProxy's checks, and draining now could leave the backend empty.
 * Servers this run holds out (its own batch) and servers an operator has put in MAINT or DRAIN
 * since are not waited for. Bounded by capacity_timeout: then it throws, nothing drained.
 */
export async function waitForCapacity(b: Balancer, host: string, server: string, note: (message: string) => void): Promise<CapacityWait> {
  const t0 = Date.now();
  const deadline = t0 + parseDuration(b.config.capacity_timeout);
  const backend = b.config.backend;
  let waited: string[] = [];
  for (;;) {
    const rows = (await stats(b)).filter((r) => r.pxname === backend && r.svname !== "BACKEND" && r.svname !== "FRONTEND");
    b.baseline ??= new Set(rows.filter((r) => isUp(r.status)).map((r) => r.svname));
    const missing = rows.filter(
      (r) => r.svname !== server && b.baseline!.has(r.svname) && !b.held.has(r.svname) && !isUp(r.status) && !/^(MAINT|DRAIN)/.test(r.status),
    );
    const waitedFor = missing.map((r) => `${backend}/${r.svname} (${r.status})`);
    if (missing.length === 0) return { ms: Date.now() - t0, waitedFor: waited };
    if (Date.now() >= deadline) {
      throw new SlipwayError(
        `${host}: not drained: on ${b.api.where}, ${waitedFor.join(", ")} ${missing.length === 1 ? "is" : "are"} still not UP after capacity_timeout (${b.config.capacity_timeout}); draining ${backend}/${server} now could leave the backend without a server — ${host} was not touched`,
        "see why HAProxy's checks fail on that server (or take it out with `set server … state maint`), then deploy again",
      );
    }
    if (waited.length === 0) {
      waited = waitedFor;
      note(
        `${host}: waiting for ${waitedFor.join(", ")} on ${b.api.where} to be UP before draining ${backend}/${server} (at most ${b.config.capacity_timeout})`,
      );
    }
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}
