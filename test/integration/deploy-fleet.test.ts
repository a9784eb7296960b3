import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { appendFile, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { fleetApp, type FleetApp } from "../support/fleet-app.js";
import { buildWith } from "../support/build-app.js";
import { slipway } from "../support/cli.js";
import { deploy } from "../../src/commands/deploy.js";
import { rollback } from "../../src/commands/rollback.js";
import { prune } from "../../src/commands/prune.js";
import { releases } from "../../src/commands/releases.js";
import type { TestHost } from "../support/fleet.js";
import { SshTransport, TransportError } from "../../src/transport/ssh.js";

let f: FleetApp;
before(async () => {
  f = await fleetApp(3);
});
after(async () => {
  await f?.stop();
});

const rx = (hosts: TestHost[]) => Promise.all(hosts.map((h) => h.rxBytes()));
const listing = (h: TestHost) =>
  h
    .exec([
      "sh",
      "-c",
      "cd \"$1\" && find . -path ./shared -prune -o -print | sort | xargs -r ls -ld --time-style=+%s 2>/dev/null | awk '{print $1, $6, $7, $8, $9}'",
      "sh",
      f.ws.root,
    ])
    .catch(() => "");

test("fleet over ssh: first deploy sends the venv; a code-only deploy sends only the code layer; new venv key sends it again", async () => {
  const { ws, hosts } = f;
  const b1 = await buildWith(ws, "b1");
  const rx0 = await rx(hosts);
  const d1 = slipway(["deploy", b1.result.artifact, "--target", "fleet", "--json"], { cwd: ws.app, env: ws.env });
  assert.equal(d1.code, 0, d1.stderr + d1.stdout.slice(-2000));
  const r1 = d1.json().at(-1)! as { hosts: { host: string; bytes_sent: number; result: string }[] };
  // Each host's connect step says how long its shell took to start (deploy/session.ts), over real ssh.
  const connects = d1.json().filter((e) => e["type"] === "host" && e["step"] === "connect" && e["status"] === "done");
  assert.equal(connects.length, hosts.length);
  for (const c of connects) assert.match(String(c["detail"]), /^connected; shell start-up \d+ ms$/);
  for (const h of hosts) {
    assert.equal((await f.health(h)).build_id, "b1");
    assert.equal(await f.link(h, "current"), "releases/b1");
  }
  assert.ok(
    r1.hosts.every((h) => h.result === "ok" && h.bytes_sent >= b1.result.layers.venv.size),
    "the venv went to every host",
  );
  const rx1 = await rx(hosts);
  hosts.forEach((_, i) => {
    assert.ok(rx1[i]! - rx0[i]! >= b1.result.layers.venv.size, "measured on the host's interface");
  });

  await appendFile(path.join(ws.app, "hello/app.py"), "\n# code-only change\n");
  const b2 = await buildWith(ws, "b2");
  assert.equal(b2.result.venv.key, b1.result.venv.key);
  const run2 = slipway(["deploy", b2.result.artifact, "--target", "fleet", "--json"], { cwd: ws.app, env: ws.env });
  assert.equal(run2.code, 0, run2.stderr + run2.stdout.slice(-2000));
  const d2 = run2.json().at(-1)! as { hosts: { host: string; bytes_sent: number }[] };
  // The venv's mark names the interpreter the first deploy checked: the code-only deploy compares it, and starts no Python to ask.
  const preflights = (run: typeof run2) => run.json().filter((e) => e["type"] === "host" && e["step"] === "preflight" && e["status"] === "done");
  assert.deepEqual(
    preflights(d1).map((e) => e["detail"]),
    hosts.map(() => "venv missing"),
  );
  assert.deepEqual(
    preflights(run2).map((e) => e["detail"]),
    hosts.map(() => "venv present, interpreter unchanged since it was unpacked"),
  );
  for (const h of hosts) assert.match(await f.read(h, `virtualenvs/${b1.result.venv.key}/.slipway-complete`), /^python \d+ \d+ \d+ \d+ \d+ .+ [0-9a-f]{16}\n$/);
  const rx2 = await rx(hosts);
  for (const [i, h] of hosts.entries()) {
    const received = rx2[i]! - rx1[i]!;
    assert.ok(received < b2.result.layers.code.size + 96 * 1024, `${h.name} received ${received} bytes for a ${b2.result.layers.code.size}-byte code layer`);
    assert.ok(received < b1.result.layers.venv.size / 10, "no venv bytes");
    assert.equal((await f.health(h)).build_id, "b2");
    assert.equal(await f.link(h, "previous"), "releases/b1");
  }
  assert.ok(d2.hosts.every((h) => h.bytes_sent <= b2.result.layers.code.size * 1.05 + 4096));

  await appendFile(path.join(ws.app, "requirements.txt"), "\nslipfix==1.1.0\n");
  const b3 = await buildWith(ws, "b3");
  assert.notEqual(b3.result.venv.key, b1.result.venv.key);
  const d3 = await deploy({ cwd: ws.app, artifact: b3.result.artifact, target: "fleet" });
  assert.ok(d3.hosts.every((h) => h.bytes_sent >= b3.result.layers.venv.size));
  for (const h of hosts) {
    assert.equal((await f.health(h)).build_id, "b3");
    assert.equal((await h.exec([`${ws.root}/current/virtualenv/bin/python`, "-c", "import slipfix, fastcount; print(slipfix.__name__)"])).trim(), "slipfix");
  }

  // Rollback: no transfer, previous comes back; --to picks a kept release.
  const rxBefore = await rx(hosts);
  await rollback({ cwd: ws.app, target: "fleet" });
  for (const h of hosts) assert.equal((await f.health(h)).build_id, "b2");
  const rxAfter = await rx(hosts);
  hosts.forEach((_, i) => {
    assert.ok(rxAfter[i]! - rxBefore[i]! < 64 * 1024, "rollback transfers nothing but commands");
  });
  await rollback({ cwd: ws.app, target: "fleet", to: "b1" });
  for (const h of hosts) assert.equal((await f.health(h)).build_id, "b1");
  await rollback({ cwd: ws.app, target: "fleet", to: "b3" });

  const listed = await releases({ cwd: ws.app, target: "fleet" });
  for (const l of listed.hosts) {
    assert.deepEqual(l.releases.map((r) => r.id).sort(), ["b1", "b2", "b3"]);
    assert.equal(l.venvs.length, 2);
  }
  const pr = await prune({ cwd: ws.app, target: "fleet", keep: "1" });
  for (const p of pr.hosts) {
    assert.deepEqual(p.keep.sort(), ["b1", "b3"], "current (b3) and previous (b1) are kept");
    assert.deepEqual(p.removeReleases, ["b2"]);
    assert.deepEqual(p.removeVenvs, [], "b1 still uses the old venv");
  }
  for (const h of hosts) {
    const history = (await f.read(h, ".slipway/history.jsonl"))
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    assert.deepEqual(
      history.map((x) => `${x.action}:${x.build_id ?? ""}`),
      ["deploy:b1", "deploy:b2", "deploy:b3", "rollback:b2", "rollback:b1", "rollback:b3", "prune:"],
    );
    assert.ok(history.every((x) => x.host === h.dest && x.result === "ok"));
  }
});

test("fleet: a held lock on one host exits 4 and changes nothing anywhere", async () => {
  const { ws, hosts } = f;
  const b = await buildWith(ws, "lock1");
  const h2 = hosts[1]!;
  await h2.exec([
    "sh",
    "-c",
    'mkdir "$1/.slipway/lock" && echo \'{"token":"t","user":"ci","from":"runner-3","action":"deploy","target":"fleet","build_id":"77","since":"2026-11-26T10:00:00Z","pid":4242}\' > "$1/.slipway/lock/info"',
    "sh",
    ws.root,
  ]);
  const before = await Promise.all(hosts.map(listing));
  const r = slipway(["deploy", b.result.artifact, "--target", "fleet"], { cwd: ws.app, env: ws.env });
  assert.equal(r.code, 4, r.stderr);
  assert.match(r.stderr, new RegExp(`${h2.dest.replace(/\./g, "\\.")}: locked by ci@runner-3 since 2026-11-26T10:00:00Z \\(deploy of 77, pid 4242\\)`));
  assert.match(r.stderr, /slipway unlock --target fleet/);
  assert.deepEqual(await Promise.all(hosts.map(listing)), before, "every host exactly as it was");
  const u = slipway(["unlock", "--target", "fleet", "--yes"], { cwd: ws.app, env: ws.env });
  assert.equal(u.code, 0, u.stderr);
  assert.match(u.stdout, new RegExp(`unlocked fleet on ${h2.dest.replace(/\./g, "\\.")}`));
});

test("fleet: an unreachable host exits 1 naming it and what ssh said, and changes nothing anywhere", async () => {
  const { ws, hosts } = f;
  const b = await buildWith(ws, "reach1");
  const config = path.join(ws.app, "slipway.toml");
  const original = await readFile(config, "utf8");
  const closed = `root@${hosts[0]!.ip}:2222`; // nothing listens there
  const hostsLine = /^hosts = (\[.*\])$/m;
  await writeFile(
    config,
    original.replace(hostsLine, (_, list: string) => `hosts = ${JSON.stringify([...JSON.parse(list), closed])}`),
  );
  try {
    const before = await Promise.all(hosts.map(listing));
    const r = slipway(["deploy", b.result.artifact, "--target", "fleet"], { cwd: ws.app, env: ws.env });
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`cannot reach ${closed.replace(/\./g, "\\.")} over ssh: .*Connection refused`));
    assert.deepEqual(await Promise.all(hosts.map(listing)), before, "every reachable host exactly as it was (no lock left either)");
  } finally {
    await writeFile(config, original);
  }
});

