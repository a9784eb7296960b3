// Debian's docker-registry (distribution 2.8) started by a test, its request log read back; and
// a proxy in front of it that can spoil the blobs it serves (wrong bytes, a short body, a stall).
import { type ChildProcess, spawn } from "node:child_process";
import { mkdir, writeFile } from "node:fs/promises";
import { createServer, request, type Server } from "node:http";
import path from "node:path";
import { freePort } from "./supervisor.js";

export interface Registry {
  /** host:port it listens on. */
  addr: string;
  dir: string;
  pid: number;
  /** One entry per response, from the registry's JSON log. */
  requests(): { method: string; uri: string; status: number }[];
  stop(): Promise<void>;
}

/**
 * `auth`: YAML for the config's `auth:` section (e.g. htpasswd), indented as a top-level key;
 * `netns`: run it inside that network namespace (`host` must be one of its addresses).
 */
export async function startRegistry(dir: string, opts: { host?: string; auth?: string; netns?: string } = {}): Promise<Registry> {
  await mkdir(dir, { recursive: true });
  const host = opts.host ?? "127.0.0.1";
  const port = await freePort();
  const config = path.join(dir, "config.yml");
  await writeFile(
    config,
    `version: 0.1\nlog:\n  level: info\n  formatter: json\nstorage:\n  filesystem:\n    rootdirectory: ${dir}/data\nhttp:\n  addr: ${host}:${port}\n${opts.auth ?? ""}`,
  );
  let log = "";
  const argv = [...(opts.netns ? ["ip", "netns", "exec", opts.netns] : []), "docker-registry", "serve", config];
  const child: ChildProcess = spawn(argv[0]!, argv.slice(1), { stdio: ["ignore", "pipe", "pipe"] });
  child.stdout!.on("data", (c: Buffer) => (log += c.toString()));
  child.stderr!.on("data", (c: Buffer) => (log += c.toString()));
  const exited = new Promise<void>((resolve) => child.on("exit", () => resolve()));
  const kill = () => child.exitCode === null && child.kill("SIGKILL");
  process.on("exit", kill);
  for (let i = 0; ; i++) {
    const r = await fetch(`http://${host}:${port}/v2/`).catch(() => undefined);
    if (r && (r.status === 200 || r.status === 401)) break;
    if (i > 100 || child.exitCode !== null) {
      kill();
      throw new Error(`docker-registry did not start on ${host}:${port}:\n${log}`);
    }
    await new Promise((res) => setTimeout(res, 100));
  }
  return {
    addr: `${host}:${port}`,
    dir,
    pid: child.pid!,
    requests: () =>
      log
        .split("\n")
        .filter((l) => l.startsWith("{") && l.includes('"http.response.status"'))
        .map((l) => JSON.parse(l) as Record<string, unknown>)
        .map((e) => ({ method: e["http.request.method"] as string, uri: e["http.request.uri"] as string, status: e["http.response.status"] as number })),
    stop: async () => {
      process.removeListener("exit", kill);
      if (child.exitCode === null) {
        child.kill("SIGTERM");
        await exited;
      }
    },
  };
}

export type Spoil = "none" | "flip" | "truncate" | "stall";

export interface SpoilingProxy {
  addr: string;
  /** What GET …/blobs/<digest> answers get from now on (every other request passes through untouched). */
  spoil: Spoil;
  /** Only blobs with this digest are spoiled (default: every blob). */
  only?: string;
  /** Called while a "stall" holds a blob's body back (the host's curl is waiting). */
  onStall?: () => Promise<void>;
  /** How many blob answers were stalled so far. */
  stalls: number;
  close(): Promise<void>;
}

/** An HTTP proxy on host:<free port> in front of `upstream` (host:port). */
export async function spoilingProxy(host: string, upstream: string): Promise<SpoilingProxy> {
  const port = await freePort();
  const [uh, up] = upstream.split(":") as [string, string];
  const state: SpoilingProxy = { addr: `${host}:${port}`, spoil: "none", stalls: 0, close: async () => {} };
  const server: Server = createServer((req, res) => {
    const up_ = request({ host: uh, port: Number(up), method: req.method, path: req.url, headers: { ...req.headers, host: upstream } }, (answer) => {
      const blob = req.method === "GET" && /\/blobs\/sha256:[0-9a-f]{64}$/.test(req.url ?? "");
      const mode = blob && answer.statusCode === 200 && (!state.only || req.url!.endsWith(state.only)) ? state.spoil : "none";
      if (mode === "none") {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
        return;
      }
      const chunks: Buffer[] = [];
      answer.on("data", (c: Buffer) => chunks.push(c));
      answer.on("end", async () => {
        const body = Buffer.concat(chunks);
        if (mode === "flip") {
          body[body.length >> 1] = body[body.length >> 1]! ^ 0xff;
          res.writeHead(200, answer.headers);
          res.end(body);
        } else if (mode === "truncate") {
          res.writeHead(200, answer.headers); // the full Content-Length, half the body
          res.write(body.subarray(0, body.length >> 1));
          res.destroy();
        } else {
          res.writeHead(200, answer.headers);
          res.write(body.subarray(0, 1));
          state.stalls++;
          await state.onStall?.();
          res.end(body.subarray(1));
        }
      });
    });
    up_.on("error", () => res.destroy());
    req.pipe(up_);
  });
  await new Promise<void>((resolve) => server.listen(port, host, resolve));
  state.close = () => new Promise<void>((resolve) => server.close(() => resolve()));
  return state;
}
