import { spawnSync } from "node:child_process";
import { appendFile } from "node:fs/promises";
import { join } from "node:path";
import { fleetApp } from "../../test/support/fleet-app.js";
const CLI = "/work/main/dist/cli.js";
const f = await fleetApp(Number(process.argv[2] ?? 3));
try {
  const run = (args: string[]) => { const t = performance.now(); const r = spawnSync(process.execPath, [CLI, ...args, "--json"], { cwd: f.ws.app, env: f.ws.env, encoding: "utf8" }); if (r.status !== 0) throw new Error(r.stdout.slice(-1500) + r.stderr); return { s: (performance.now() - t) / 1000, lines: r.stdout.trim().split("\n").map((l) => JSON.parse(l)) }; };
  const b1 = run(["build", "--build-id", "b1"]).lines.at(-1);
  console.log("deploy b1", run(["deploy", b1.artifact, "--target", "fleet"]).s);
  for (let i = 0; i < 5; i++) {
    await appendFile(join(f.ws.app, "hello/app.py"), `# x${i}\n`);
    const b = run(["build", "--build-id", `c${i}`]).lines.at(-1);
    const d = run(["deploy", b.artifact, "--target", "fleet"]);
    const sums = f.hosts.map((h) => d.lines.filter((e: any) => e.type === "host" && e.host === h.dest && e.status === "done" && e.step !== "restart").reduce((a: number, e: any) => a + e.ms, 0));
    console.log(`code-only c${i}`, d.s.toFixed(3), sums.join("/"));
  }
} finally { await f.stop(); }
process.exit(0);
