// A fleet of real SSH hosts on this one machine, for integration tests and benches.
//
// Each host is a network namespace (own IP on a per-fleet bridge, no default route) plus
// a private mount namespace held open by an "anchor" process (`sleep infinity`). In that
// mount namespace the host's own directory is bind-mounted over /srv, a per-host home
// over /root, fleet-wide /etc/hosts and /etc/resolv.conf (names h1..hN and "gateway"; no
// DNS), and a per-host /tmp over /tmp (the fleet dir is bound back in at its usual path,
// so confs and keys stay reachable). It also has its own UTS namespace (hostname = host
// name). sshd and supervisord run inside those namespaces, so an ssh session sees the
// host's /srv. Start order per host: anchor, supervisord, setup(), private /tmp, sshd.
//
//   root ns:  bridge slf<id>br 10.201.N.1/24 ── veth slf<id>v1 ─┐
//   host h1:  netns slf<id>h1, eth0 10.201.N.11/24 ◄─────────────┘   (h2: .12, ...)
//
// Requires root. Everything started is killed by stop(), by a process 'exit'/signal
// handler, or later by cleanupStaleFleets() if the test process was SIGKILLed.
import { spawn } from "node:child_process";
import { chmodSync, closeSync, mkdirSync, openSync, rmSync } from "node:fs";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { tmpDir } from "./tmp.js";
import { HOST_ENV, pidAlive, run, sleep, waitFor } from "./fleet/proc.js";
import { cleanupStaleFleets, NAME_PREFIX, netnsPidsSync, procStartTime, releaseRecord, teardownSync, tryClaim, type FleetRecord } from "./fleet/registry.js";

export { cleanupStaleFleets } from "./fleet/registry.js";
export { CommandError } from "./fleet/proc.js";

export interface TestHost {
  name: string; // "h1"
  index: number; // 0-based
  ns: string; // network namespace name
  ip: string; // e.g. "10.201.7.11"
  dest: string; // "root@10.201.7.11" (port 22)
  /** Directory on the real filesystem that this host sees as /srv. */
  srv: string;
  /** Host's private dir on the real filesystem (confs, logs, its /tmp and /root). */
  dir: string;
  /** Interface name inside the namespace. */
  iface: string;
  /** Long-lived process holding the host's namespaces (nsenter --target). */
  anchorPid: number;
  sshdPid: number;
  supervisordPid?: number;
  /** Path (same inside the host and out) of its supervisord.conf; undefined if none started. */
  supervisorConf?: string;
  /** Run argv inside the host (network, mount and UTS namespaces; clean env). Resolves stdout; rejects with stderr on non-zero. */
  exec(argv: string[], opts?: { input?: string | Buffer; env?: NodeJS.ProcessEnv }): Promise<string>;
  /** Run a remote shell command over real ssh with the fleet's key and known_hosts. `sshOptions` are extra `ssh` args. */
  ssh(command: string, opts?: { input?: string | Buffer; sshOptions?: string[] }): Promise<string>;
  /** `supervisorctl -c <conf> ...args` inside the host (throws if no supervisord). */
  supervisorctl(args: string[]): Promise<string>;
  /** Bytes received so far on the host's interface (/sys/class/net/eth0/statistics/rx_bytes in the ns). */
  rxBytes(): Promise<number>;
  /** Bytes sent so far on the host's interface. */
  txBytes(): Promise<number>;
  /** Pids of every process currently in the host's network namespace. */
  pids(): number[];
}

export interface TestFleet {
  id: string;
  hosts: TestHost[];
  /** Fleet dir on the real filesystem (keys, known_hosts, per-host dirs). */
  dir: string;
  bridge: string;
  gateway: string; // "10.201.N.1", this machine as seen from the hosts
  subnet: string; // "10.201.N.0/24"
  /** Files for slipway's [targets.X.ssh]: a private key with access to every host, and a known_hosts with every host key. */
  ssh: { identity: string; known_hosts: string };
  /** Base `ssh` args that use the fleet's key and known_hosts and ignore ~/.ssh (append destination and command). */
  sshArgs(): string[];
  /** Kills every process it started (sshd, supervisord and children), deletes namespaces, veths, bridge; mounts go with the namespaces. Idempotent. */
  stop(): Promise<void>;
}