test("ssh transport: one shell session per host runs every command; a session that dies is a lost connection, named, and the next command gets a new one", async () => {
  const h = f.hosts[0]!;
  const t = new SshTransport(h.dest, { config: "", identity: f.fleet.ssh.identity, known_hosts: f.fleet.ssh.known_hosts, options: [] });
  // The driver running this command: the outermost of its ancestors whose command line is the
  // driver's (each command's subshell is a fork of it; the hosts share this machine's pid
  // namespace, and other tests' drivers may be running).
  const myDriver =
    'p=$$ d=; while [ "$p" -gt 1 ]; do case $(tr "\\0" " " < /proc/$p/cmdline) in "sh -c t="*) d=$p;; *) [ -n "$d" ] && break;; esac; p=$(cut -d" " -f4 /proc/$p/stat); done; [ -n "$d" ] && echo $d';
  try {
    const first = await t.exec(["sh", "-c", myDriver]);
    const second = await t.exec(["sh", "-c", `${myDriver} >&2; exit 255`]);
    assert.equal(first.code, 0, first.stderr);
    assert.deepEqual(
      [second.code, second.stderr],
      [255, first.stdout],
      `the same driver ran both; 255 is the command's status, not a lost host (${JSON.stringify([first, second])})`,
    );
    await assert.rejects(
      t.exec(["sh", "-c", `kill -9 $(${myDriver})`]),
      (err: unknown) => err instanceof TransportError && new RegExp(`^lost the ssh connection to ${h.dest.replace(/\./g, "\\.")}`).test(err.message),
    );
    const after = await t.exec(["sh", "-c", myDriver]);
    assert.equal(after.code, 0);
    assert.notEqual(after.stdout, first.stdout, "a new session (a new driver) for the next command");
  } finally {
    await t.close();
  }
});

