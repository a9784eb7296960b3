// A private OpenStack Swift all-in-one (Debian's swift-proxy, -object, -container, -account)
// speaking S3 through the s3api middleware, with tempauth users: one replica, rings built with
// swift-ring-builder in a temp dir, objects on that dir's filesystem (ext4: user xattrs). No
// memcached: tempauth needs a cache client object for S3 requests but not a live cache, so the
// proxy's cache points at a closed port. Every server logs to a UDP syslog socket here, which is
// how tests read the proxy's access log back.
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createSocket, type Socket } from "node:dgram";
import { existsSync, readFileSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { promisify } from "node:util";
import { freePort } from "./supervisor.js";

const exec = promisify(execFile);

/** Swift reads its hash path prefix and storage policies from here, always (Debian's package writes it). */
const SWIFT_CONF = "/etc/swift/swift.conf";

export interface SwiftS3 {
  /** http://HOST:PORT of the proxy (path-style S3). */
  endpoint: string;
  /** tempauth's "account:user" and its key. */
  accessKeyId: string;
  secretAccessKey: string;
  region: string;
  dir: string;
  /**
   * The proxy's S3 access log so far: one entry per client request (Swift subrequests left out).
   * Lines come over UDP after each answer: a marker request is made and waited for first.
   */
  requests(): Promise<{ method: string; path: string; status: number }[]>;
  /** Every syslog line the servers sent so far. */
  log(): string[];
  stop(): Promise<void>;
}

/** `host`: the proxy's bind address (default 127.0.0.1); the storage servers stay on loopback. */
export async function startSwiftS3(dir: string, opts: { host?: string } = {}): Promise<SwiftS3> {
  if (!existsSync(SWIFT_CONF) || !/swift_hash_path_(suffix|prefix)\s*=/.test(readFileSync(SWIFT_CONF, "utf8")))
    throw new Error(`${SWIFT_CONF} is missing or has no [swift-hash]: install Debian's swift packages (scripts/setup.sh)`);
  const host = opts.host ?? "127.0.0.1";
  const conf = path.join(dir, "conf");
  const devices = path.join(dir, "srv");
  await mkdir(conf, { recursive: true });
  await mkdir(path.join(devices, "d1"), { recursive: true });

  const lines: string[] = [];
  const udp: Socket = createSocket("udp4");
  udp.on("message", (m) => lines.push(m.toString("utf8").replace(/\0+$/, "").trimEnd()));
  await new Promise<void>((resolve) => udp.bind(0, "127.0.0.1", resolve));
  const logPort = udp.address().port;

  const ports = { proxy: await freePort(), account: await freePort(), container: await freePort(), object: await freePort() };
  // One partition, one replica, one device per ring; the three rings built side by side (each
  // swift-ring-builder run spends about two seconds importing swift).
  await Promise.all(
    (["account", "container", "object"] as const).map(async (ring) => {
      const builder = path.join(conf, `${ring}.builder`);
      await exec("swift-ring-builder", [builder, "create", "0", "1", "1"]);
      const dev = ["--region", "1", "--zone", "1", "--ip", "127.0.0.1", "--port", String(ports[ring]), "--device", "d1", "--weight", "100"];
      await exec("swift-ring-builder", [builder, "add", ...dev]);
      await exec("swift-ring-builder", [builder, "rebalance"]);
    }),
  );
  const common = (bind: string, port: number) =>
    `[DEFAULT]\nbind_ip = ${bind}\nbind_port = ${port}\nswift_dir = ${conf}\nworkers = 0\nlog_udp_host = 127.0.0.1\nlog_udp_port = ${logPort}\n`;
  for (const server of ["account", "container", "object"] as const) {
    await writeFile(
      path.join(conf, `${server}.conf`),
      `${common("127.0.0.1", ports[server])}devices = ${devices}\nmount_check = false\n[pipeline:main]\npipeline = ${server}-server\n[app:${server}-server]\nuse = egg:swift#${server}\n`,
    );
  }
  const secretAccessKey = randomBytes(12).toString("hex");
  // Each filter's table, with its settings.
  const filters: Record<string, string> = {
    catch_errors: "",
    gatekeeper: "",
    proxy_logging: "",
    memcache: `memcache_servers = 127.0.0.1:${await freePort()}\n`,
    listing_formats: "",
    s3api: "",
    tempauth: `user_test_tester = ${secretAccessKey} .admin\n`,
    copy: "",
    slo: "",
    dlo: "",
  };
  await writeFile(
    path.join(conf, "proxy.conf"),
    `${common(host, ports.proxy)}[pipeline:main]
pipeline = catch_errors gatekeeper proxy_logging memcache listing_formats s3api tempauth copy slo dlo proxy_logging proxy-server
[app:proxy-server]
use = egg:swift#proxy
account_autocreate = true
${Object.entries(filters)
  .map(([f, settings]) => `[filter:${f}]\nuse = egg:swift#${f}\n${settings}`)
  .join("")}`,
  );

  const children: ChildProcess[] = [];
  let output = "";
  const kill = () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
  };
  process.on("exit", kill);
  for (const server of ["account", "container", "object", "proxy"] as const) {
    const child = spawn(`swift-${server}-server`, [path.join(conf, `${server}.conf`)], { stdio: ["ignore", "pipe", "pipe"] });
    child.stdout!.on("data", (c: Buffer) => (output += c.toString()));
    child.stderr!.on("data", (c: Buffer) => (output += c.toString()));
    children.push(child);
  }
  const stop = async () => {
    process.removeListener("exit", kill);
    await Promise.all(
      children.map(async (c) => {
        if (c.exitCode !== null || c.signalCode !== null) return;
        const exited = new Promise<void>((resolve) => c.on("exit", () => resolve()));
        process.kill(c.pid!, "SIGTERM");
        const t = setTimeout(() => c.exitCode === null && c.signalCode === null && process.kill(c.pid!, "SIGKILL"), 5000);
        await exited;
        clearTimeout(t);
      }),
    );
    udp.close();
  };
  // Up when every server answers HTTP (any status: the storage servers reject a bare GET /).
  const targets = [`http://${host}:${ports.proxy}/`, ...(["account", "container", "object"] as const).map((s) => `http://127.0.0.1:${ports[s]}/`)];
  for (let i = 0; ; i++) {
    const up = await Promise.all(
      targets.map((u) =>
        fetch(u).then(
          () => true,
          () => false,
        ),
      ),
    );
    if (up.every(Boolean)) break;
    if (i > 150 || children.some((c) => c.exitCode !== null)) {
      await stop();
      throw new Error(`swift did not start (${targets.join(", ")}):\n${output}\n${lines.join("\n")}`);
    }
    await new Promise((res) => setTimeout(res, 100));
  }
  return {
    endpoint: `http://${host}:${ports.proxy}`,
    accessKeyId: "test:tester",
    secretAccessKey,
    region: "us-east-1",
    dir,
    log: () => [...lines],
    requests: async () => {
      const marker = `/slipway-log-marker-${randomBytes(6).toString("hex")}`;
      await fetch(`http://${host}:${ports.proxy}${marker}`).then((r) => r.arrayBuffer());
      for (let i = 0; i < 100 && !lines.some((l) => l.includes(marker)); i++) await new Promise((res) => setTimeout(res, 20));
      return lines.flatMap(parseAccessLine).filter((r) => r.path !== marker);
    },
    stop,
  };
}

/**
 * proxy-logging's access line: `proxy-server: CLIENT REMOTE DATETIME METHOD PATH PROTOCOL STATUS …`
 * (the path URL-quoted, query included). Swift's own subrequests (/v1/…, /info) are left out.
 */
function parseAccessLine(line: string): { method: string; path: string; status: number }[] {
  const m = /proxy-server: \S+ \S+ \S+ ([A-Z]+) (\S+) HTTP\/[\d.]+ (\d{3}) /.exec(line);
  if (!m) return [];
  const full = decodeURIComponent(m[2]!);
  const p = full.split("?")[0]!;
  if (p.startsWith("/v1/") || p === "/info") return [];
  return [{ method: m[1]!, path: p, status: Number(m[3]) }];
}