export interface FleetOptions {
  /** supervisord program sections (ini text) to run on every host (or per host index). If given, a supervisord is started per host inside its namespaces, with its unix socket and conf under the host dir. */
  supervisorPrograms?: string | ((index: number) => string);
  /**
   * Per-host extra setup run inside the host's mount namespace before sshd starts. It runs
   * after supervisord has started (so a bind-mounted fake /usr/bin/python3.11 does not break
   * supervisord itself; supervisorctl, a python3 script, would use it) and before the host's
   * private /tmp is mounted (so it can use files from the test's tmp dirs). Receives the host
   * index (0-based); returns argv lists, run in order with a clean PATH; [] for none.
   */
  setup?: (index: number) => string[][];
  /** Give hosts the real /tmp instead of a private one (default false: private, like separate machines). */
  sharedTmp?: boolean;
  /** Give hosts the real /root instead of an empty private one (default false; the real one may have a slow .bashrc). */
  sharedHome?: boolean;
}

const IP_PREFIX = "10.201";
const HOST_OCTET_BASE = 11;
const IFACE = "eth0";

// Live fleets of this process, torn down synchronously on exit or fatal signal.
const live = new Map<string, FleetRecord>();
let handlersInstalled = false;

function teardownAllSync(): void {
  for (const rec of live.values()) {
    teardownSync(rec);
    releaseRecord(rec.octet, rec.id);
  }
  live.clear();
}

function installHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  process.on("exit", teardownAllSync);
  for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    const handler = (): void => {
      // Dying by a signal skips 'exit' hooks (tmp.ts's included): remove the fleet dirs here.
      const dirs = [...live.values()].map((r) => r.dir);
      teardownAllSync();
      if (process.env.KEEP_TMP !== "1") for (const d of dirs) rmSync(d, { recursive: true, force: true });
      process.removeListener(sig, handler);
      // Keep the default behaviour (die by the signal) unless someone else handles it.
      if (process.listenerCount(sig) === 0) process.kill(process.pid, sig);
    };
    process.on(sig, handler);
  }
}

function randomId(): string {
  const a = "abcdefghijklmnopqrstuvwxyz0123456789";
  let s = "";
  for (let i = 0; i < 3; i++) s += a[Math.floor(Math.random() * a.length)];
  return s;
}

async function usedOctets(): Promise<Set<number>> {
  const out = await run(["ip", "-4", "-o", "addr", "show"]);
  const used = new Set<number>();
  for (const m of out.matchAll(/inet 10\.201\.(\d+)\./g)) used.add(Number(m[1]));
  return used;
}

