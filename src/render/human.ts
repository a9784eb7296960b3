import pc from "picocolors";
type Colors = ReturnType<typeof pc.createColors>;
import { SlipwayError } from "../errors.js";
import type { Phase, SlipwayEvent } from "../events.js";
import type { Renderer, RenderOptions } from "./renderer.js";
import { bytes, duration } from "./format.js";

const LABELS: Record<Phase, string> = {
  config: "read config",
  files: "list files (git)",
  interpreter: "probe interpreter",
  venv: "virtualenv",
  stage: "stage code",
  project: "install the project",
  steps: "build steps",
  minify: "minify",
  "code-layer": "code layer",
  "venv-layer": "venv layer",
  artifact: "write artifact",
  verify: "verify",
  package: "write packages",
};

interface Row {
  label: string;
  state: "running" | "done" | "waiting" | "failed";
  note?: string;
}

/**
 * Output for people. On a TTY, a live block (one row per phase, progress in place) redrawn
 * as events arrive; otherwise one plain line per finished phase. Tool output (pip, steps) is
 * shown with --verbose, and in full in the error when something fails.
 */
export async function humanRenderer(o: RenderOptions): Promise<Renderer> {
  const c = o.color ? pc : pc.createColors(false);
  const rows = new Map<string, Row>();
  const live = o.tty && !o.quiet;
  // log-update is only needed (and only loaded) for the live view on a terminal.
  const draw = live ? (await import("log-update")).createLogUpdate(o.stderr as NodeJS.WriteStream, { showCursor: true }) : undefined;
  const redraw = () => draw?.([...rows.values()].map((r) => formatRow(r, c)).join("\n"));
  const plain = (line: string) => {
    if (!o.quiet) o.stderr.write(line + "\n");
  };

  return {
    event(e: SlipwayEvent) {
      switch (e.type) {
        case "phase": {
          const row = rows.get(e.phase) ?? { label: LABELS[e.phase], state: "running" };
          if (e.status === "start") row.state = "running";
          else {
            row.state = "done";
            row.note = [duration(e.ms), e.detail].filter(Boolean).join("  ");
            if (!live) plain(`${c.green("✓")} ${row.label}  ${c.dim(row.note)}`);
          }
          rows.set(e.phase, row);
          break;
        }
        case "progress": {
          const row = rows.get(e.phase);
          if (row && e.unit === "bytes") row.note = e.total ? `${bytes(e.done)} / ${bytes(e.total)}` : bytes(e.done);
          break;
        }
        case "waiting": {
          const row = rows.get(e.phase);
          if (row) {
            row.state = "waiting";
            row.note = e.reason;
          }
          if (!live) plain(`… ${e.reason}`);
          break;
        }
        case "step":
          if (e.status === "done") {
            const line = `  ${c.green("✓")} step ${e.index + 1}: ${e.command}  ${c.dim(duration(e.ms))}`;
            if (live) rows.set(`step-${e.index}`, { label: `step ${e.index + 1}: ${e.command}`, state: "done", note: duration(e.ms) });
            else plain(line);
          } else if (live) rows.set(`step-${e.index}`, { label: `step ${e.index + 1}: ${e.command}`, state: "running" });
          break;
        case "output":
          if (o.verbose) {
            draw?.clear();
            o.stderr.write(c.dim(`  ${e.phase}| ${e.line}`) + "\n");
          }
          break;
        case "log":
          draw?.clear();
          o.stderr.write(`${e.level === "warn" ? c.yellow("warning:") : "note:"} ${e.message}\n`);
          break;
        case "venv":
        case "plan":
          break;
        case "batch":
          if (!live) plain(`— batch ${e.index + 1}: ${e.hosts.join(", ")}`);
          break;
        case "host": {
          const key = `host:${e.host}`;
          const row = rows.get(key) ?? { label: e.host, state: "running" };
          if (e.status === "start") {
            row.state = "running";
            row.note = `${e.step}…`;
          } else {
            row.state = e.status === "failed" ? "failed" : "done";
            row.note = `${e.step} ${e.status === "done" ? "✓" : e.status} ${duration(e.ms)}${e.detail ? `  ${e.detail}` : ""}`;
            if (!live)
              plain(
                `${e.status === "failed" ? c.red("✗") : c.green("✓")} ${e.host}  ${e.step}  ${c.dim([duration(e.ms), e.detail].filter(Boolean).join("  "))}`,
              );
          }
          rows.set(key, row);
          break;
        }
        case "transfer": {
          const row = rows.get(`host:${e.host}`);
          if (row) row.note = `send ${e.layer} ${bytes(e.sent)} / ${bytes(e.total)}`;
          break;
        }
        case "migrations":
          draw?.clear();
          o.stderr.write(
            `migrations on ${e.host}: ${e.pending} pending\n${e.output
              .trimEnd()
              .split("\n")
              .map((l) => `  ${l}`)
              .join("\n")}\n`,
          );
          break;
      }
      redraw();
    },
    result(_command, _result, human) {
      draw?.done();
      human((line) => o.stdout.write(line + "\n"));
    },
    error(_command, err, verbose) {
      draw?.done();
      const known = err instanceof SlipwayError;
      o.stderr.write(`${c.red("error:")} ${err.message}\n`);
      if (known && err.hint) o.stderr.write(`${c.yellow("hint:")} ${err.hint}\n`);
      if (!known) o.stderr.write(c.dim("this is a bug in slipway; rerun with --verbose and report it with the output\n"));
      if (verbose && err.stack) o.stderr.write(c.dim(err.stack) + "\n");
    },
  };
}

function formatRow(r: Row, c: Colors): string {
  const mark = r.state === "done" ? c.green("✓") : r.state === "failed" ? c.red("✗") : r.state === "waiting" ? c.yellow("…") : c.cyan("›");
  return `${mark} ${r.label.padEnd(22)} ${c.dim(r.note ?? "")}`;
}
