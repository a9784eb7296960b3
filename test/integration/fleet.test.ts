// The test fleet (test/support/fleet.ts) gives real, separate SSH hosts: own IP, own /srv,
// own sshd and supervisord, reachable from here; and it leaves nothing behind.
// Needs root (network and mount namespaces).
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { after, before, describe, test } from "node:test";
import { run, sleep, waitFor } from "../support/fleet/proc.js";
import { cleanupStaleFleets, FLEET_REGISTRY_DIR, startFleet, type TestFleet, type TestHost } from "../support/fleet.js";
import { tmpDir } from "../support/tmp.js";

const REPO = resolve(import.meta.dirname, "..", "..");
const isRoot = process.getuid?.() === 0;

const HTTP_PROGRAM = `
[program:web]
command=/usr/bin/python3 -m http.server 8000 --bind 0.0.0.0 --directory /srv
directory=/srv
autostart=true
autorestart=true
startsecs=1
stopsignal=TERM
stopwaitsecs=5
redirect_stderr=true
`;

async function netnsList(): Promise<string> {
  return run(["ip", "netns", "list"]);
}

async function linkExists(name: string): Promise<boolean> {
  return run(["ip", "link", "show", name]).then(
    () => true,
    () => false,
  );
}

/** Every live process whose command line mentions `needle`. */
function processesMentioning(needle: string): string[] {
  const found: string[] = [];
  for (const p of readdirSync("/proc")) {
    if (!/^\d+$/.test(p) || Number(p) === process.pid) continue;
    try {
      const stat = readFileSync(`/proc/${p}/stat`, "utf8");
      if (stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z")) continue;
      const cmd = readFileSync(`/proc/${p}/cmdline`, "utf8").replaceAll("\0", " ");
      if (cmd.includes(needle)) found.push(`${p}: ${cmd}`);
    } catch {
      /* exited */
    }
  }
  return found;
}

function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return !stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z");
  } catch {
    return false;
  }
}

async function curl(url: string): Promise<string> {
  return run(["curl", "-sS", "--fail", "--max-time", "5", "--noproxy", "*", url]);
}

async function assertGone(fleet: TestFleet, pids: number[]): Promise<void> {
  const list = await netnsList();
  for (const h of fleet.hosts) assert.ok(!list.includes(h.ns), `namespace ${h.ns} still listed:\n${list}`);
  assert.equal(await linkExists(fleet.bridge), false, `bridge ${fleet.bridge} still exists`);
  const links = await run(["ip", "-o", "link", "show"]);
  assert.ok(!links.includes(`slf${fleet.id}`), `links of fleet ${fleet.id} remain:\n${links}`);
  for (const pid of pids) assert.equal(alive(pid), false, `pid ${pid} survived stop()`);
  assert.deepEqual(processesMentioning(fleet.dir), [], "no process of the fleet (sshd, supervisord, programs) may remain");
  const addrs = await run(["ip", "-4", "-o", "addr", "show"]);
  assert.ok(!addrs.includes(`${fleet.gateway}/`), "gateway address removed");
}

