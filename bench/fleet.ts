// Fleet benchmark (issue 11): push mode (the deployer streams each layer over ssh) against pull
// mode (`[targets.T.source] registry`: hosts fetch the blobs they lack from a registry), on up to
// 50 network-namespace hosts, each with its own sshd and /srv and a trivial restart
// (`restart.command = "true"`, no health check), and Debian's docker-registry in a namespace of
// its own on the fleet's bridge.
//
//   cd /work/main && npm run build && npx tsx bench/fleet.ts          (needs root; BENCH_FLEET_SIZES=5,25,50)
//
// For each fleet size N, and each mode: a deploy with a new venv (a new venv key: the hosts lack
// it), then a code-only deploy on top — each through the built CLI (`deploy --hosts <first N>
// --json`). Per deploy it measures:
//   - wall time, and per phase (first start → last done over the hosts, from the step events);
//   - the deployer's bytes sent: tx_bytes of the bridge device (everything this machine sent to
//     the hosts and the registry), minus what went into the registry's namespace (its veth), so
//     "to hosts" is what the hosts got from the deployer itself;
//   - the deployer's CPU: the CLI and everything it starts, ssh masters included, in a cpuacct
//     cgroup; and the CLI's own user+sys from /usr/bin/time (which cannot see the masters);
//   - what the registry served: GETs of each blob (one per host that lacked it, none to a host
//     that had it).
// Then the targets, as slopes between the smallest and the largest fleet: egress per host in pull
// mode for a new venv (≤ 64 KB), deployer CPU per host for a code-only deploy (≤ 40 ms), staging
// at 50 hosts against 5 in pull mode (≤ 2×); and what the slopes predict for 500 and 5,000 hosts.
// Writes bench/results/fleet-<timestamp>.json.
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync, rmSync } from "node:fs";
import { appendFile, mkdir, readFile, writeFile } from "node:fs/promises";
import os from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "../src/commands/build.js";
import { pythonEnv } from "../test/support/env.js";
import { startFleet, type TestFleet } from "../test/support/fleet.js";
import { startRegistry, type Registry } from "../test/support/registry.js";
import { copyExampleApp, tmpDir } from "../test/support/tmp.js";
import { ensureWheelhouse } from "../test/support/wheelhouse.js";
import { CpuCgroup } from "./cgroup.js";
import { runProcess } from "./process.js";
import { describeStartups, shellStartups } from "./shell-startup.js";
import { runBench } from "./run.js";

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const CLI = join(REPO, "dist", "cli.js");
const SIZES = (process.env["BENCH_FLEET_SIZES"] ?? "5,25,50")
  .split(",")
  .map(Number)
  .filter((n) => n > 0)
  .sort((a, b) => a - b);
const MODES = ["push", "pull"] as const;
type Mode = (typeof MODES)[number];
const TARGETS = { pullEgressPerHostBytes: 64 * 1024, codeOnlyCpuPerHostMs: 40, pullStageRatio: 2 };
/** More ssh options for both targets, e.g. BENCH_FLEET_SSH_OPTIONS=KexAlgorithms=curve25519-sha256 (comma-separated). */
const SSH_OPTIONS = (process.env["BENCH_FLEET_SSH_OPTIONS"] ?? "").split(",").filter(Boolean);
const PHASES = ["connect", "preflight", "lock", "venv", "stage", "switch", "restart", "finish"];

type Json = Record<string, any>;

interface Measured {
  mode: Mode;
  kind: "new-venv" | "code-only";
  hosts: number;
  wall_s: number;
  phases_ms: Record<string, number>;
  timings_ms: Record<string, number>;
  bytes: { total: number; to_registry: number; to_hosts: number; sent_per_result: number };
  /** hosts_s: the machine's busy CPU during the deploy minus the deployer's: the hosts' (sshd, their shells, tar…) and the registry's. */
  cpu: { cgroup_s: number; time_user_sys_s: number; hosts_s: number };
  registry_gets: { venv: number; code: number };
}

