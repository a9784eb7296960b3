// A real HAProxy in the root namespace in front of test hosts, started and stopped by PID.
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import path from "node:path";
import { freePort } from "./supervisor.js";

export interface TestHaproxy {
  port: number;
  socket: string;
  cfg: string;
  stop(): void;
}

/**
 * The settings docs/zero-downtime.md explains: active health checks on /health, retries with
 * redispatch, and retry-on for connection failures and empty responses, so a request that
 * meets a restarting server is retried elsewhere instead of failing.
 */
export async function startHaproxy(
  dir: string,
  servers: { name: string; addr: string }[],
  opts: {
    backendLines?: readonly string[];
    /** Host header of the health checks (default none: HTTP/1.0 without Host), for apps that check it (Django's ALLOWED_HOSTS). */
    checkHost?: string;
  } = {},
): Promise<TestHaproxy> {
  const port = await freePort();
  const socket = path.join(dir, "haproxy-admin.sock");
  const pidfile = path.join(dir, "haproxy.pid");
  const cfg = path.join(dir, "haproxy.cfg");
  await writeFile(
    cfg,
    [
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
      ...(opts.checkHost ? [`  http-check send ver HTTP/1.1 hdr Host ${opts.checkHost}`] : []),
      "  http-check expect status 200",
      "  default-server check inter 200ms fall 2 rise 2",
      ...(opts.backendLines ?? []).map((l) => `  ${l}`),
      ...servers.map((s) => `  server ${s.name} ${s.addr}`),
      "",
    ].join("\n"),
  );
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
  // First among the exit hooks: one that throws (a tmp dir removal racing a dying host) skips the rest.
  process.prependListener("exit", stop);
  return { port, socket, cfg, stop };
}