/** Claim a free 10.201.N.0/24 and a fleet id in the registry, then create bridge, namespaces and veths. */
async function createNetwork(count: number, dir: string): Promise<FleetRecord> {
  const pidStart = procStartTime(process.pid);
  if (pidStart === undefined) throw new Error("fleet: cannot read /proc/self/stat");
  let lastErr: unknown;
  for (let attempt = 0; attempt < 8; attempt++) {
    const used = await usedOctets();
    let rec: FleetRecord | undefined;
    const start = (process.pid * 7 + attempt * 31) % 254;
    for (let k = 0; k < 254 && !rec; k++) {
      const octet = 1 + ((start + k) % 254);
      if (used.has(octet)) continue;
      const id = randomId();
      const candidate: FleetRecord = {
        id,
        pid: process.pid,
        pidStart,
        octet,
        bridge: `${NAME_PREFIX}${id}br`,
        namespaces: Array.from({ length: count }, (_, i) => `${NAME_PREFIX}${id}h${i + 1}`),
        veths: Array.from({ length: count }, (_, i) => `${NAME_PREFIX}${id}v${i + 1}`),
        dir,
        createdAt: new Date().toISOString(),
      };
      if (tryClaim(candidate)) rec = candidate;
    }
    if (!rec) throw new Error("fleet: no free /24 in 10.201.0.0/16");
    live.set(rec.id, rec);
    installHandlers();
    const gw = `${IP_PREFIX}.${rec.octet}.1`;
    const lines = [
      `link add ${rec.bridge} type bridge`,
      `link set ${rec.bridge} addrgenmode none`,
      `addr add ${gw}/24 dev ${rec.bridge}`,
      `link set ${rec.bridge} up`,
    ];
    rec.namespaces.forEach((ns, i) => {
      const veth = rec.veths[i]!;
      lines.push(`netns add ${ns}`);
      lines.push(`link add ${veth} type veth peer name ${IFACE} netns ${ns}`);
      lines.push(`link set ${veth} master ${rec.bridge} up`);
    });
    try {
      await run(["ip", "-batch", "-"], { input: lines.join("\n") + "\n" });
      return rec;
    } catch (e) {
      // Name or address collision with something else: undo and try another claim.
      lastErr = e;
      teardownSync(rec);
      releaseRecord(rec.octet, rec.id);
      live.delete(rec.id);
    }
  }
  throw new Error(`fleet: could not create the network: ${lastErr instanceof Error ? lastErr.message : String(lastErr)}`);
}

// Runs as `ip netns exec <ns> unshare --mount --uts --propagation private sh -c ANCHOR`.
// Configures the interface (no default route: the hosts reach this machine and each
// other, nothing else, and a DNS lookup fails at once instead of timing out), the host's
// mounts and hostname, reports "ready", then holds the namespaces open as `sleep
// infinity` (same pid, so nsenter --target works).
const ANCHOR = `
set -eu
ip link set lo up
ip addr add "$F_IP/24" dev ${IFACE}
ip link set ${IFACE} up
hostname "$F_NAME"
mount --bind "$F_SRV" /srv
mount --bind "$F_HOSTS" /etc/hosts
mount --bind "$F_RESOLV" /etc/resolv.conf
if [ -n "$F_HOME" ]; then mount --bind "$F_HOME" /root; fi
echo ready
exec sleep infinity
`;

// Run inside the host after setup(): a private /tmp, with the fleet dir bound back at its path.
const PRIVATE_TMP = `
set -eu
if [ -n "$F_BACK" ]; then
  mkdir -p "$F_TMP/$F_BACK"
  mount --bind "$F_DIR" "$F_TMP/$F_BACK"
fi
mount --rbind "$F_TMP" /tmp
`;

function startAnchor(ns: string, env: NodeJS.ProcessEnv): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn("ip", ["netns", "exec", ns, "unshare", "--mount", "--uts", "--propagation", "private", "sh", "-c", ANCHOR], {
      env: { ...HOST_ENV, ...env },
      stdio: ["ignore", "pipe", "pipe"],
      detached: true,
    });
    let out = "";
    let err = "";
    let done = false;
    const timer = setTimeout(() => fail(new Error(`fleet: anchor for ${ns} not ready after 10 s: ${err}`)), 10_000);
    const fail = (e: Error): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      child.kill("SIGKILL");
      reject(e);
    };
    child.on("error", fail);
    child.on("exit", (code, signal) => fail(new Error(`fleet: anchor for ${ns} exited (${signal ?? code}): ${err.trim()}`)));
    child.stderr.on("data", (b: Buffer) => (err += b.toString()));
    child.stdout.on("data", (b: Buffer) => {
      out += b.toString();
      if (!done && out.includes("ready\n")) {
        done = true;
        clearTimeout(timer);
        child.stdout.destroy();
        child.stderr.destroy();
        child.removeAllListeners("exit");
        child.unref();
        resolve(child.pid!);
      }
    });
  });
}

