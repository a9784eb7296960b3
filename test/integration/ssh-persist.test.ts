// `[targets.T.ssh] persist` (transport/persist.ts): the CLI keeps the host's ssh master past the
// run, the next run reuses it (no new TCP connection, no handshake), and a kept master whose
// host-side sshd stopped answering is replaced within 2 s instead of holding the run up.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { appendFile, readdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { fleetApp, type FleetApp } from "../support/fleet-app.js";
import { buildWith } from "../support/build-app.js";
import { slipway } from "../support/cli.js";

let f: FleetApp;
let socket: string;
const stopped: string[] = [];

before(async () => {
  f = await fleetApp(1);
  const config = path.join(f.ws.app, "slipway.toml");
  await writeFile(
    config,
    (await readFile(config, "utf8")).replace(`known_hosts = "${f.fleet.ssh.known_hosts}"`, `known_hosts = "${f.fleet.ssh.known_hosts}", persist = "2m"`),
  );
});

after(async () => {
  for (const pid of stopped) f.hosts[0]!.exec(["kill", "-CONT", pid]).catch(() => {});
  if (socket) spawnSync("ssh", ["-o", `ControlPath=${socket}`, "-O", "exit", "x"], { timeout: 5000 });
  await f?.stop();
});

/** The host's established sshd connections: "peer-port pids" per line. */
async function sshdConnections(): Promise<{ peer: string; pids: string[] }[]> {
  const out = await f.hosts[0]!.exec(["ss", "-Htnp", "state", "established", "( sport = :22 )"]);
  return out
    .trim()
    .split("\n")
    .filter(Boolean)
    .map((l) => ({ peer: l.split(/\s+/)[3] ?? "", pids: [...l.matchAll(/pid=(\d+)/g)].map((m) => m[1]!) }));
}

function masterPid(): string {
  const r = spawnSync("ssh", ["-o", `ControlPath=${socket}`, "-O", "check", "x"], { encoding: "utf8", timeout: 5000 });
  return /pid=(\d+)/.exec(r.stderr)?.[1] ?? "";
}

function deployed(build: string, artifact: string) {
  const r = slipway(["deploy", artifact, "--target", "fleet", "--json"], { cwd: f.ws.app, env: f.ws.env });
  assert.equal(r.code, 0, r.stderr + r.stdout.slice(-2000));
  const connect = r.json().find((e) => e["type"] === "host" && e["step"] === "connect" && e["status"] === "done");
  return { ms: Number(connect?.["ms"]), build };
}

test("ssh.persist: the next run reuses the kept connection; one that stopped answering is replaced within 2 s", { timeout: 300_000 }, async (t) => {
  const b1 = await buildWith(f.ws, "b1");
  const d1 = deployed("b1", b1.result.artifact);
  assert.equal((await f.health(f.hosts[0]!)).build_id, "b1");
  const sockets = await readdir(path.join(f.ws.cache, "ssh"));
  assert.equal(sockets.length, 1, "one kept master, in the cache's ssh dir");
  socket = path.join(f.ws.cache, "ssh", sockets[0]!);
  const pid = masterPid();
  assert.ok(pid, "the master outlived the run");
  const [conn] = await sshdConnections();
  assert.ok(conn);

  // Reused: the same master, the same TCP connection on the host, no handshake.
  await appendFile(path.join(f.ws.app, "hello/app.py"), "\n# b2\n");
  const b2 = await buildWith(f.ws, "b2");
  const d2 = deployed("b2", b2.result.artifact);
  assert.equal((await f.health(f.hosts[0]!)).build_id, "b2");
  assert.equal(masterPid(), pid);
  assert.deepEqual(
    (await sshdConnections()).map((c) => c.peer),
    [conn.peer],
    "no new connection to the host",
  );

  // The host side of the kept connection stops answering (its sshd processes frozen): the next
  // run gives it 2 s, closes it and connects again.
  for (const p of conn.pids) {
    await f.hosts[0]!.exec(["kill", "-STOP", p]);
    stopped.push(p);
  }
  await appendFile(path.join(f.ws.app, "hello/app.py"), "\n# b3\n");
  const b3 = await buildWith(f.ws, "b3");
  const t0 = performance.now();
  const d3 = deployed("b3", b3.result.artifact);
  const wall = performance.now() - t0;
  t.diagnostic(`connect step: cold ${d1.ms} ms, kept ${d2.ms} ms, kept but frozen then replaced ${d3.ms} ms`);
  assert.equal((await f.health(f.hosts[0]!)).build_id, "b3");
  assert.ok(d3.ms >= 1900 && d3.ms < 8000, `connect took ${d3.ms} ms: 2 s for the kept master, then a new handshake (not ssh's 15 s keepalive limit)`);
  assert.ok(wall < 60_000);
  const now = masterPid();
  assert.ok(now && now !== pid, `a new master (${now}, was ${pid})`);
  assert.ok(!(await sshdConnections()).some((c) => c.peer === conn.peer && c.pids.every((p) => !stopped.includes(p))));
});
