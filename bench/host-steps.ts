// Host-step micro benchmark: each host script a deploy runs, timed over a warm ssh master
// connection and run inside the host directly (nsenter, no ssh), on one namespace host with
// the example app deployed. Shows what a round trip costs (ssh) against what the script costs.
//
//   cd /work/main && npm run build && npx tsx bench/host-steps.ts      (needs root)
//
// Prints the median of 7 runs per script; writes nothing.
import { fleetApp } from "../test/support/fleet-app.js";
import { SshTransport } from "../src/transport/ssh.js";
import { probeHost } from "../src/deploy/probe.js";
import { acquireLock, releaseLock } from "../src/deploy/lock.js";
import { finishHost } from "../src/deploy/finish.js";
import { switchThenRun } from "../src/deploy/switch.js";
import { spawnSync } from "node:child_process";
import { shJoin } from "../src/transport/quote.js";

const f = await fleetApp(1);
const h = f.hosts[0]!;
const root = f.ws.root;
try {
  const r = spawnSync(process.execPath, ["/work/main/dist/cli.js", "build", "--build-id", "m1", "--json"], { cwd: f.ws.app, env: f.ws.env, encoding: "utf8" });
  const art = JSON.parse(r.stdout.trim().split("\n").at(-1)!).artifact as string;
  const d = spawnSync(process.execPath, ["/work/main/dist/cli.js", "deploy", art!, "--target", "fleet"], { cwd: f.ws.app, env: f.ws.env, encoding: "utf8" });
  if (d.status !== 0) throw new Error(d.stdout + d.stderr);
  const t = new SshTransport(h.dest, { config: "", identity: f.fleet.ssh.identity, known_hosts: f.fleet.ssh.known_hosts, options: [] });
  await t.exec(["true"]);
  const info = { token: "tok", user: "u", from: "f", action: "deploy", target: "t", since: "s", pid: 1 };
  const cases: [string, string[]][] = [
    ["true", ["true"]],
    ["sh -c true", ["sh", "-c", "true"]],
    ["probe", probeHost(root, "/usr/bin/python3", "m2", "0123456789abcdef")],
    ["python -I -c pass", ["/usr/bin/python3", "-I", "-c", "pass"]],
    ["acquire+release", ["sh", "-c", `${shJoin(acquireLock(root, info as any, true))}; ${shJoin(releaseLock(root, "tok"))}`]],
    ["finish (no prune)", finishHost(root, undefined, "tok", [])],
    ["switch to m1 + supervisorctl restart", switchThenRun(root, "m1", ["supervisorctl", "-c", "/srv/supervisord.conf", "restart", "hello"])],
    ["supervisorctl status", ["supervisorctl", "-c", "/srv/supervisord.conf", "status"]],
  ];
  for (const [name, argv] of cases) {
    const ssh: number[] = [], local: number[] = [];
    for (let i = 0; i < 7; i++) {
      let t0 = performance.now(); const x = await t.exec(argv); ssh.push(performance.now() - t0);
      if (x.code !== 0 && name !== "true") console.log(name, x.code, x.stderr.slice(0, 200));
      t0 = performance.now(); await h.exec(["sh", "-c", shJoin(argv)]).catch(() => {}); local.push(performance.now() - t0);
    }
    const med = (xs: number[]) => xs.sort((a, b) => a - b)[3]!.toFixed(1);
    console.log(`${name.padEnd(40)} ssh ${med(ssh)} ms   in-host (nsenter) ${med(local)} ms`);
  }
  await t.close();
} finally {
  await f.stop();
}
process.exit(0);
