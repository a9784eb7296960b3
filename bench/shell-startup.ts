/**
 * The host shell's start-up as a deploy measured it: the "connect" step's detail (`connected;
 * shell start-up N ms`, deploy/session.ts), per host, from a run's --json events. The benches
 * print it with their environment: a slow rc file on the hosts (bash sources ~/.bashrc for ssh
 * commands) costs every ssh command there, and is the host's, not slipway's.
 */
type Json = Record<string, unknown>;

export function shellStartups(events: readonly Json[], host?: string): number[] {
  return events.flatMap((e) => {
    if (e["type"] !== "host" || e["step"] !== "connect" || e["status"] !== "done") return [];
    if (host !== undefined && e["host"] !== host) return [];
    const m = /shell start-up (\d+) ms/.exec(String(e["detail"] ?? ""));
    return m ? [Number(m[1])] : [];
  });
}

/** "620 ms (min 590, max 700, 12 hosts)", or "not measured". */
export function describeStartups(ms: readonly number[]): string {
  if (ms.length === 0) return "not measured";
  const sorted = [...ms].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)]!;
  return `${median} ms${sorted.length > 1 ? ` (min ${sorted[0]}, max ${sorted.at(-1)}, ${sorted.length} hosts)` : ""}`;
}