describe("fleet of 3 hosts", { skip: !isRoot && "needs root" }, () => {
  let fleet: TestFleet;
  let hosts: TestHost[];
  let startMs = 0;

  before(async () => {
    const t0 = Date.now();
    fleet = await startFleet(3, { supervisorPrograms: HTTP_PROGRAM });
    startMs = Date.now() - t0;
    hosts = fleet.hosts;
    for (const h of hosts) await writeFile(join(h.srv, "marker"), `marker of ${h.name} ${fleet.id}\n`);
  });
  after(() => fleet?.stop());

  test("starts quickly, with distinct names and addresses", () => {
    console.log(`# 3 hosts started in ${startMs} ms`);
    assert.equal(hosts.length, 3);
    assert.equal(new Set(hosts.map((h) => h.ns)).size, 3);
    assert.equal(new Set(hosts.map((h) => h.ip)).size, 3);
    for (const h of hosts) {
      assert.match(h.ip, /^10\.201\.\d+\.\d+$/);
      assert.equal(h.dest, `root@${h.ip}`);
      assert.ok(h.ns.length <= 15 && fleet.bridge.length <= 15);
      assert.ok(h.ns.includes(fleet.id));
    }
    const kh = readFileSync(fleet.ssh.known_hosts, "utf8").trim().split("\n");
    assert.deepEqual(
      kh.map((l) => l.split(" ").slice(0, 2).join(" ")),
      hosts.map((h) => `${h.ip} ssh-ed25519`),
    );
    assert.ok(startMs < 10_000, `3 hosts took ${startMs} ms`);
  });

  test("each host has its own /srv over ssh; the root namespace's /srv is untouched", async () => {
    for (const h of hosts) {
      const out = await run([
        "ssh",
        "-i",
        fleet.ssh.identity,
        "-o",
        `UserKnownHostsFile=${fleet.ssh.known_hosts}`,
        "-o",
        "StrictHostKeyChecking=yes",
        "-o",
        "BatchMode=yes",
        h.dest,
        "cat /srv/marker",
      ]);
      assert.equal(out, `marker of ${h.name} ${fleet.id}\n`);
      assert.equal(await h.exec(["cat", "/srv/marker"]), `marker of ${h.name} ${fleet.id}\n`);
      assert.equal((await h.exec(["hostname"])).trim(), h.name);
    }
    const rootMarker = existsSync("/srv/marker") ? readFileSync("/srv/marker", "utf8") : "";
    assert.ok(!rootMarker.includes(fleet.id), "a host's marker leaked into the root namespace's /srv");
    // A file written through ssh lands in that host's dir only.
    await hosts[0]!.ssh("mkdir -p /srv/app && echo written-by-h1 > /srv/app/x");
    assert.equal(readFileSync(join(hosts[0]!.srv, "app", "x"), "utf8"), "written-by-h1\n");
    assert.equal(existsSync(join(hosts[1]!.srv, "app")), false);
    assert.equal(existsSync("/srv/app/x") && readFileSync("/srv/app/x", "utf8") === "written-by-h1\n", false);
    // Private /tmp per host; the fleet dir is still at its path inside.
    await hosts[0]!.ssh("echo h1 > /tmp/fleet-probe");
    await assert.rejects(hosts[1]!.ssh("cat /tmp/fleet-probe"));
    assert.equal(existsSync("/tmp/fleet-probe"), false);
    assert.equal(await hosts[1]!.ssh(`cat ${fleet.ssh.known_hosts} | wc -l`), "3\n");
  });

  test("a wrong host key is refused (known_hosts is really checked)", async () => {
    const other = await tmpDir("fleet-kh");
    const kh = join(other, "known_hosts");
    // h1's address with h2's key.
    const h2Key = readFileSync(fleet.ssh.known_hosts, "utf8").trim().split("\n")[1]!.split(" ").slice(1).join(" ");
    await writeFile(kh, `${hosts[0]!.ip} ${h2Key}\n`);
    await assert.rejects(
      run([
        "ssh",
        "-F",
        "/dev/null",
        "-i",
        fleet.ssh.identity,
        "-o",
        `UserKnownHostsFile=${kh}`,
        "-o",
        "StrictHostKeyChecking=yes",
        "-o",
        "BatchMode=yes",
        hosts[0]!.dest,
        "true",
      ]),
      /REMOTE HOST IDENTIFICATION HAS CHANGED|Host key verification failed/,
    );
  });

  test("ssh ControlMaster multiplexing: two commands over one connection", async () => {
    const h = hosts[1]!;
    const ctl = await tmpDir("fleet-ctl");
    const controlPath = join(ctl, "%C");
    const mux = ["-o", "ControlMaster=auto", "-o", `ControlPath=${controlPath}`, "-o", "ControlPersist=30"];
    const accepted = (): number => (readFileSync(join(h.dir, "sshd.log"), "utf8").match(/Accepted publickey for root/g) ?? []).length;
    const before = accepted();
    try {
      assert.equal(await h.ssh("echo one", { sshOptions: mux }), "one\n");
      const check = await new Promise<string>((res) => {
        const c = spawn("ssh", [...fleet.sshArgs(), ...mux, "-O", "check", h.dest], { stdio: ["ignore", "ignore", "pipe"] });
        let err = "";
        c.stderr.on("data", (b: Buffer) => (err += b.toString()));
        c.on("exit", () => res(err));
      });
      assert.match(check, /Master running/);
      // The second command goes through the master: it would fail host key verification
      // on a fresh connection (empty known_hosts), and sshd sees no second login.
      const second = await run([
        "ssh",
        "-F",
        "/dev/null",
        "-o",
        "UserKnownHostsFile=/dev/null",
        "-o",
        "StrictHostKeyChecking=yes",
        "-o",
        "BatchMode=yes",
        ...mux,
        h.dest,
        "echo two; cat /srv/marker",
      ]);
      assert.equal(second, `two\nmarker of ${h.name} ${fleet.id}\n`);
      await sleep(100); // sshd logs asynchronously
      assert.equal(accepted() - before, 1, "both commands used one ssh connection");
    } finally {
      await run(["ssh", ...fleet.sshArgs(), ...mux, "-O", "exit", h.dest]).catch(() => "");
    }
  });

  test("rxBytes grows by at least the bytes piped over ssh", async () => {
    const h = hosts[2]!;
    const n = 3 * 1024 * 1024;
    const before = await h.rxBytes();
    assert.ok(Number.isInteger(before) && before > 0);
    await h.ssh("cat > /dev/null", { input: Buffer.alloc(n, 0x61) });
    const after = await h.rxBytes();
    assert.ok(after - before >= n, `rx grew by ${after - before}, expected >= ${n}`);
    // The other hosts did not see that traffic.
    const other = await hosts[0]!.rxBytes();
    assert.ok(other < before + n, "traffic went to the right host only");
    assert.ok((await h.txBytes()) > 0);
  });

  test("supervisord programs listen in the host's namespace and restart via supervisorctl", async () => {
    for (const h of hosts) {
      assert.ok(h.supervisorConf && h.supervisordPid);
      const body = await waitFor(`http on ${h.name}`, 15_000, () => curl(`http://${h.ip}:8000/marker`));
      assert.equal(body, `marker of ${h.name} ${fleet.id}\n`);
    }
    const h = hosts[0]!;
    const conf = h.supervisorConf!;
    const pidOf = async (): Promise<number> => Number((await h.exec(["supervisorctl", "-c", conf, "pid", "web"])).trim());
    const pid1 = await pidOf();
    assert.ok(pid1 > 0 && alive(pid1));
    assert.ok(h.pids().includes(pid1), "the program runs inside the host's network namespace");
    const out = await h.exec(["supervisorctl", "-c", conf, "restart", "web"]);
    assert.match(out, /web: started/);
    const pid2 = await pidOf();
    assert.ok(pid2 > 0 && pid2 !== pid1, `new pid after restart (${pid1} -> ${pid2})`);
    assert.equal(alive(pid1), false);
    const body = await waitFor("http after restart", 10_000, () => curl(`http://${h.ip}:8000/marker`));
    assert.equal(body, `marker of ${h.name} ${fleet.id}\n`);
    // Same through ssh, the way slipway restarts.
    assert.match(await h.ssh(`supervisorctl -c ${conf} status web`), /web\s+RUNNING/);
  });

  test("stop() removes namespaces, links, bridge and every process; it is idempotent", async () => {
    const pids = hosts.flatMap((h) => [h.anchorPid, h.sshdPid, h.supervisordPid!, ...h.pids()]);
    assert.ok(pids.length >= 12);
    const t0 = Date.now();
    await fleet.stop();
    console.log(`# 3 hosts stopped in ${Date.now() - t0} ms`);
    await assertGone(fleet, pids);
    await fleet.stop();
    assert.equal(existsSync(join(FLEET_REGISTRY_DIR, `net-${fleet.gateway.split(".")[2]}.json`)), false, "registry entry released");
  });
});

