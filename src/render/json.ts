import { SlipwayError } from "../errors.js";
import type { Renderer } from "./renderer.js";

/** --json: one JSON object per line on stdout — every event, then a final result or error. */
export function jsonRenderer(stdout: NodeJS.WritableStream): Renderer {
  const line = (o: object) => stdout.write(JSON.stringify(o) + "\n");
  return {
    event: (e) => line(e),
    result: (command, result) => line({ type: "result", command, ok: true, ...result }),
    error: (command, err) => {
      const known = err instanceof SlipwayError;
      line({
        type: "result",
        command,
        ok: false,
        error: {
          kind: known ? err.name : "InternalError",
          message: err.message,
          hint: known ? err.hint : undefined,
          exit_code: known ? err.exitCode : 1,
        },
      });
    },
  };
}
