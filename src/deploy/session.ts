import { ArtifactError, SlipwayError, exitHint } from "../errors.js";
import type { Emit, HostStep } from "../events.js";
import type { ExecOptions, ExecResult, Transport } from "../transport/types.js";

/** A remote step failed: says which host, which step, what ran, how it ended and what it printed. */
export class RemoteStepError extends SlipwayError {
  constructor(
    readonly host: string,
    readonly step: HostStep,
    readonly argv: readonly string[],
    readonly code: number,
    readonly output: string,
    hint?: string,
  ) {
    super(`${host}: ${step} failed (exit ${code})${output.trim() ? `:\n${tail(output)}` : ""}`, hint ?? exitHint(code, null));
  }
}

function tail(text: string, lines = 20): string {
  return text
    .trimEnd()
    .split("\n")
    .slice(-lines)
    .map((l) => `  ${l}`)
    .join("\n");
}

/** A host shell slower than this to start gets a warning at connect (HostSession.warnSlowShell). */
export const SLOW_SHELL_MS = 300;

/** One host during a command: runs its steps over the transport and reports them as events. */
export class HostSession {
  constructor(
    readonly host: string,
    readonly transport: Transport,
    private readonly emit: Emit,
    /** Takes the handshake when there is room (connect.ts bounds how many run at once). */
    private readonly gate: <T>(open: () => Promise<T>) => Promise<T> = (open) => open(),
  ) {}

  private connecting?: Promise<void>;

  /**
   * Open the host's connection as a "connect" step of its own (the ssh handshake, reported
   * apart from the steps that follow it), once: later calls get the same promise. A transport
   * without connections (local) has nothing to do.
   */
  connect(): Promise<void> {
    const t = this.transport;
    this.connecting ??= t.connect
      ? this.gate(() =>
          this.step(
            "connect",
            () => t.connect!(),
            () => (t.shellStartupMs === undefined ? "connected" : `connected; shell start-up ${t.shellStartupMs} ms`),
          ).then(() => this.warnSlowShell()),
        )
      : Promise.resolve();
    return this.connecting;
  }

  /**
   * Say so when the deploy user's shell is slow to start on the host (an rc file that runs for
   * ssh commands, e.g. `pyenv init` or `nvm` in ~/.bashrc): slipway pays it once per host per
   * run, every other ssh command on that host pays it too, and it is the host's, not slipway's.
   */
  private warnSlowShell(): void {
    const ms = this.transport.shellStartupMs;
    if (ms === undefined || ms < SLOW_SHELL_MS) return;
    this.emit({
      type: "log",
      level: "warn",
      message: `${this.host}: the deploy user's shell took ${ms} ms to start before running anything (its rc files: bash sources ~/.bashrc for ssh commands); every ssh command to this host pays it — return early in ~/.bashrc when not interactive (case $- in *i*) ;; *) return ;; esac)`,
    });
  }

  /** Run `body` as a reported step: start, then done with its duration, or failed. */
  async step<T>(step: HostStep, body: () => Promise<T>, detail?: (r: T) => string | undefined): Promise<T> {
    this.emit({ type: "host", host: this.host, step, status: "start" });
    const t0 = performance.now();
    try {
      const r = await body();
      this.emit({ type: "host", host: this.host, step, status: "done", ms: ms(t0), detail: detail?.(r) });
      return r;
    } catch (err) {
      this.emit({ type: "host", host: this.host, step, status: "failed", ms: ms(t0), detail: (err as Error).message.split("\n")[0] });
      throw err;
    }
  }

  /** Run argv on the host; a non-zero exit is a RemoteStepError (exit 3 from our scripts: a rejection). */
  async run(step: HostStep, argv: readonly string[], opts?: ExecOptions & { hint?: string }): Promise<ExecResult> {
    await this.connect(); // a first command must not open a connection past the gate
    const r = await this.transport.exec(argv, opts);
    if (r.code === 0) return r;
    throw this.failure(step, argv, r, opts?.hint);
  }

  /** The error for a remote step that exited non-zero (exit 3 from our staging scripts: a rejection of the artifact). */
  failure(step: HostStep, argv: readonly string[], r: ExecResult, hint?: string): Error {
    const output = [r.stderr, r.stdout].filter((s) => s.trim()).join("\n");
    if (r.code === 3 && (step === "send" || step === "unpack" || step === "stage" || step === "venv" || step === "switch")) {
      return new ArtifactError(`${this.host}: ${step} refused: ${output.trim()}`, hint ?? "nothing was switched; fix the cause and deploy again");
    }
    return new RemoteStepError(this.host, step, argv, r.code, output, hint);
  }
}

function ms(t0: number): number {
  return Math.round(performance.now() - t0);
}
