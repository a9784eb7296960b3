/**
 * What the pages show, derived from the store's rows: the build each host runs, whether an
 * artifact's venv differs from what a target runs, a deploy's per-host steps. Pure functions,
 * defensive about `result` (stored JSON, typed unknown).
 */
import type { HostStep, PlanSummary } from "../../events.js";
import type { ArtifactRow, DeployEvent, DeployRow } from "../model.js";

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);
const str = (v: unknown): string | undefined => (typeof v === "string" ? v : undefined);

/**
 * Each host's current build (null: none), from the newest finished deploys first: a deploy's
 * hosts that ended "ok" run its build, a rollback's run its `to`, and an interrupted deploy
 * recorded what each host's `current` was read back as. Hosts never seen are absent.
 */
export function currentBuilds(historyNewestFirst: readonly DeployRow[]): Map<string, string | null> {
  const out = new Map<string, string | null>();
  const learn = (host: unknown, build: string | null | undefined) => {
    if (typeof host === "string" && build !== undefined && !out.has(host)) out.set(host, build);
  };
  for (const row of historyNewestFirst) {
    if (row.interrupted) for (const [host, cur] of Object.entries(row.interrupted.hosts)) learn(host, cur);
    const result = row.result;
    if (!isObj(result) || !Array.isArray(result["hosts"])) continue;
    for (const h of result["hosts"]) {
      if (!isObj(h) || h["result"] !== "ok") continue;
      if (row.kind === "rollback") learn(h["host"], str(h["to"]));
      else learn(h["host"], str(result["build_id"]) ?? row.build_id);
    }
  }
  return out;
}

export type VenvChange = "same" | "changes" | "unknown" | "first";

/** Whether deploying `artifact` changes the venv on hosts running `deployed` builds. */
export function venvChange(artifact: ArtifactRow, deployed: Iterable<string | null>, artifacts: readonly ArtifactRow[]): VenvChange {
  const builds = [...new Set(deployed)].filter((b): b is string => b !== null);
  if (builds.length === 0) return "first";
  const keys = builds.map((b) => artifacts.find((a) => a.build_id === b)?.venv_key);
  if (keys.some((k) => k === undefined)) return "unknown";
  return keys.every((k) => k === artifact.venv_key) ? "same" : "changes";
}

export interface HostStepView {
  status: "start" | "done" | "failed" | "skipped";
  ms?: number;
  detail?: string;
}

export interface HostView {
  host: string;
  steps: Map<HostStep, HostStepView>;
  /** Bytes sent so far, over all layers. */
  sent: number;
  /** Bytes to send, when known (from the plan or transfers). */
  total?: number;
  /** Final result and error from the deploy's result, once finished. */
  result?: string;
  error?: string;
}

export interface DeployView {
  plan?: PlanSummary;
  /** Step names in the order they happened (plan order first when there is a plan). */
  steps: string[];
  hosts: HostView[];
}

/** The per-host progress table of a deploy, replayed from its events and its final result. */
export function deployView(events: readonly DeployEvent[], row: DeployRow): DeployView {
  let plan: PlanSummary | undefined;
  const hosts = new Map<string, HostView & { layers: Map<string, { sent: number; total: number }> }>();
  const steps: string[] = [];
  const host = (name: string) => {
    let v = hosts.get(name);
    if (!v) hosts.set(name, (v = { host: name, steps: new Map(), sent: 0, layers: new Map() }));
    return v;
  };
  for (const { event: e } of events) {
    if (e.type === "plan" && isObj(e["plan"])) {
      plan = e["plan"] as unknown as PlanSummary;
      for (const p of Array.isArray(plan.hosts) ? plan.hosts : []) if (isObj(p) && typeof p.host === "string") host(p.host).total = p.bytes;
    } else if (e.type === "host" && typeof e["host"] === "string" && typeof e["step"] === "string") {
      const step = e["step"] as HostStep;
      if (!steps.includes(step)) steps.push(step);
      const status = e["status"] as HostStepView["status"];
      host(e["host"]).steps.set(step, { status, ms: typeof e["ms"] === "number" ? e["ms"] : undefined, detail: str(e["detail"]) });
    } else if (e.type === "transfer" && typeof e["host"] === "string") {
      const v = host(e["host"]);
      v.layers.set(String(e["layer"]), { sent: Number(e["sent"]) || 0, total: Number(e["total"]) || 0 });
      v.sent = [...v.layers.values()].reduce((n, l) => n + l.sent, 0);
    }
  }
  const result = row.result;
  if (isObj(result) && Array.isArray(result["hosts"])) {
    for (const r of result["hosts"]) {
      if (!isObj(r) || typeof r["host"] !== "string") continue;
      const v = host(r["host"]);
      v.result = str(r["result"]);
      v.error = str(r["error"]);
      if (typeof r["bytes_sent"] === "number") v.sent = r["bytes_sent"];
    }
  }
  const order = plan?.steps ?? [];
  const sorted = [...order.filter((s) => steps.includes(s)), ...steps.filter((s) => !order.includes(s))];
  return { plan, steps: sorted, hosts: [...hosts.values()].map(({ layers: _, ...v }) => v) };
}

const fmtMs = (ms: unknown) => (typeof ms === "number" ? ` (${ms} ms)` : "");

/**
 * One event as a line of the live log; undefined for events the log leaves out (intermediate
 * transfer and progress ticks: the hosts table shows bytes).
 */
export function eventText(e: DeployEvent["event"]): string | undefined {
  const detail = str(e["detail"]) ? ` — ${e["detail"]}` : "";
  switch (e.type) {
    case "phase":
      return `${e["phase"]} ${e["status"]}${fmtMs(e["ms"])}${detail}`;
    case "progress":
      return e["total"] !== undefined && e["done"] === e["total"] ? `${e["phase"]}: ${e["done"]} ${e["unit"]}` : undefined;
    case "transfer":
      return e["sent"] === e["total"] ? `${e["host"]}: sent ${e["layer"]} (${e["total"]} bytes)` : undefined;
    case "host":
      return `${e["host"]}: ${e["step"]} ${e["status"]}${fmtMs(e["ms"])}${detail}`;
    case "plan": {
      const p = isObj(e["plan"]) ? e["plan"] : {};
      const n = Array.isArray(p["hosts"]) ? p["hosts"].length : 0;
      return `plan: ${p["action"]} ${p["build_id"]} to ${p["target"]}, ${n} host${n === 1 ? "" : "s"}`;
    }
    case "batch":
      return `batch ${Number(e["index"]) + 1}: ${Array.isArray(e["hosts"]) ? e["hosts"].join(", ") : ""}`;
    case "log":
      return `${e["level"] === "warn" ? "warning: " : ""}${e["message"]}`;
    case "output":
      return String(e["line"]);
    case "step":
      return `step ${e["index"]} ${e["status"]}: ${e["command"]}${fmtMs(e["ms"])}`;
    case "migrations":
      return `${e["host"]}: ${e["pending"]} pending migration${e["pending"] === 1 ? "" : "s"}`;
    case "waiting":
      return `waiting: ${e["reason"]}`;
    case "venv":
      return `venv ${e["key"]}: ${e["cache"]}`;
    case "queued":
      return `queued${e["position"] !== undefined ? ` at position ${e["position"]}` : ""}`;
    case "state":
      return `${e["state"]}${str(e["error"]) ? `: ${e["error"]}` : ""}`;
    default: {
      const { type, ...rest } = e;
      return `${type} ${JSON.stringify(rest).slice(0, 300)}`;
    }
  }
}