async function keygen(path: string, comment: string): Promise<string> {
  await run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", path]);
  return (await readFile(`${path}.pub`, "utf8")).trim();
}

async function readPid(file: string, what: string): Promise<number> {
  return waitFor(what, 5_000, async () => {
    const n = Number((await readFile(file, "utf8").catch(() => "")).trim());
    return Number.isInteger(n) && n > 0 && pidAlive(n) ? n : undefined;
  });
}

function sshdConfig(h: { ip: string; dir: string }, authorizedKeys: string): string {
  return `# slipway test fleet sshd
Port 22
ListenAddress ${h.ip}
HostKey ${h.dir}/ssh_host_ed25519_key
PidFile ${h.dir}/sshd.pid
AuthorizedKeysFile ${authorizedKeys}
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
StrictModes no
UsePAM no
UseDNS no
PrintMotd no
PrintLastLog no
MaxSessions 100
MaxStartups 100:30:200
LoginGraceTime 30
AllowTcpForwarding yes
AllowStreamLocalForwarding yes
AcceptEnv LANG LC_*
Subsystem sftp /usr/lib/openssh/sftp-server
LogLevel INFO
`;
}

function supervisorConfig(dir: string, programs: string): string {
  return `; slipway test fleet supervisord
[unix_http_server]
file=${dir}/supervisor.sock
chmod=0700

[supervisord]
nodaemon=false
pidfile=${dir}/supervisord.pid
logfile=${dir}/supervisord.log
childlogdir=${dir}/logs
directory=/
user=root

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

[supervisorctl]
serverurl=unix://${dir}/supervisor.sock

${programs}
`;
}

function nsenterArgv(anchorPid: number, argv: string[]): string[] {
  return ["nsenter", "--target", String(anchorPid), "--mount", "--net", "--uts", "--wd=/", "--", ...argv];
}

async function readCounter(anchorPid: number, name: string, exec: TestHost["exec"]): Promise<number> {
  // /proc/<pid>/root resolves through the anchor's mount namespace, whose /sys belongs to the host's netns.
  const path = `/sys/class/net/${IFACE}/statistics/${name}`;
  const text = await readFile(`/proc/${anchorPid}/root${path}`, "utf8").catch(() => exec(["cat", path]));
  return Number(text.trim());
}

