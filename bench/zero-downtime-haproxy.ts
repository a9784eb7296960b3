// HAProxy for bench/zero-downtime.ts: the test's (test/support/haproxy.ts), plus two backend
// lines that only the bench's own requests use:
//
//   use-server <name> if { req.hdr(x-bench-server) -m str <name> }   pin one request to a server
//   http-response set-header X-Served-By %s                           say which server answered
//
// The load generator never sends x-bench-server, so it is balanced exactly as in the test.
import { startHaproxy } from "../test/support/haproxy.js";
import { parseShowStat, SHOW_STAT, type StatRow } from "../src/lb/haproxy.js";
import { localRuntime } from "../src/lb/runtime.js";

export interface BenchHaproxy {
  port: number;
  socket: string;
  cfg: string;
  /** The header that pins a request to one server (value: the server's name). */
  pinHeader: string;
  /** `show stat`, parsed. */
  stats(): Promise<StatRow[]>;
  stop(): void;
}

export const PIN_HEADER = "x-bench-server";

export async function startBenchHaproxy(dir: string, servers: { name: string; addr: string }[]): Promise<BenchHaproxy> {
  const lb = await startHaproxy(dir, servers, {
    backendLines: ["http-response set-header X-Served-By %s", ...servers.map((s) => `use-server ${s.name} if { req.hdr(${PIN_HEADER}) -m str ${s.name} }`)],
  });
  const api = localRuntime(lb.socket);
  return { ...lb, pinHeader: PIN_HEADER, stats: async () => parseShowStat(await api.send(SHOW_STAT)) };
}
