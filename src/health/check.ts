import type { TargetConfig } from "../config/schema.js";
import { parseDuration } from "../config/patterns.js";
import { sh } from "../deploy/layout.js";

/**
 * Poll on the host itself until healthy or the deadline: the URL (2xx) or the command (exit 0).
 * Agentless: the poller is the release's own Python (<current>/virtualenv/bin/python), which
 * every release has. One round trip, however long it polls. Prints one JSON line.
 */
const POLL = `
py=$1; shift
export PATH="\${py%/python}:$PATH"  # a health command finds the release's tools, like hooks do
exec "$py" -I -c '
import json, subprocess, sys, time, urllib.request, urllib.error
kind, target, timeout_ms, interval_ms = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
start = time.monotonic()
attempts, last = 0, {}
while True:
    attempts += 1
    try:
        if kind == "url":
            with urllib.request.urlopen(target, timeout=min(5, max(1, timeout_ms / 1000))) as r:
                status = r.status
                body = r.read(300).decode("utf-8", "replace")
        else:
            p = subprocess.run(target, shell=True, capture_output=True, timeout=max(1, timeout_ms / 1000))
            status = p.returncode
            body = (p.stdout + p.stderr)[-300:].decode("utf-8", "replace")
        ok = (200 <= status < 300) if kind == "url" else status == 0
        last = {"status": status, "body": body}
    except urllib.error.HTTPError as e:
        ok, last = False, {"status": e.code, "body": e.read(300).decode("utf-8", "replace")}
    except Exception as e:
        ok, last = False, {"error": type(e).__name__ + ": " + str(e)}
    elapsed = int((time.monotonic() - start) * 1000)
    if ok or elapsed >= timeout_ms:
        print(json.dumps({"ok": ok, "ms": elapsed, "attempts": attempts, **last}))
        sys.exit(0 if ok else 1)
    time.sleep(interval_ms / 1000)
' "$@"`;

export interface HealthOutcome {
  ok: boolean;
  ms: number;
  attempts: number;
  status?: number;
  body?: string;
  error?: string;
}

/** Between attempts: a URL is cheap to ask (right after a restart the first attempt usually fails); a command may not be. */
export const POLL_INTERVAL_MS = { url: 100, command: 250 } as const;

/** The argv that polls this target's health on a host; undefined when no check is configured. */
export function healthCommand(health: TargetConfig["health"], currentDir: string): string[] | undefined {
  const timeout = String(parseDuration(health.timeout));
  const python = `${currentDir}/virtualenv/bin/python`;
  if (health.url) return sh(POLL, python, "url", health.url, timeout, String(POLL_INTERVAL_MS.url));
  if (health.command) return sh(POLL, python, "command", health.command, timeout, String(POLL_INTERVAL_MS.command));
  return undefined;
}

export function describeCheck(health: TargetConfig["health"]): string {
  return health.url ? `GET ${health.url}` : `\`${health.command}\``;
}

export function parseHealth(stdout: string): HealthOutcome | undefined {
  const line = stdout.trim().split("\n").at(-1);
  try {
    return line ? (JSON.parse(line) as HealthOutcome) : undefined;
  } catch {
    return undefined;
  }
}

/** What the check saw, for the error message: status and a body excerpt, or the connection error. */
export function describeOutcome(o: HealthOutcome): string {
  const saw = o.error ?? `${typeof o.status === "number" && o.status >= 100 ? `HTTP ${o.status}` : `exit ${o.status}`}${o.body ? `: ${o.body.trim().replace(/\s+/g, " ").slice(0, 200)}` : ""}`;
  return `${saw} (after ${o.attempts} attempt${o.attempts === 1 ? "" : "s"} in ${o.ms} ms)`;
}
