/**
 * Follows a queued deploy through the store (events, then its end) and tells the channel:
 * when it starts, a few batch milestones, and how it ended. Slack allows 5 posts per
 * response_url, so progress is sparse and the last post is always kept for the result.
 */
import { setTimeout as sleep } from "node:timers/promises";
import type { ServerReads } from "../context.js";
import { type DeployRow, FINISHED } from "../model.js";
import { type Markup, deployLink, describeDeploy, duration } from "./format.js";

export interface Outlet {
  /** Posts left on this response_url. */
  readonly remaining: number;
  send(text: string): Promise<boolean>;
}

export interface FollowOptions {
  md: Markup;
  publicUrl?: string;
  /** Stop following (the response_url expires after 30 minutes at Slack). */
  signal: AbortSignal;
  /** At least this long between two progress posts. */
  progressEveryMs?: number;
  now?: () => number;
}

interface HostFailure {
  host: string;
  step: string;
  detail?: string;
}

export async function followDeploy(reads: ServerReads, id: number, out: Outlet, opts: FollowOptions): Promise<DeployRow | undefined> {
  const { md, signal } = opts;
  const now = opts.now ?? Date.now;
  const every = opts.progressEveryMs ?? 10_000;
  const failures: HostFailure[] = [];
  let seq = 0;
  let started = false;
  let lastProgress = 0;
  let hosts: number | undefined;
  let batches: number | undefined;
  let lastState: string | undefined;
  // Progress may use every post but the one kept for the result.
  const canProgress = () => out.remaining > 1 && now() - lastProgress >= every;
  const progress = async (text: string) => {
    lastProgress = now();
    await out.send(text);
  };

  for (;;) {
    // The row first, then the events: once it reads finished, every event is already stored.
    const row = reads.deploy(id);
    if (!row) {
      await out.send(`Deploy #${id} is gone from the server's store; check the dashboard.`);
      return undefined;
    }
    const events = reads.events(id, seq);
    // A wait that woke with nothing new must not turn into a busy loop.
    if (events.length === 0 && row.state === lastState) await sleep(500, undefined, { signal }).catch(() => {});
    lastState = row.state;
    for (const { seq: n, event } of events) {
      seq = n;
      if (event.type === "plan") {
        const plan = event.plan as { hosts?: unknown[]; batches?: unknown[] } | undefined;
        hosts = plan?.hosts?.length;
        batches = plan?.batches?.length;
        if (!started && out.remaining > 1) {
          started = true;
          const shape = hosts !== undefined ? `: ${plural(hosts, "host")}${batches && batches > 1 ? ` in ${batches} batches` : ""}` : "";
          await progress(`▶️ ${deployLink(md, opts.publicUrl, id)} ${describeDeploy(md, row)} started${shape}`);
        }
      } else if (event.type === "batch" && typeof event.index === "number" && event.index > 0 && batches && canProgress()) {
        const list = Array.isArray(event.hosts) ? event.hosts.map(String) : [];
        await progress(`⏩ ${deployLink(md, opts.publicUrl, id)} batch ${event.index + 1}/${batches}: ${list.map(md.text).join(", ")}`);
      } else if (event.type === "host" && event.status === "failed") {
        failures.push({ host: String(event.host), step: String(event.step), detail: typeof event.detail === "string" ? event.detail : undefined });
      }
    }
    if (FINISHED.includes(row.state)) {
      await out.send(resultText(md, row, failures, hosts, opts.publicUrl));
      return row;
    }
    if (!started && row.state === "running" && out.remaining > 1) {
      started = true;
      await progress(`▶️ ${deployLink(md, opts.publicUrl, id)} ${describeDeploy(md, row)} started`);
    }
    if (signal.aborted) break;
    try {
      await reads.waitEvents(id, seq, signal);
    } catch (err) {
      if (!signal.aborted) throw err;
    }
    if (signal.aborted) break;
  }
  await out.send(
    `⏳ ${deployLink(md, opts.publicUrl, id)} is still ${reads.deploy(id)?.state ?? "unknown"}; this channel gets no more updates for it (see status).`,
  );
  return reads.deploy(id);
}

function resultText(md: Markup, row: DeployRow, failures: HostFailure[], hosts: number | undefined, publicUrl?: string): string {
  const head = `${deployLink(md, publicUrl, row.id)} ${describeDeploy(md, row)}`;
  const took = row.duration_ms !== undefined ? ` in ${duration(row.duration_ms)}` : "";
  const on = hosts !== undefined ? ` (${plural(hosts, "host")})` : "";
  switch (row.state) {
    case "succeeded":
      return `✅ ${head} succeeded${took}${on}`;
    case "cancelled":
      return `⏹️ ${head} was cancelled`;
    default: {
      const lines = [`${row.state === "interrupted" ? "⚠️" : "❌"} ${head} ${row.state}${took}${row.error ? `: ${md.text(firstLine(row.error))}` : ""}`];
      for (const f of failures.slice(0, 10)) lines.push(`• ${md.text(f.host)}: ${f.step} failed${f.detail ? `: ${md.text(firstLine(f.detail))}` : ""}`);
      if (failures.length > 10) lines.push(`• … and ${failures.length - 10} more`);
      return lines.join("\n");
    }
  }
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

function firstLine(s: string): string {
  const line = s.split("\n", 1)[0]!;
  return line.length > 300 ? `${line.slice(0, 300)}…` : line;
}
