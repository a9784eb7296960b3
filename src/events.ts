/**
 * Commands report what they do as a stream of typed events. The CLI renders them (live
 * progress on a TTY, plain lines otherwise, JSON lines with --json); a server can stream them.
 */
export type Phase =
  | "config"
  | "files"
  | "interpreter"
  | "venv"
  | "stage"
  | "project"
  | "steps"
  | "minify"
  | "code-layer"
  | "venv-layer"
  | "artifact"
  | "verify"
  | "package";

export type SlipwayEvent =
  | { type: "phase"; phase: Phase; status: "start"; detail?: string }
  | { type: "phase"; phase: Phase; status: "done"; ms: number; detail?: string }
  | { type: "progress"; phase: Phase; done: number; total?: number; unit: "bytes" | "files" | "lines" }
  | { type: "venv"; key: string; path: string; cache: "hit" | "miss" | "restored" }
  | { type: "waiting"; phase: Phase; reason: string }
  | { type: "output"; phase: Phase; line: string }
  | { type: "step"; index: number; command: string; status: "start" }
  | { type: "step"; index: number; command: string; status: "done"; ms: number }
  | { type: "log"; level: "info" | "warn"; message: string }
  | { type: "plan"; plan: PlanSummary }
  | { type: "host"; host: string; step: HostStep; status: "start" }
  | { type: "host"; host: string; step: HostStep; status: "done" | "failed" | "skipped"; ms: number; detail?: string }
  | { type: "transfer"; host: string; layer: "code" | "venv" | "manifest"; sent: number; total: number }
  | { type: "migrations"; host: string; pending: number; output: string }
  | { type: "batch"; index: number; hosts: string[] };

/** Per-host steps of deploy, rollback, prune and unlock (SPEC §5). */
export type HostStep =
  | "connect"
  | "lock"
  | "preflight"
  | "clean"
  | "send"
  | "unpack"
  | "venv"
  | "stage"
  | "assets"
  | "migrate"
  | "hooks"
  | "drain"
  | "switch"
  | "restart"
  | "health"
  | "ready"
  | "rollback"
  | "after-hooks"
  | "record"
  | "prune"
  | "unlock"
  | "finish"
  | "list";

/** What a deploy will do, as --dry-run prints it and as the first event of a deploy. */
export interface PlanSummary {
  action: "deploy" | "rollback";
  target: string;
  build_id: string;
  batches: string[][];
  /** The batches by role (roles switch in the order written); absent for a rollback. */
  roles?: { role: string; batches: string[][] }[];
  hosts: {
    host: string;
    roles?: string[];
    send: ("manifest" | "code" | "venv")[];
    /** Layers the host pulls from the registry itself (pull mode), not sent by the deployer. */
    pull?: ("code" | "venv")[];
    bytes: number;
    release: "new" | "present";
    current?: string;
  }[];
  steps: string[];
}

export type Emit = (event: SlipwayEvent) => void;

export const silent: Emit = () => {};

/** Time a phase: emits start and done (with ms) and returns the body's result and its duration. */
export async function timed<T>(emit: Emit, phase: Phase, body: () => Promise<T>, detail?: (r: T) => string): Promise<{ result: T; ms: number }> {
  emit({ type: "phase", phase, status: "start" });
  const t0 = performance.now();
  const result = await body();
  const ms = Math.round(performance.now() - t0);
  emit({ type: "phase", phase, status: "done", ms, detail: detail?.(result) });
  return { result, ms };
}

/** Report progress at most every `ms` milliseconds (and always the final value via `flush`). */
export function throttledProgress(emit: Emit, phase: Phase, unit: "bytes" | "files", total?: number, ms = 200) {
  let last = 0;
  let pending: number | undefined;
  return {
    update(done: number) {
      pending = done;
      const now = performance.now();
      if (now - last >= ms) {
        last = now;
        emit({ type: "progress", phase, done, total, unit });
        pending = undefined;
      }
    },
    flush() {
      if (pending !== undefined) emit({ type: "progress", phase, done: pending, total, unit });
    },
  };
}
