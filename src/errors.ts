/** Exit codes are part of the user contract (SPEC §1). */
export const ExitCode = {
  ok: 0,
  failed: 1,
  usage: 2,
  rejected: 3,
  locked: 4,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/**
 * Every error the library reports on purpose. `message` says what failed and where;
 * `hint` says what to do about it. The CLI prints both and exits with `exitCode`.
 */
export class SlipwayError extends Error {
  readonly exitCode: ExitCode = ExitCode.failed;
  constructor(
    message: string,
    readonly hint?: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** A bad flag or argument. */
export class UsageError extends SlipwayError {
  override readonly exitCode = ExitCode.usage;
}

export interface ConfigProblem {
  file: string;
  line?: number;
  /** Dotted key path inside the slipway config, e.g. `build.exclude[2]`. */
  path: string;
  message: string;
  hint?: string;
}

/** The configuration (file, keys or values) is wrong; carries every problem found. */
export class ConfigError extends SlipwayError {
  override readonly exitCode = ExitCode.usage;
  constructor(
    readonly problems: ConfigProblem[],
    hint?: string,
  ) {
    super(problems.map(formatProblem).join("\n"), hint);
  }
}

export function formatProblem(p: ConfigProblem): string {
  const where = p.line ? `${p.file}:${p.line}` : p.file;
  const key = p.path ? ` ${p.path}:` : "";
  const fix = p.hint ? ` (${p.hint})` : "";
  return `${where}:${key} ${p.message}${fix}`;
}

/** An environment problem the user must fix before the command can run (exit 2). */
export class EnvironmentError extends SlipwayError {
  override readonly exitCode = ExitCode.usage;
}

/** The artifact is corrupt, tampered, unsafe or incompatible (exit 3). */
export class ArtifactError extends SlipwayError {
  override readonly exitCode = ExitCode.rejected;
}

/** A deploy lock is held by someone else (exit 4). */
export class LockedError extends SlipwayError {
  override readonly exitCode = ExitCode.locked;
}

/** A child process failed; carries what is needed to understand why. */
export class CommandFailedError extends SlipwayError {
  constructor(
    readonly step: string,
    readonly argv: readonly string[],
    readonly code: number | null,
    readonly signal: NodeJS.Signals | null,
    readonly output: string,
    hint?: string,
  ) {
    super(describeFailure(step, argv, code, signal, output), hint ?? exitHint(code, signal));
  }
}

function describeFailure(step: string, argv: readonly string[], code: number | null, signal: NodeJS.Signals | null, output: string): string {
  const how = signal ? `was killed by ${signal}` : `exited with code ${code}`;
  const tail = output.trimEnd();
  return `${step} failed: \`${argv.join(" ")}\` ${how}${tail ? `\n${tail}` : ""}`;
}

/** What common exit statuses usually mean, so users need not look them up. */
export function exitHint(code: number | null, signal: NodeJS.Signals | null): string | undefined {
  if (code === 127) return "exit 127: command not found — check the program name and PATH";
  if (code === 126) return "exit 126: found but not executable — check its permissions";
  if (code === 137 || signal === "SIGKILL") return "killed (SIGKILL): often the out-of-memory killer";
  return undefined;
}