export async function startFleet(count: number, opts: FleetOptions = {}): Promise<TestFleet> {
  if (!Number.isInteger(count) || count < 1 || count > 240) throw new Error(`startFleet: count must be 1..240, got ${count}`);
  if (process.getuid?.() !== 0) throw new Error("startFleet: needs root (network and mount namespaces)");
  cleanupStaleFleets();
  mkdirSync("/srv", { recursive: true }); // the mount point; hosts bind their own dir over it
  mkdirSync("/run/sshd", { recursive: true }); // sshd's privilege separation dir

  const dir = await tmpDir("slipway-fleet");
  const rec = await createNetwork(count, dir);
  const gateway = `${IP_PREFIX}.${rec.octet}.1`;
  const hosts: TestHost[] = [];
  let stopping: Promise<void> | undefined;

  const fleet: TestFleet = {
    id: rec.id,
    hosts,
    dir,
    bridge: rec.bridge,
    gateway,
    subnet: `${IP_PREFIX}.${rec.octet}.0/24`,
    ssh: { identity: join(dir, "id_ed25519"), known_hosts: join(dir, "known_hosts") },
    sshArgs: () => [
      "-F",
      "/dev/null",
      "-i",
      fleet.ssh.identity,
      "-o",
      "IdentitiesOnly=yes",
      "-o",
      `UserKnownHostsFile=${fleet.ssh.known_hosts}`,
      "-o",
      "GlobalKnownHostsFile=/dev/null",
      "-o",
      "StrictHostKeyChecking=yes",
      "-o",
      "BatchMode=yes",
      "-o",
      "ConnectTimeout=5",
      "-o",
      "LogLevel=ERROR",
    ],
    stop: () => (stopping ??= stopFleet(rec, hosts)),
  };

  try {
    // Where the fleet dir must reappear inside a host whose /tmp is private.
    const back = opts.sharedTmp || !dir.startsWith("/tmp/") ? "" : relative("/tmp", dir);
    const clientPub = keygen(fleet.ssh.identity, `slipway-fleet-${rec.id}`);
    // Every host resolves localhost, its own name and its peers' names from files; DNS
    // points at loopback where nothing listens, so lookups fail fast and stay local.
    const etcHosts = join(dir, "hosts");
    const resolvConf = join(dir, "resolv.conf");
    await writeFile(
      etcHosts,
      `127.0.0.1 localhost\n::1 localhost ip6-localhost ip6-loopback\n${gateway} gateway\n` +
        rec.namespaces.map((_, i) => `${IP_PREFIX}.${rec.octet}.${HOST_OCTET_BASE + i} h${i + 1}\n`).join(""),
    );
    await writeFile(resolvConf, "# slipway test fleet: no DNS\nnameserver 127.0.0.1\noptions timeout:1 attempts:1\n");

    const started = await Promise.all(
      rec.namespaces.map(async (ns, i) => {
        const name = `h${i + 1}`;
        const hdir = join(dir, name);
        const srv = join(hdir, "srv");
        const home = join(hdir, "root");
        const htmp = join(hdir, "tmp");
        await Promise.all([mkdir(srv, { recursive: true }), mkdir(home, { recursive: true, mode: 0o700 }), mkdir(htmp, { recursive: true })]);
        chmodSync(htmp, 0o1777);
        const hostKey = keygen(join(hdir, "ssh_host_ed25519_key"), `${name}@slipway-fleet-${rec.id}`);
        const ip = `${IP_PREFIX}.${rec.octet}.${HOST_OCTET_BASE + i}`;
        const anchorPid = await startAnchor(ns, {
          F_IP: ip,
          F_GW: gateway,
          F_NAME: name,
          F_SRV: srv,
          F_HOME: opts.sharedHome ? "" : home,
          F_HOSTS: etcHosts,
          F_RESOLV: resolvConf,
        });
        return { ns, i, name, hdir, srv, htmp, ip, anchorPid, hostKey: await hostKey };
      }),
    );

    await writeFile(join(dir, "authorized_keys"), `${await clientPub}\n`, { mode: 0o600 });
    await writeFile(fleet.ssh.known_hosts, started.map((s) => `${s.ip} ${s.hostKey.split(" ").slice(0, 2).join(" ")}\n`).join(""), { mode: 0o600 });

    await Promise.all(
      started.map(async (s) => {
        const exec: TestHost["exec"] = (argv, o = {}) => run(nsenterArgv(s.anchorPid, argv), { input: o.input, env: { ...HOST_ENV, ...o.env } });
        const logFd = openSync(join(s.hdir, "daemons.log"), "a");
        try {
          const daemon = (argv: string[]): Promise<string> => run(nsenterArgv(s.anchorPid, argv), { env: HOST_ENV, logFd });

          // supervisord first (see FleetOptions.setup).
          let supervisorConf: string | undefined;
          let supervisordPid: number | undefined;
          if (opts.supervisorPrograms !== undefined) {
            const sdir = join(s.hdir, "supervisor");
            await mkdir(join(sdir, "logs"), { recursive: true });
            supervisorConf = join(sdir, "supervisord.conf");
            const programs = typeof opts.supervisorPrograms === "function" ? opts.supervisorPrograms(s.i) : opts.supervisorPrograms;
            await writeFile(supervisorConf, supervisorConfig(sdir, programs));
            await daemon(["/usr/bin/supervisord", "-c", supervisorConf]);
            supervisordPid = await readPid(join(sdir, "supervisord.pid"), `supervisord on ${s.name}`);
          }

          for (const argv of opts.setup?.(s.i) ?? []) await exec(argv);
          if (!opts.sharedTmp) await exec(["sh", "-c", PRIVATE_TMP], { env: { F_TMP: s.htmp, F_BACK: back, F_DIR: dir } });

          const sshdConf = join(s.hdir, "sshd_config");
          await writeFile(sshdConf, sshdConfig({ ip: s.ip, dir: s.hdir }, join(dir, "authorized_keys")));
          // sshd binds its listener before daemonizing: once this returns, connections queue.
          await daemon(["/usr/sbin/sshd", "-f", sshdConf, "-E", join(s.hdir, "sshd.log")]);
          const sshdPid = await readPid(join(s.hdir, "sshd.pid"), `sshd on ${s.name}`);

          const host: TestHost = {
            name: s.name,
            index: s.i,
            ns: s.ns,
            ip: s.ip,
            dest: `root@${s.ip}`,
            srv: s.srv,
            dir: s.hdir,
            iface: IFACE,
            anchorPid: s.anchorPid,
            sshdPid,
            supervisordPid,
            supervisorConf,
            exec,
            ssh: (command, o = {}) => run(["ssh", ...fleet.sshArgs(), ...(o.sshOptions ?? []), `root@${s.ip}`, command], { input: o.input }),
            supervisorctl: (args) => {
              if (!supervisorConf) return Promise.reject(new Error(`${s.name}: no supervisord (startFleet without supervisorPrograms)`));
              return exec(["/usr/bin/supervisorctl", "-c", supervisorConf, ...args]);
            },
            rxBytes: () => readCounter(s.anchorPid, "rx_bytes", exec),
            txBytes: () => readCounter(s.anchorPid, "tx_bytes", exec),
            pids: () => netnsPidsSync(s.ns),
          };
          hosts[s.i] = host;
        } finally {
          closeSync(logFd);
        }
      }),
    );

    // Real logins: key, known_hosts entry, the host's sshd answering.
    await Promise.all(
      hosts.map((h) =>
        waitFor(`ssh to ${h.name} (${h.ip}); see ${h.dir}/sshd.log`, 10_000, async () => {
          await h.ssh("true");
          return true;
        }),
      ),
    );
    return fleet;
  } catch (e) {
    await fleet.stop();
    throw e;
  }
}