/** CPU seconds this whole machine spent busy so far (/proc/stat: everything but idle and iowait). */
function machineBusySeconds(): number {
  const f = readFileSync("/proc/stat", "utf8").split("\n")[0]!.trim().split(/\s+/).slice(1).map(Number);
  const [user, nice, system, , , irq, softirq, steal] = f as [number, number, number, number, number, number, number, number];
  return (user + nice + system + irq + softirq + steal) / 100;
}

const netStat = (dev: string, what: "tx_bytes" | "rx_bytes") => Number(readFileSync(`/sys/class/net/${dev}/statistics/${what}`, "utf8").trim());
const sh = (argv: string[]) => execFileSync(argv[0]!, argv.slice(1), { encoding: "utf8" });

/** A namespace on the fleet's bridge at .2 for the registry: its traffic is counted apart. */
function registryNamespace(fleet: TestFleet): { ns: string; veth: string; ip: string; remove: () => void } {
  const id = randomBytes(3).toString("hex");
  const ns = `slwreg${id}`;
  const veth = `slwrg${id}`;
  const ip = fleet.gateway.replace(/\.1$/, ".2");
  sh(["ip", "netns", "add", ns]);
  sh(["ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns]);
  sh(["ip", "link", "set", veth, "master", fleet.bridge, "up"]);
  sh(["ip", "-n", ns, "addr", "add", `${ip}/24`, "dev", "eth0"]);
  sh(["ip", "-n", ns, "link", "set", "eth0", "up"]);
  sh(["ip", "-n", ns, "link", "set", "lo", "up"]);
  let removed = false;
  const remove = () => {
    if (removed) return;
    removed = true;
    try {
      sh(["ip", "netns", "del", ns]);
    } catch {
      /* gone */
    }
  };
  process.on("exit", remove);
  return { ns, veth, ip, remove };
}

async function main(): Promise<void> {
  if (!existsSync(CLI)) throw new Error(`${CLI} does not exist: run \`npm run build\` first`);
  const max = SIZES.at(-1)!;
  const dir = await tmpDir("slipway-bench-fleet");
  const root = `/srv/slw-bench-${randomBytes(4).toString("hex")}/app`;
  const wheelhouse = await ensureWheelhouse();
  const app = await copyExampleApp("hello", join(dir, "app"), { root, pipArgs: ["--no-index", "--find-links", wheelhouse] });
  const env = pythonEnv({ SLIPWAY_CACHE_DIR: join(dir, "cache") });

  const t0 = performance.now();
  const fleet = await startFleet(max);
  const fleetStart = (performance.now() - t0) / 1000;
  process.on("exit", () => rmSync(dirname(root), { recursive: true, force: true }));
  const regNs = registryNamespace(fleet);
  const reg: Registry = await startRegistry(join(dir, "registry"), { host: regNs.ip, netns: regNs.ns });
  const hosts = fleet.hosts.map((h) => h.dest);
  const common = (name: string, extra = "") => `
[targets.${name}]
hosts = ${JSON.stringify(hosts)}
ssh = { identity = "${fleet.ssh.identity}", known_hosts = "${fleet.ssh.known_hosts}", options = ${JSON.stringify(SSH_OPTIONS)} }
restart = { manager = "command", command = "true" }
${extra}`;
  const config = join(app, "slipway.toml");
  let toml = await readFile(config, "utf8");
  toml = toml.replace(/keep_releases\s*=\s*\d+/, "keep_releases = 2");
  if (!/keep_releases/.test(toml)) toml = toml.replace("[deploy]", "[deploy]\nkeep_releases = 2");
  await writeFile(config, toml + common("push") + common("pull", `[targets.pull.source]\nregistry = "http://${reg.addr}/bench/app"\n`));

  // The environment this run measured (issue 13: print it with every bench).
  const hs = await runProcess(["ssh", ...fleet.sshArgs(), ...SSH_OPTIONS.flatMap((o) => ["-o", o]), "-v", hosts[0]!, "true"], {});
  // The key exchange costs the deployer most of its CPU per host (sntrup761x25519, OpenSSH 9's
  // default, ≈ 100 ms of client CPU; curve25519-sha256 ≈ 10 ms): say which one this run used.
  const kex = /kex: algorithm: (\S+)/.exec(hs.stderr)?.[1] ?? "unknown";
  const environment = {
    cpus: os.cpus().length,
    cpu_model: os.cpus()[0]?.model,
    load_before: os.loadavg().map((l) => Number(l.toFixed(2))),
    fleet_start_s: Number(fleetStart.toFixed(1)),
    ssh_connect_and_run_true_s: Number(hs.seconds.toFixed(3)),
    node: process.version,
    ssh_options: SSH_OPTIONS,
    ssh_kex: kex,
  };
  console.log(`environment: ${JSON.stringify(environment)}`);

  const cpu = new CpuCgroup(`slw-bench-fleet-${process.pid}`);
  await cpu.ready();
  let buildNo = 0;
  const newBuild = async (kind: Measured["kind"]): Promise<{ artifact: string; id: string }> => {
    buildNo++;
    const id = `f${buildNo}`;
    if (kind === "new-venv") await appendFile(join(app, "requirements.txt"), `# bench ${id}: a new venv key\n`);
    else await appendFile(join(app, "hello", "app.py"), `\n# bench ${id}\n`);
    const r = await build({ cwd: app, env, buildId: id });
    return { artifact: r.artifact, id };
  };
  const imageLayers = async (id: string) => {
    // The deployer's cached layout (oci/publish.ts) in the CLI's cache dir.
    const layout = join(dir, "cache", "oci", "layouts", "hello");
    const index = JSON.parse(await readFile(join(layout, "index.json"), "utf8")) as { manifests: { digest: string; annotations: Record<string, string> }[] };
    const d = index.manifests.find((m) => m.annotations["org.opencontainers.image.ref.name"] === id);
    if (!d) return undefined;
    const m = JSON.parse(await readFile(join(layout, "blobs", "sha256", d.digest.slice(7)), "utf8")) as { layers: { digest: string }[] };
    const [venv, code] = m.layers.slice(-2).map((l) => l.digest);
    return { venv: venv!, code: code! };
  };

  const deployOnce = async (mode: Mode, kind: Measured["kind"], n: number): Promise<Measured> => {
    const b = await newBuild(kind);
    const before = {
      br: netStat(fleet.bridge, "tx_bytes"),
      reg: netStat(regNs.veth, "tx_bytes"),
      cpu: await cpu.usageNs(),
      busy: machineBusySeconds(),
      log: reg.requests().length,
    };
    // The shell moves itself into the cgroup before /usr/bin/time forks the CLI (a child forked
    // earlier would stay outside).
    const r = await runProcess(
      [
        "sh",
        "-c",
        'echo $$ > "$0/cgroup.procs" && exec "$@"',
        cpu.dir,
        "/usr/bin/time",
        "-f",
        "TIME %U %S",
        process.execPath,
        CLI,
        "deploy",
        b.artifact,
        "--target",
        mode,
        "--hosts",
        hosts.slice(0, n).join(","),
        "--json",
      ],
      { cwd: app, env },
    );
    const after = { br: netStat(fleet.bridge, "tx_bytes"), reg: netStat(regNs.veth, "tx_bytes"), cpu: await cpu.usageNs(), busy: machineBusySeconds() };
    const events = r.lines.flatMap(({ t, line }): (Json & { t: number })[] => {
      try {
        return [{ ...(JSON.parse(line) as Json), t }];
      } catch {
        return [];
      }
    });
    const result = events.findLast((e) => e["type"] === "result");
    if (r.code !== 0 || !result?.["ok"])
      throw new Error(`deploy ${b.id} (${mode}, ${kind}, ${n} hosts) failed: ${JSON.stringify(result?.["error"]) ?? r.stderr.slice(-1500)}`);
    console.log(`  hosts' shell start-up (rc files, in "connect"): ${describeStartups(shellStartups(events))}`);
    const time = /TIME ([\d.]+) ([\d.]+)/.exec(r.stderr);
    const phases: Record<string, number> = {};
    for (const step of PHASES) {
      const starts = events.filter((e) => e["type"] === "host" && e["step"] === step && e["status"] === "start").map((e) => e.t);
      const ends = events.filter((e) => e["type"] === "host" && e["step"] === step && e["status"] === "done").map((e) => e.t);
      if (starts.length && ends.length) phases[step] = Math.round(Math.max(...ends) - Math.min(...starts));
    }
    const layers = mode === "pull" ? await imageLayers(b.id) : undefined;
    const gets = reg
      .requests()
      .slice(before.log)
      .filter((q) => q.method === "GET" && q.status === 200);
    const count = (digest?: string) => (digest ? gets.filter((q) => q.uri.endsWith(`/blobs/${digest}`)).length : 0);
    const value = result;
    const total = after.br - before.br;
    const toRegistry = after.reg - before.reg;
    const m: Measured = {
      mode,
      kind,
      hosts: n,
      wall_s: Number(r.seconds.toFixed(2)),
      phases_ms: phases,
      timings_ms: value["timings_ms"] ?? {},
      bytes: {
        total,
        to_registry: toRegistry,
        to_hosts: total - toRegistry,
        sent_per_result: (value["hosts"] as { bytes_sent: number }[] | undefined)?.reduce((a, h) => a + h.bytes_sent, 0) ?? NaN,
      },
      cpu: {
        cgroup_s: Number(((after.cpu - before.cpu) / 1e9).toFixed(3)),
        time_user_sys_s: time ? Number((Number(time[1]) + Number(time[2])).toFixed(2)) : NaN,
        hosts_s: Number((after.busy - before.busy - (after.cpu - before.cpu) / 1e9).toFixed(2)),
      },
      registry_gets: { venv: count(layers?.venv), code: count(layers?.code) },
    };
    console.log(
      `${mode.padEnd(4)} ${kind.padEnd(9)} ${String(n).padStart(3)} hosts: ${m.wall_s.toFixed(2)} s; to hosts ${kb(m.bytes.to_hosts)} (${kb(m.bytes.to_hosts / n)}/host), to registry ${kb(m.bytes.to_registry)}; ` +
        `deployer CPU ${m.cpu.cgroup_s.toFixed(2)} s (time: ${m.cpu.time_user_sys_s} s), hosts' ${m.cpu.hosts_s.toFixed(1)} s; registry GETs venv ${m.registry_gets.venv} code ${m.registry_gets.code}; ` +
        `phases ${PHASES.filter((p) => phases[p] !== undefined)
          .map((p) => `${p} ${phases[p]}`)
          .join(" ")} ms`,
    );
    return m;
  };

  const runs: Measured[] = [];
  // Every host gets a first release (and its venv) so the first measured deploy is a normal one.
  for (const mode of MODES) {
    const b = await newBuild("new-venv");
    const r = await runProcess([process.execPath, CLI, "deploy", b.artifact, "--target", mode, "--hosts", hosts.join(",")], { cwd: app, env });
    if (r.code !== 0) throw new Error(`warm-up deploy failed: ${r.stderr.slice(-1500)}`);
  }
  for (const n of SIZES) {
    for (const mode of MODES) {
      runs.push(await deployOnce(mode, "new-venv", n));
      runs.push(await deployOnce(mode, "code-only", n));
    }
  }

  // --- slopes and targets ---
  const pick = (mode: Mode, kind: Measured["kind"], n: number) => runs.find((r) => r.mode === mode && r.kind === kind && r.hosts === n)!;
  const lo = SIZES[0]!;
  const hi = max;
  const slope = (f: (r: Measured) => number, mode: Mode, kind: Measured["kind"]) =>
    hi > lo ? (f(pick(mode, kind, hi)) - f(pick(mode, kind, lo))) / (hi - lo) : f(pick(mode, kind, hi)) / hi;
  const verdict = (ok: boolean) => (ok ? "PASS" : "FAIL");
  const egressPull = slope((r) => r.bytes.to_hosts, "pull", "new-venv");
  const egressPush = slope((r) => r.bytes.to_hosts, "push", "new-venv");
  const cpuCode = { push: slope((r) => r.cpu.cgroup_s * 1000, "push", "code-only"), pull: slope((r) => r.cpu.cgroup_s * 1000, "pull", "code-only") };
  const stageOf = (r: Measured) => (r.phases_ms["venv"] ?? 0) + (r.phases_ms["stage"] ?? 0);
  const stageRatio = stageOf(pick("pull", "new-venv", hi)) / Math.max(1, stageOf(pick("pull", "new-venv", lo)));
  const blobsOk = runs
    .filter((r) => r.mode === "pull")
    .every((r) => r.registry_gets.code === r.hosts && r.registry_gets.venv === (r.kind === "new-venv" ? r.hosts : 0));
  console.log("\ntargets (slopes between the smallest and the largest fleet):");
  console.log(
    `  pull, new venv: deployer egress per host ${kb(egressPull)} (push: ${kb(egressPush)}) ≤ ${kb(TARGETS.pullEgressPerHostBytes)}: ${verdict(egressPull <= TARGETS.pullEgressPerHostBytes)}`,
  );
  for (const mode of MODES)
    console.log(
      `  ${mode}, code only: deployer CPU per host ${cpuCode[mode].toFixed(1)} ms ≤ ${TARGETS.codeOnlyCpuPerHostMs} ms: ${verdict(cpuCode[mode] <= TARGETS.codeOnlyCpuPerHostMs)}`,
    );
  console.log(
    `  pull, new venv: staging (venv + stage phases) at ${hi} hosts ${stageOf(pick("pull", "new-venv", hi))} ms against ${stageOf(pick("pull", "new-venv", lo))} ms at ${lo}: ${stageRatio.toFixed(2)}× ≤ ${TARGETS.pullStageRatio}×: ${verdict(stageRatio <= TARGETS.pullStageRatio)}`,
  );
  console.log(`  the registry served each blob once per host that lacked it, and none to a host that had it: ${verdict(blobsOk)}`);
  // The hosts share this machine's cores: their own work (unpacking, checking) cannot overlap
  // beyond the core count, whatever slipway does. Its share of a deploy is the floor here.
  const hostCpuPerHost = slope((r) => r.cpu.hosts_s, "pull", "new-venv");
  console.log(
    `  (the hosts' own CPU in a pull with a new venv: ${(hostCpuPerHost * 1000).toFixed(0)} ms per host; on ${os.cpus().length} shared cores ${hi} hosts need ≥ ${((hostCpuPerHost * hi) / os.cpus().length).toFixed(1)} s of it, ${lo} hosts ${((hostCpuPerHost * lo) / os.cpus().length).toFixed(1)} s)`,
  );

  const wallSlope = { push: slope((r) => r.wall_s, "push", "new-venv"), pull: slope((r) => r.wall_s, "pull", "new-venv") };
  const venvBytes = pick("push", "new-venv", hi).bytes.to_hosts / hi;
  console.log("\nwhat the slopes predict (new venv; linear, this machine):");
  for (const n of [500, 5000]) {
    const at = (mode: Mode) => pick(mode, "new-venv", hi).wall_s + wallSlope[mode] * (n - hi);
    console.log(
      `  ${n} hosts: push ${at("push").toFixed(0)} s and ${mb(venvBytes * n)} out of the deployer; pull ${at("pull").toFixed(0)} s, ${mb(egressPull * n)} out of the deployer, ${mb(venvBytes * n)} out of the registry; ` +
        `deployer CPU for a code-only deploy: push ${((cpuCode.push * n) / 1000).toFixed(1)} s, pull ${((cpuCode.pull * n) / 1000).toFixed(1)} s`,
    );
  }
  await mkdir(join(REPO, "bench", "results"), { recursive: true });
  const file = join(REPO, "bench", "results", `fleet-${new Date().toISOString().replace(/[:.]/g, "-")}.json`);
  await writeFile(
    file,
    `${JSON.stringify({ environment, sizes: SIZES, runs, targets: { egressPull, egressPush, cpuCode, stageRatio, blobsOk }, load_after: os.loadavg() }, null, 2)}\n`,
  );
  console.log(`\nfigures in ${file}`);
  await reg.stop();
  regNs.remove();
  await fleet.stop();
}

function kb(n: number): string {
  return `${(n / 1024).toFixed(1)} KB`;
}
function mb(n: number): string {
  return `${(n / 1024 / 1024).toFixed(0)} MB`;
}

runBench(main);
