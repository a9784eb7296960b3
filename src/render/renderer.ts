import type { SlipwayEvent } from "../events.js";
import type { SlipwayError } from "../errors.js";

/** Turns a command's events and its outcome into output: JSON lines, plain lines, or a live TTY view. */
export interface Renderer {
  event(e: SlipwayEvent): void;
  /** The command succeeded: `result` is its typed result; `human` prints it for people. */
  result(command: string, result: object, human: (out: (line: string) => void) => void): void;
  error(command: string, err: SlipwayError | Error, verbose: boolean): void;
}

export interface RenderOptions {
  json: boolean;
  tty: boolean;
  color: boolean;
  verbose: boolean;
  quiet: boolean;
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
}