async function stopFleet(rec: FleetRecord, hosts: TestHost[]): Promise<void> {
  if (!live.has(rec.id)) return;
  // SIGKILL everything in the hosts' namespaces (this includes sessions and daemons they
  // spawned), repeat until nothing is left (a dying supervisord may still fork once).
  const deadline = Date.now() + 5_000;
  for (;;) {
    const pids = rec.namespaces.flatMap((ns) => netnsPidsSync(ns));
    if (pids.length === 0) break;
    for (const pid of pids) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        /* gone */
      }
    }
    if (Date.now() > deadline) throw new Error(`fleet ${rec.id}: processes survive SIGKILL: ${pids.join(" ")}`);
    await sleep(20);
  }
  // Known pids of the fleet's daemons, in case one escaped the namespace listing.
  for (const h of hosts) {
    for (const pid of [h?.anchorPid, h?.sshdPid, h?.supervisordPid]) {
      if (pid !== undefined && pidAlive(pid)) {
        try {
          process.kill(pid, "SIGKILL");
        } catch {
          /* gone */
        }
      }
    }
  }
  teardownSync(rec);
  releaseRecord(rec.octet, rec.id);
  live.delete(rec.id);
}

/** Default place of the fleet registry (for debugging). */
export const FLEET_REGISTRY_DIR = join(tmpdir(), "slipway-fleets");
