// HAProxy for bench/zero-downtime.ts: the same settings as test/support/haproxy.ts (whose
// config is fixed when it starts), plus two lines that only the bench's own requests use:
//
//   use-server <name> if { req.hdr(x-bench-server) -m str <name> }   pin one request to a server
//   http-response set-header X-Served-By %s                           say which server answered
//
// The load generator never sends x-bench-server, so it is balanced exactly as in the test.
// Started and stopped by PID (never by name).
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { connect } from "node:net";
import path from "node:path";
import { freePort } from "../test/support/supervisor.js";
import { parseShowStat, type StatRow } from "../src/lb/haproxy.js";

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
  const port = await freePort();
  const socket = path.join(dir, "haproxy-admin.sock");
  const pidfile = path.join(dir, "haproxy.pid");
  const cfg = path.join(dir, "haproxy.cfg");
  await writeFile(cfg, [
    "global",
    `  stats socket ${socket} mode 600 level admin`,
    "  maxconn 2000",
    "defaults",
    "  mode http",
    "  timeout connect 1s",
    "  timeout client 30s",
    "  timeout server 30s",
    "  timeout check 2s",
    "  retries 3",
    "  option redispatch 1",
    "  retry-on conn-failure empty-response response-timeout 503",
    "frontend web",
    `  bind 127.0.0.1:${port}`,
    "  default_backend app",
    "backend app",
    "  option httpchk GET /health",
    "  http-check expect status 200",
    "  default-server check inter 200ms fall 2 rise 2",
    "  http-response set-header X-Served-By %s",
    ...servers.map((s) => `  use-server ${s.name} if { req.hdr(${PIN_HEADER}) -m str ${s.name} }`),
    ...servers.map((s) => `  server ${s.name} ${s.addr}`),
    "",
  ].join("\n"));
  execFileSync("haproxy", ["-c", "-q", "-f", cfg]);
  execFileSync("haproxy", ["-f", cfg, "-D", "-p", pidfile]);
  let stopped = false;
  const stop = () => {
    if (stopped) return;
    stopped = true;
    try {
      const pid = Number(readFileSync(pidfile, "utf8").trim());
      if (pid) process.kill(pid, "SIGTERM");
    } catch {
      /* gone */
    }
  };
  // First among the exit hooks: one that throws (e.g. a tmp dir removal racing a dying host) skips the rest.
  process.prependListener("exit", stop);
  const send = (command: string) =>
    new Promise<string>((resolve, reject) => {
      const s = connect(socket);
      const chunks: Buffer[] = [];
      s.setTimeout(5000, () => s.destroy(new Error(`no answer from ${socket}`)));
      s.on("connect", () => s.end(`${command}\n`));
      s.on("data", (c: Buffer) => chunks.push(c));
      s.on("error", reject);
      s.on("close", () => resolve(Buffer.concat(chunks).toString("utf8")));
    });
  return { port, socket, cfg, pinHeader: PIN_HEADER, stats: async () => parseShowStat(await send("show stat")), stop };
}
