import { parseDuration } from "../config/patterns.js";
import { SlipwayError } from "../errors.js";
import { findServer, inFlight, isUp, type ServerState } from "./haproxy.js";
import { adminStates, HaproxyRefused, setState, stats, type Balancer } from "./balancers.js";
import { waitForCapacity } from "./capacity.js";

/**
 * What drainHost did to one host's servers, so that restoreHost undoes exactly that: every
 * drain is paired with a restore of the state the server had before.
 */
export interface Hold {
  host: string;
  /** The host is a server of at least one balancer. */
  behind: boolean;
  /** Servers this run set to DRAIN (they were in rotation): restoreHost sets them READY again. */
  drained: { b: Balancer; server: string }[];
  /** Servers an operator (or the configuration) had in MAINT or DRAIN: never changed by slipway. */
  kept: { where: string; server: string; state: ServerState }[];
  /** Requests still in flight or queued when drain_timeout passed. */
  remaining: number;
  ms: number;
  /** What the capacity guard waited for first (capacity.ts), and for how long. */
  waited: { ms: number; servers: string[] };
}

const POLL_MS = 100;

function serversOf(balancers: readonly Balancer[], host: string): { b: Balancer; server: string }[] {
  return balancers.flatMap((b) => (b.config.servers[host] ? [{ b, server: b.config.servers[host]! }] : []));
}

/**
 * Take the host out of rotation on every balancer, then wait until nothing is in flight or
 * queued for it (scur + qcur = 0 everywhere) or drain_timeout passes. A server already in
 * MAINT or DRAIN by an operator's hand is left as it is (and reported in `kept`). Before
 * anything is drained, the capacity guard waits for the other servers to be UP. If any
 * balancer fails after another was drained, the drained ones are put back before this throws.
 */
export interface DrainOptions {
  /**
   * Servers ("backend/server") that an earlier run drained on this host and never put back (it
   * was killed: deploy/drained.ts): found in DRAIN, they are this run's to drain and restore,
   * not an operator's to keep.
   */
  ours?: readonly string[];
  /** Called with the servers about to be drained ("backend/server"), before the first is: the host records them. */
  beforeDrain?: (servers: string[]) => Promise<void>;
}

export async function drainHost(
  balancers: readonly Balancer[],
  host: string,
  note: (message: string) => void = () => {},
  opts: DrainOptions = {},
): Promise<Hold> {
  const mine = serversOf(balancers, host);
  const hold: Hold = { host, behind: mine.length > 0, drained: [], kept: [], remaining: 0, ms: 0, waited: { ms: 0, servers: [] } };
  if (mine.length === 0) return hold;
  const toDrain: typeof mine = [];
  for (const m of mine) {
    const key = `${m.b.config.backend}/${m.server}`;
    const state = (await adminStates(m.b)).get(m.server) ?? "ready";
    if (state === "ready" || (state === "drain" && opts.ours?.includes(key))) toDrain.push(m);
    else hold.kept.push({ where: m.b.api.where, server: key, state });
  }
  for (const m of toDrain) {
    const w = await waitForCapacity(m.b, host, m.server, note);
    hold.waited.ms += w.ms;
    hold.waited.servers.push(...w.waitedFor);
  }
  if (toDrain.length && opts.beforeDrain) await opts.beforeDrain(toDrain.map((m) => `${m.b.config.backend}/${m.server}`));
  const t0 = Date.now();
  try {
    for (const m of toDrain) {
      // Recorded before the command: a reply lost on the way still gets its restore.
      hold.drained.push(m);
      m.b.held.add(m.server);
      await setState(m.b, m.server, "drain");
    }
    const deadline = t0 + Math.max(...mine.map((m) => parseDuration(m.b.config.drain_timeout)));
    for (;;) {
      const left = await Promise.all(mine.map(async (m) => inFlight(findServer(await stats(m.b), m.b.config.backend, m.server))));
      hold.remaining = left.reduce((a, n) => a + n, 0);
      if (hold.remaining === 0 || Date.now() >= deadline) break;
      await new Promise((r) => setTimeout(r, POLL_MS));
    }
  } catch (err) {
    // A refusal changed nothing; a lost reply may have: that one is put back too.
    if (err instanceof HaproxyRefused) {
      const refused = hold.drained.pop()!;
      refused.b.held.delete(refused.server);
    }
    const what = hold.drained.map((m) => `${m.b.api.where} ${m.b.config.backend}/${m.server}`).join(", ");
    const undo = await restoreHost(hold, { waitUp: false }).then(
      () => undefined,
      (e: Error) => e.message,
    );
    const after = undo
      ? `the drain could not be undone: ${undo}`
      : what
        ? `${what} put back as ${hold.drained.length > 1 ? "they were" : "it was"}; nothing was switched`
        : "nothing was drained or switched";
    throw new SlipwayError(
      `${host}: drain failed: ${(err as Error).message}\n${host}: ${after}`,
      undo ? "put the server back in rotation by hand (`set server <backend>/<server> state ready`)" : (err as SlipwayError).hint,
    );
  }
  hold.ms = Date.now() - t0;
  return hold;
}

/**
 * Undo drainHost: `state ready` on every server it drained (each tried, whatever the others
 * did), then — unless told not to — wait until HAProxy's own check sees them UP (bounded by
 * drain_timeout), so the next batch never drains while this host is still out. Servers the
 * operator held are untouched. Throws after trying them all if any failed.
 */
export async function restoreHost(hold: Hold, opts: { waitUp?: boolean } = {}): Promise<{ ms: number; status: string }> {
  const t0 = Date.now();
  if (!hold.behind) return { ms: 0, status: "not balanced" };
  const problems: string[] = [];
  const back: Hold["drained"] = [];
  for (const m of hold.drained) {
    try {
      await setState(m.b, m.server, "ready");
      back.push(m);
    } catch (err) {
      problems.push((err as Error).message);
    }
    m.b.held.delete(m.server);
  }
  if (problems.length) {
    throw new SlipwayError(
      `${hold.host}: could not put the server back in rotation: ${problems.join("; ")}`,
      "run `set server <backend>/<server> state ready` on that HAProxy once it answers",
    );
  }
  const kept = hold.kept.map((k) => `${k.server} left ${k.state.toUpperCase()}`);
  if (opts.waitUp === false || back.length === 0) return { ms: Date.now() - t0, status: kept.join(", ") || "ready" };
  const deadline = t0 + Math.max(...back.map((m) => parseDuration(m.b.config.drain_timeout)));
  for (;;) {
    const statuses = await Promise.all(back.map(async (m) => findServer(await stats(m.b), m.b.config.backend, m.server)?.status ?? "?"));
    if (statuses.every(isUp)) return { ms: Date.now() - t0, status: [...statuses, ...kept].join(",") };
    if (Date.now() >= deadline) {
      throw new SlipwayError(
        `${hold.host}: HAProxy does not see the server UP ${Math.round((Date.now() - t0) / 1000)} s after \`state ready\` (status ${statuses.join(", ")})`,
        "HAProxy's own health check disagrees with slipway's: compare its `option httpchk` with targets.<name>.health",
      );
    }
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

/** Take back out of rotation what restoreHost put back (a host about to be switched back after its ready failed). */
export async function drainAgain(hold: Hold): Promise<void> {
  for (const m of hold.drained) {
    m.b.held.add(m.server);
    await setState(m.b, m.server, "drain");
  }
}
