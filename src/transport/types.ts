import type { Readable } from "node:stream";

/** A byte range of a local file. */
export interface FileRange {
  path: string;
  offset: number;
  length: number;
}

export interface ExecOptions {
  /** Sent to the command's stdin (e.g. a layer being uploaded). */
  stdin?: Readable | Buffer | string;
  /** The exact size of a streamed `stdin` (a Readable): lets it travel in the host's open shell session. */
  stdinBytes?: number;
  /**
   * The same bytes as `stdin`, as a range of a local file: a transport that can hands it to the
   * kernel (range-send.ts) instead of relaying `stdin`, which the others read as before.
   */
  stdinRange?: FileRange;
  /** Called with the number of stdin bytes sent so far. */
  onSent?: (bytes: number) => void;
  /** Called with stdout as it arrives (the result still holds all of it). */
  onStdout?: (text: string) => void;
}

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * The one seam between slipway and a host: run an argv there. Commands are built as argv
 * arrays by pure functions (src/deploy/remote.ts) and quoted only here, at the edge.
 * `exec` resolves with the exit code, whatever it is; it rejects only when the host cannot
 * be reached (TransportError).
 */
export interface Transport {
  /** The host as written in the config ("deploy@app-01:2222", or a label for local). */
  readonly host: string;
  exec(argv: readonly string[], opts?: ExecOptions): Promise<ExecResult>;
  /** Open the connection now, ahead of the first command (resolves once the host answers); rejects like exec when it cannot. */
  connect?(): Promise<void>;
  /** How long the host's shell took to start (its rc files), once connected; undefined when unknown. */
  readonly shellStartupMs?: number;
  close(): Promise<void>;
}
