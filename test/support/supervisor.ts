// A private supervisord for tests: started by the test, stopped by PID, config in a temp dir.
import { execFileSync, spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import path from "node:path";

export interface Supervisor {
  conf: string;
  ctl(...args: string[]): string;
  stop(): void;
}

/** `auth`: the servers ask for these credentials (and the [supervisorctl] section has them); `inetPort`: also serve on 127.0.0.1. */
export interface SupervisorOptions {
  auth?: { username: string; password: string };
  inetPort?: number;
}

export async function startSupervisor(dir: string, programs: string, opts: SupervisorOptions = {}): Promise<Supervisor> {
  const conf = path.join(dir, "supervisord.conf");
  const sock = path.join(dir, "supervisor.sock");
  const auth = opts.auth ? [`username=${opts.auth.username}`, `password=${opts.auth.password}`] : [];
  await writeFile(
    conf,
    [
      "[unix_http_server]",
      `file=${sock}`,
      ...auth,
      "",
      ...(opts.inetPort ? ["[inet_http_server]", `port=127.0.0.1:${opts.inetPort}`, ...auth, ""] : []),
      "[supervisord]",
      `pidfile=${dir}/supervisord.pid`,
      `logfile=${dir}/supervisord.log`,
      "nodaemon=false",
      `childlogdir=${dir}`,
      "",
      "[rpcinterface:supervisor]",
      "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface",
      "",
      "[supervisorctl]",
      `serverurl=unix://${sock}`,
      ...auth,
      "",
      programs,
      "",
    ].join("\n"),
  );
  execFileSync("supervisord", ["-c", conf]);
  const ctl = (...args: string[]) => spawnSync("supervisorctl", ["-c", conf, ...args], { encoding: "utf8" }).stdout;
  const stop = () => {
    const pid = Number(pidIn(`${dir}/supervisord.pid`));
    if (pid) {
      try {
        process.kill(pid, "SIGTERM");
      } catch {
        /* already gone */
      }
    }
  };
  process.on("exit", stop);
  return { conf, ctl, stop };
}

/** The pid in a pidfile, or "" once supervisord removed it (stop runs again at exit). */
function pidIn(file: string): string {
  try {
    return readFileSync(file, "utf8").trim();
  } catch {
    return "";
  }
}

/** A TCP port nobody listens on right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.listen(0, "127.0.0.1", () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
    srv.on("error", reject);
  });
}

/** GET a URL until it answers 200 or the deadline passes; resolves the JSON body. */
export async function waitForJson(
  url: string,
  timeoutMs = 10_000,
  predicate: (body: Record<string, unknown>) => boolean = () => true,
): Promise<Record<string, unknown>> {
  const deadline = Date.now() + timeoutMs;
  let last = "";
  while (Date.now() < deadline) {
    try {
      const r = await fetch(url);
      if (r.ok) {
        const body = (await r.json()) as Record<string, unknown>;
        if (predicate(body)) return body;
        last = JSON.stringify(body);
      } else last = `HTTP ${r.status}`;
    } catch (err) {
      last = (err as Error).message;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${url} did not answer as expected within ${timeoutMs} ms (last: ${last})`);
}
