// A real redis-server on a free port, in memory only, stopped by PID.
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { connect } from "node:net";
import path from "node:path";
import { promisify } from "node:util";
import { freePort } from "./supervisor.js";
import { tmpDir } from "./tmp.js";

const run = promisify(execFile);

export interface TestRedis {
  port: number;
  /** Addresses it listens on, the first being 127.0.0.1. */
  addresses: string[];
  /** redis://127.0.0.1:port/0 */
  url: string;
  urlAt(address: string, db?: number): string;
  /** Send one inline command and return its one-line raw reply, e.g. "+PONG\r\n" or ":3\r\n". */
  command(line: string): Promise<string>;
  stop(): void;
}

/** Start redis-server (no persistence) on 127.0.0.1 and `listen` addresses (say, a fleet's gateway). */
export async function startRedis(opts: { listen?: string[] } = {}): Promise<TestRedis> {
  const dir = await tmpDir("slipway-redis");
  const port = await freePort();
  const addresses = ["127.0.0.1", ...(opts.listen ?? [])];
  const pidfile = path.join(dir, "redis.pid");
  await run("redis-server", [
    "--port",
    String(port),
    "--bind",
    ...addresses,
    // Bound to named addresses of a test machine: the default protected mode would refuse
    // clients from a fleet's namespaces for having no password.
    "--protected-mode",
    "no",
    "--daemonize",
    "yes",
    "--pidfile",
    pidfile,
    "--dir",
    dir,
    "--logfile",
    path.join(dir, "redis.log"),
    "--save",
    "",
    "--appendonly",
    "no",
  ]).catch((err: Error & { stderr?: string }) => {
    throw new Error(`redis-server failed to start: ${err.stderr?.trim() || err.message} (apt-get install redis-server)`);
  });

  const command = (line: string) => send(port, line);
  let pid = 0;
  for (const deadline = Date.now() + 10_000; ; ) {
    try {
      pid = Number(readFileSync(pidfile, "utf8").trim());
      if (pid && (await command("PING")).startsWith("+PONG")) break;
    } catch {
      /* not up yet */
    }
    if (Date.now() > deadline) throw new Error(`redis-server on port ${port} did not answer PING within 10 s; see ${dir}/redis.log`);
    await new Promise((r) => setTimeout(r, 50));
  }
  const stop = () => {
    if (!pid) return;
    try {
      process.kill(pid, "SIGTERM");
    } catch {
      /* gone */
    }
    pid = 0;
  };
  process.prependListener("exit", stop);
  const urlAt = (address: string, db = 0) => `redis://${address}:${port}/${db}`;
  return { port, addresses, url: urlAt("127.0.0.1"), urlAt, command, stop };
}

function send(port: number, line: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1");
    let reply = "";
    socket.setTimeout(5000, () => socket.destroy(new Error("redis: no reply within 5 s")));
    socket.on("connect", () => socket.write(`${line}\r\n`));
    socket.on("data", (chunk) => {
      reply += chunk.toString("utf8");
      if (reply.endsWith("\r\n")) socket.end();
    });
    socket.on("end", () => resolve(reply));
    socket.on("error", reject);
  });
}