test("fleet: a failing hook or migrations check switches no host", async () => {
  const { ws, hosts } = f;
  const config = path.join(ws.app, "slipway.toml");
  const original = await readFile(config, "utf8");
  const current = await Promise.all(hosts.map((h) => f.link(h, "current")));
  const b = await buildWith(ws, "hook1");
  try {
    await writeFile(
      config,
      original.replace(
        "[deploy.migrations]",
        '[deploy.hooks]\nbefore_switch = ["test \\"$SLIPWAY_HOST\\" != \\"' + hosts[2]!.dest + '\\""]\n\n[deploy.migrations]',
      ),
    );
    const r = slipway(["deploy", b.result.artifact, "--target", "fleet"], { cwd: ws.app, env: ws.env });
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`${hosts[2]!.dest.replace(/\./g, "\\.")}: hooks failed`));
    assert.deepEqual(await Promise.all(hosts.map((h) => f.link(h, "current"))), current);

    await writeFile(config, original.replace(/^check\s*=.*$/m, 'check = "echo cannot reach the database >&2; exit 2"'));
    const m = slipway(["deploy", b.result.artifact, "--target", "fleet"], { cwd: ws.app, env: ws.env });
    assert.equal(m.code, 1);
    assert.match(m.stderr, /migrate failed \(exit 2\)/);
    assert.match(m.stderr, /cannot reach the database/);
    assert.deepEqual(await Promise.all(hosts.map((h) => f.link(h, "current"))), current);
    for (const h of hosts) assert.notEqual((await f.health(h)).build_id, "hook1");
  } finally {
    await writeFile(config, original);
  }
});

test("fleet: --dry-run prints hosts, batches, bytes and steps and changes nothing", async () => {
  const { ws, hosts } = f;
  await appendFile(path.join(ws.app, "hello/app.py"), "\n# dry\n");
  const b = await buildWith(ws, "dry1");
  const before = await Promise.all(hosts.map(listing));
  const r = slipway(["deploy", b.result.artifact, "--target", "fleet", "--dry-run", "--batch", "2"], { cwd: ws.app, env: ws.env });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /plan: deploy dry1 to fleet \(dry run: nothing was changed\)/);
  assert.match(r.stdout, /sends manifest \+ code \(\d/);
  assert.match(r.stdout, /batches: \[.*, .*\] → \[.*\]/);
  assert.deepEqual(await Promise.all(hosts.map(listing)), before);
});
