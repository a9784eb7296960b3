/**
 * Events of the deploys being watched, kept in memory as well as stored: each event is
 * serialized once (its SSE data line), and fifty viewers of one deploy read the same list
 * instead of querying SQLite fifty times per event. A deploy's list is loaded from the store
 * the first time it is needed and dropped a while after the deploy finished.
 */
import { FINISHED, type DeployEvent, type DeployState } from "./model.js";
import type { Store } from "./store.js";

export interface LiveEvent extends DeployEvent {
  /** `{seq, at, ...event}` as JSON: the SSE data line. */
  frame: string;
}

interface Live {
  items: LiveEvent[];
  done: boolean;
  drop?: NodeJS.Timeout;
}

const withFrame = (e: DeployEvent): LiveEvent => ({ ...e, frame: JSON.stringify({ seq: e.seq, at: e.at, ...e.event }) });

export class LiveEvents {
  private readonly open = new Map<number, Live>();

  constructor(
    private readonly store: Store,
    private readonly keepMs = 60_000,
  ) {}

  private entry(id: number): Live | undefined {
    let live = this.open.get(id);
    if (live) return live;
    const d = this.store.deploy(id);
    if (!d) return undefined;
    live = { items: this.store.events(id, 0).map(withFrame), done: FINISHED.includes(d.state) };
    this.open.set(id, live);
    if (live.done) this.dropLater(id, live);
    return live;
  }

  private dropLater(id: number, live: Live): void {
    clearTimeout(live.drop);
    live.drop = setTimeout(() => this.open.delete(id), this.keepMs);
    live.drop.unref();
  }

  /** Store the event, and keep it (serialized) for the deploy's viewers. */
  record(id: number, event: DeployEvent["event"]): DeployEvent {
    const live = this.entry(id);
    const stored = this.store.addEvent(id, event);
    if (live) {
      live.items.push(withFrame(stored));
      if (event.type === "state" && FINISHED.includes(event.state as DeployState)) {
        live.done = true;
        this.dropLater(id, live);
      }
    }
    return stored;
  }

  /** The deploy's events after `seq` (0: all). */
  after(id: number, seq: number): LiveEvent[] {
    const live = this.entry(id);
    if (!live) return [];
    // Events are numbered from 1 with no gap: event N is items[N - 1].
    if (live.items[seq - 1]?.seq === seq || seq === 0) return live.items.slice(seq);
    return live.items.filter((e) => e.seq > seq);
  }

  /** Whether the deploy has reached a final state (unknown deploys count as finished). */
  finished(id: number): boolean {
    return this.entry(id)?.done ?? true;
  }
}