test("setup() changes one host only (a different python3.11)", { skip: !isRoot && "needs root" }, async () => {
  const dir = await tmpDir("fleet-setup");
  const fake = join(dir, "python3.11");
  await writeFile(fake, "#!/bin/sh\necho 'Python 3.9.99 (fake)'\n", { mode: 0o755 });
  const fleet = await startFleet(2, {
    setup: (i) => (i === 1 ? [["mount", "--bind", fake, "/usr/bin/python3.11"]] : []),
  });
  try {
    const [h1, h2] = fleet.hosts as [TestHost, TestHost];
    assert.match(await h1.ssh("/usr/bin/python3.11 --version"), /^Python 3\.11\./);
    assert.equal(await h2.ssh("/usr/bin/python3.11 --version"), "Python 3.9.99 (fake)\n");
    const here = await run(["/usr/bin/python3.11", "--version"]);
    assert.match(here, /^Python 3\.11\./, "the root namespace keeps the real interpreter");
  } finally {
    await fleet.stop();
  }
  await assertGone(fleet, []);
});

test("12 hosts start and stop", { skip: !isRoot && "needs root" }, async () => {
  const t0 = Date.now();
  const fleet = await startFleet(12);
  const startMs = Date.now() - t0;
  let pids: number[] = [];
  try {
    console.log(`# 12 hosts started in ${startMs} ms`);
    assert.equal(fleet.hosts.length, 12);
    assert.equal(new Set(fleet.hosts.map((h) => h.ip)).size, 12);
    const names = await Promise.all(fleet.hosts.map((h) => h.ssh("hostname")));
    assert.deepEqual(
      names,
      fleet.hosts.map((h) => `${h.name}\n`),
    );
    pids = fleet.hosts.flatMap((h) => [h.anchorPid, h.sshdPid]);
    assert.ok(startMs < 30_000, `12 hosts took ${startMs} ms`);
  } finally {
    const t1 = Date.now();
    await fleet.stop();
    console.log(`# 12 hosts stopped in ${Date.now() - t1} ms`);
  }
  await assertGone(fleet, pids);
});

