// Two (or more) builds of the slipway CLI, compared on one fleet in the same minutes: code-only
// deploys to 3 namespace hosts, each CLI in turn, the order reversed every round (A B, B A, …),
// so this machine's drift over the run weighs on every CLI alike. bench/deploy.ts measures one
// CLI against its targets; two of its runs an hour apart differ by more than most changes do.
//
//   npm run build && npx tsx bench/ab-deploy.ts before=/tmp/old/dist/cli.js after=dist/cli.js
//   (needs root; AB_REPS rounds, default 6; an older commit's CLI: `git worktree add /tmp/old
//   <commit>`, link node_modules into it, `npm run build` there)
//
// Every build and the first deploy (which sends the venv) use the last CLI named; each round
// then builds a one-line change and deploys it with each CLI. Prints each deploy's per-host
// step times, and the medians per CLI: every step's ms (over all hosts and rounds), the wall
// time, the deployer's CPU (the CLI and its ssh processes) and the hosts' CPU (each host's sshd
// and everything it starts: slipway's scripts, the migrations check, supervisorctl; not the
// app, which supervisord runs). Writes them to bench/results/ab-deploy-<timestamp>.json.
import { appendFile, mkdir, writeFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { fleetApp, type FleetApp } from "../test/support/fleet-app.js";
import { CpuCgroup } from "./cgroup.js";
import { jsonLines, median } from "./figures.js";
import { runProcess } from "./process.js";
import { runBench } from "./run.js";

type Json = Record<string, any>;
const REPO = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const REPS = Math.max(1, Number(process.env["AB_REPS"] ?? 6) || 6);
const HOSTS = 3;

function parseClis(args: string[]): { name: string; path: string }[] {
  const clis = args.map((arg) => {
    const at = arg.indexOf("=");
    if (at <= 0) throw new Error(`expected NAME=PATH/TO/dist/cli.js, got ${JSON.stringify(arg)}`);
    return { name: arg.slice(0, at), path: resolve(arg.slice(at + 1)) };
  });
  if (clis.length < 2) throw new Error("name two CLIs or more: NAME=PATH/TO/dist/cli.js …");
  return clis;
}

const deployerCpu = new CpuCgroup(`slw-ab-deployer-${process.pid}`);
const hostCpu = new CpuCgroup(`slw-ab-hosts-${process.pid}`);

interface Ran {
  events: Json[];
  result: Json;
  ms: number;
  deployerMs: number;
  hostMs: number;
}

async function slipway(f: FleetApp, cli: string, args: string[]): Promise<Ran> {
  const [d0, h0] = [await deployerCpu.usageNs(), await hostCpu.usageNs()];
  const r = await runProcess([process.execPath, cli, ...args, "--json"], { cwd: f.ws.app, env: f.ws.env, onSpawn: (pid) => deployerCpu.add(pid) });
  const [d1, h1] = [await deployerCpu.usageNs(), await hostCpu.usageNs()];
  const events = jsonLines(r.stdout, `${cli} ${args[0]}`);
  const result = events.findLast((e) => e["type"] === "result");
  if (r.code !== 0 || !result?.["ok"])
    throw new Error(`${cli} ${args.join(" ")}: exit ${r.code}: ${JSON.stringify(result?.["error"]) ?? r.stderr.slice(-1500)}`);
  return { events, result, ms: r.seconds * 1000, deployerMs: (d1 - d0) / 1e6, hostMs: (h1 - h0) / 1e6 };
}

/** ms of each host step ("host … done" events), all hosts together. */
function stepTimes(events: Json[]): Record<string, number[]> {
  const out: Record<string, number[]> = {};
  for (const e of events) if (e["type"] === "host" && e["status"] === "done") (out[e["step"]] ??= []).push(Number(e["ms"]));
  return out;
}

async function main(): Promise<void> {
  const clis = parseClis(process.argv.slice(2));
  await deployerCpu.ready();
  await hostCpu.ready();
  const f = await fleetApp(HOSTS);
  const builder = clis[clis.length - 1]!.path;
  const samples: Record<string, Record<string, number[]>> = Object.fromEntries(clis.map((c) => [c.name, {}]));
  try {
    for (const h of f.hosts) hostCpu.add(h.sshdPid); // its sessions are forked from it, into the same cgroup
    const first = await slipway(f, builder, ["build", "--build-id", "b1"]);
    await slipway(f, builder, ["deploy", String(first.result["artifact"]), "--target", "fleet"]);
    for (let round = 0; round < REPS; round++) {
      for (const c of round % 2 ? [...clis].reverse() : clis) {
        const id = `r${round}-${c.name.replace(/[^A-Za-z0-9_.-]/g, "_")}`;
        await appendFile(join(f.ws.app, "hello", "app.py"), `# ab-deploy ${id}\n`);
        const built = await slipway(f, builder, ["build", "--build-id", id]);
        await new Promise((r) => setTimeout(r, 1000)); // the build's and last restart's tails
        const d = await slipway(f, c.path, ["deploy", String(built.result["artifact"]), "--target", "fleet"]);
        const steps = stepTimes(d.events);
        const mine = samples[c.name]!;
        for (const [k, v] of Object.entries(steps)) (mine[k] ??= []).push(...v);
        (mine["wall"] ??= []).push(d.ms);
        (mine["deployer cpu"] ??= []).push(d.deployerMs);
        (mine["hosts cpu"] ??= []).push(d.hostMs);
        const perStep = Object.entries(steps)
          .filter(([, v]) => v.some((x) => x > 0))
          .map(([k, v]) => `${k} ${v.join("/")}`)
          .join(", ");
        console.log(
          `round ${round} ${c.name}: ${Math.round(d.ms)} ms wall, deployer cpu ${Math.round(d.deployerMs)}, hosts cpu ${Math.round(d.hostMs)}; ${perStep}`,
        );
      }
    }
  } finally {
    await f.stop();
  }
  const rows = [...new Set(Object.values(samples).flatMap((s) => Object.keys(s)))];
  const medians = Object.fromEntries(clis.map((c) => [c.name, Object.fromEntries(rows.map((k) => [k, median(samples[c.name]![k] ?? [Number.NaN])]))]));
  console.log(`\nmedians (ms; steps over ${HOSTS} hosts × ${REPS} rounds, the rest per deploy)`);
  console.log(["".padEnd(14), ...clis.map((c) => c.name.padStart(12))].join(""));
  for (const k of rows) console.log([k.padEnd(14), ...clis.map((c) => String(Math.round(medians[c.name]![k]!)).padStart(12))].join(""));
  await mkdir(join(REPO, "bench", "results"), { recursive: true });
  const out = join(REPO, "bench", "results", `ab-deploy-${new Date().toISOString().replace(/[:.]/g, "-")}.json`);
  await writeFile(out, `${JSON.stringify({ clis, reps: REPS, hosts: HOSTS, medians, samples }, null, 1)}\n`);
  console.log(`\nwrote ${out}`);
}

runBench(main);