// A child process starts a fleet and reports it; returns the parsed report and the child.
interface ChildFleet {
  id: string;
  ns: string[];
  bridge: string;
  dir: string;
  pids: number[];
  kill: (sig?: NodeJS.Signals) => void;
  exited: Promise<void>;
}

function childWithFleet(mode: "exit" | "hang"): Promise<ChildFleet> {
  const script = `
    import { startFleet } from ${JSON.stringify(join(REPO, "test", "support", "fleet.ts"))};
    const f = await startFleet(2);
    console.log(JSON.stringify({ id: f.id, ns: f.hosts.map((h) => h.ns), bridge: f.bridge, dir: f.dir, pids: f.hosts.flatMap((h) => [h.anchorPid, h.sshdPid]) }));
    if (${JSON.stringify(mode)} === "hang") setInterval(() => {}, 1 << 30);
  `;
  return new Promise((res, rej) => {
    const child = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
      cwd: REPO,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    let err = "";
    const exited = new Promise<void>((r) => child.on("exit", () => r()));
    child.stderr.on("data", (b: Buffer) => (err += b.toString()));
    child.stdout.on("data", (b: Buffer) => {
      out += b.toString();
      const line = out.split("\n").find((l) => l.startsWith("{"));
      if (line) res({ ...(JSON.parse(line) as Omit<ChildFleet, "kill" | "exited">), kill: (sig: NodeJS.Signals = "SIGKILL") => child.kill(sig), exited });
    });
    child.on("exit", (code) => {
      if (mode === "exit") setTimeout(() => rej(new Error(`child exited ${code} before reporting: ${err}`)), 50);
      else if (!out.includes("{")) rej(new Error(`child exited ${code}: ${err}`));
    });
  });
}

test("a process that exits or is SIGTERMed without stop() leaves nothing; a SIGKILLed one is cleaned by cleanupStaleFleets()", {
  skip: !isRoot && "needs root",
}, async () => {
  // 1. Normal exit without stop(): the 'exit' handler tears down.
  const a = await childWithFleet("exit");
  await a.exited;
  const list0 = await netnsList();
  for (const ns of a.ns) assert.ok(!list0.includes(ns), `${ns} left behind by an exiting process`);
  assert.equal(await linkExists(a.bridge), false);
  for (const pid of a.pids) await waitFor(`pid ${pid} gone`, 5_000, () => (alive(pid) ? undefined : true));

  // 2. SIGTERM: the signal handler tears down, then the process dies by the signal.
  const c = await childWithFleet("hang");
  c.kill("SIGTERM");
  await c.exited;
  const list1 = await netnsList();
  for (const ns of c.ns) assert.ok(!list1.includes(ns), `${ns} left behind after SIGTERM`);
  assert.equal(await linkExists(c.bridge), false);
  for (const pid of c.pids) await waitFor(`pid ${pid} gone`, 5_000, () => (alive(pid) ? undefined : true));
  assert.equal(existsSync(c.dir), false, "fleet dir removed after SIGTERM");

  // 3. SIGKILL: nothing can run in the child; the registry lets us clean up after it.
  const b = await childWithFleet("hang");
  b.kill();
  await b.exited;
  assert.ok((await netnsList()).includes(b.ns[0]!), "namespaces outlive a SIGKILLed owner");
  const removed = cleanupStaleFleets();
  assert.ok(removed.includes(b.id), `cleanupStaleFleets removed ${JSON.stringify(removed)}`);
  const list = await netnsList();
  for (const ns of b.ns) assert.ok(!list.includes(ns));
  assert.equal(await linkExists(b.bridge), false);
  for (const pid of b.pids) await waitFor(`pid ${pid} gone`, 5_000, () => (alive(pid) ? undefined : true));
});
