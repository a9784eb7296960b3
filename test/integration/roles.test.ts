// Roles on real namespace hosts: web = [h1, h2], worker = [h2, h3]. One deploy covers both:
// each host locked and staged once, migrations once on the migrations role's first host, web
// switched before worker, h2 switched once with both its programs restarted; --roles narrows
// deploy, rollback and releases; a worker that fails its health check sends every host back.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { appendFile, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { deploy } from "../../src/commands/deploy.js";
import { rollback } from "../../src/commands/rollback.js";
import { releases } from "../../src/commands/releases.js";
import type { SlipwayEvent } from "../../src/events.js";
import { buildWith } from "../support/build-app.js";
import { APP_PORT, fleetApp, SUPERVISOR_CONF, type FleetApp } from "../support/fleet-app.js";
import type { TestHost } from "../support/fleet.js";
import { slipway } from "../support/cli.js";

const WORKER = `import json, os, signal, sys, time

with open("slipway.json") as f:
    build_id = json.load(f)["build_id"]
if os.path.exists("WORKER_BROKEN"):
    sys.exit(3)
with open("/tmp/worker.json.tmp", "w") as f:
    json.dump({"build_id": build_id, "pid": os.getpid()}, f)
os.rename("/tmp/worker.json.tmp", "/tmp/worker.json")
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
while True:
    time.sleep(1)
`;

const WORKER_PING = `python -c 'import json, os, sys; d = json.load(open("/tmp/worker.json")); sys.exit(d["build_id"] != os.environ["SLIPWAY_BUILD_ID"])'`;

let f: FleetApp;
let h1: TestHost, h2: TestHost, h3: TestHost;

before(async () => {
  const worker = (root: string) =>
    [
      "[program:worker]",
      `command=${root}/current/virtualenv/bin/python -m hello.worker`,
      `directory=${root}/current`,
      "autostart=false",
      "startsecs=1",
      "startretries=0",
      "stopsignal=TERM",
      "stopwaitsecs=10",
    ].join("\n");
  f = await fleetApp(3, { extraPrograms: worker });
  [h1, h2, h3] = f.hosts as [TestHost, TestHost, TestHost];
  await writeFile(path.join(f.ws.app, "hello", "worker.py"), WORKER);
  const hostsOf = (...hs: TestHost[]) => JSON.stringify(hs.map((h) => h.dest));
  await appendFile(
    path.join(f.ws.app, "slipway.toml"),
    `
[targets.prod]
ssh = { identity = "${f.fleet.ssh.identity}", known_hosts = "${f.fleet.ssh.known_hosts}" }
[targets.prod.roles.web]
hosts = ${hostsOf(h1, h2)}
restart = { manager = "supervisord", programs = ["hello"], conf = "${SUPERVISOR_CONF}" }
health = { url = "http://127.0.0.1:${APP_PORT}/health" }
[targets.prod.roles.worker]
hosts = ${hostsOf(h2, h3)}
restart = { manager = "supervisord", programs = ["worker"], conf = "${SUPERVISOR_CONF}" }
health = { command = ${JSON.stringify(WORKER_PING)}, timeout = "10s" }
`,
  );
  // Migrations on the worker role's first host (h2) only: the check leaves a mark there.
  const config = path.join(f.ws.app, "slipway.toml");
  const text = await readFile(config, "utf8");
  await writeFile(
    config,
    text
      .replace("[deploy.migrations]\n", '[deploy.migrations]\nrole = "worker"\n')
      .replace('check  = "python -m hello.migrations --plan"', 'check = "python -m hello.migrations --plan && touch /tmp/migrations-checked"'),
  );
});
after(async () => {
  await f?.stop();
});

const pidOf = async (h: TestHost, program: string) => (await h.supervisorctl(["pid", program])).trim();
const worker = async (h: TestHost) => JSON.parse(await h.exec(["cat", "/tmp/worker.json"])) as { build_id: string; pid: number };
const current = (h: TestHost) => f.link(h, "current");

test("roles: one deploy covers web and worker; h2, in both, is staged and switched once, both programs restarted", async () => {
  const b1 = await buildWith(f.ws, "r1");
  const events: SlipwayEvent[] = [];
  const r = await deploy({ cwd: f.ws.app, artifact: b1.result.artifact, target: "prod", emit: (e) => events.push(e) });
  assert.deepEqual(
    r.hosts.map((h) => [h.host, h.result]),
    [
      [h1.dest, "ok"],
      [h2.dest, "ok"],
      [h3.dest, "ok"],
    ],
  );
  for (const h of [h1, h2, h3]) assert.equal(await current(h), "releases/r1");
  for (const h of [h1, h2]) assert.equal((await f.health(h))["build_id"], "r1");
  for (const h of [h2, h3]) assert.equal((await worker(h)).build_id, "r1");
  assert.match(await h3.supervisorctl(["status", "hello"]).catch((e: Error) => e.message), /STOPPED|Not started/, "h3 is no web host: hello not started");

  const steps = (step: string) => events.flatMap((e) => (e.type === "host" && e.step === step && e.status === "start" ? [e.host] : []));
  assert.deepEqual(steps("stage").sort(), [h1.dest, h2.dest, h3.dest].sort(), "each host staged once");
  assert.deepEqual(steps("switch"), [h1.dest, h2.dest, h3.dest], "web (h1, h2) switched before worker (h3); h2 once");
  assert.deepEqual(steps("migrate").length > 0 ? [...new Set(steps("migrate"))] : [], [h2.dest], "migrations on the worker role's first host");
  assert.equal((await h2.exec(["sh", "-c", "test -e /tmp/migrations-checked && echo yes || echo no"])).trim(), "yes");
  for (const h of [h1, h3]) assert.equal((await h.exec(["sh", "-c", "test -e /tmp/migrations-checked && echo yes || echo no"])).trim(), "no");
  const plan = events.find((e) => e.type === "plan");
  assert.ok(plan?.type === "plan" && plan.plan.roles?.map((x) => x.role).join() === "web,worker");

  // History names the roles of each host.
  const history = (h: TestHost) =>
    f.read(h, ".slipway/history.jsonl").then((t) =>
      t
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l))
        .at(-1),
    );
  assert.deepEqual((await history(h2)).roles, ["web", "worker"]);
  assert.deepEqual((await history(h3)).roles, ["worker"]);

  // A second deploy restarts both programs on h2 (new pids), once each.
  const before = { hello: await pidOf(h2, "hello"), worker: await pidOf(h2, "worker") };
  await appendFile(path.join(f.ws.app, "hello/app.py"), "\n# r2\n");
  const b2 = await buildWith(f.ws, "r2");
  await deploy({ cwd: f.ws.app, artifact: b2.result.artifact, target: "prod" });
  assert.notEqual(await pidOf(h2, "hello"), before.hello);
  assert.notEqual(await pidOf(h2, "worker"), before.worker);
  assert.equal((await worker(h2)).build_id, "r2");
});

test("roles: --roles narrows deploy, releases and rollback; --dry-run shows roles and batches", async () => {
  await appendFile(path.join(f.ws.app, "hello/app.py"), "\n# r3\n");
  const b3 = await buildWith(f.ws, "r3");
  const dry = slipway(["deploy", b3.result.artifact, "--target", "prod", "--dry-run"], { cwd: f.ws.app, env: f.ws.env });
  assert.equal(dry.code, 0, dry.stderr);
  assert.ok(dry.stdout.includes(`role web: [${h1.dest}] → [${h2.dest}]`), dry.stdout);
  assert.ok(dry.stdout.includes(`role worker: [${h3.dest}]`), "h2 switches with web; worker's batches have h3 only");
  assert.match(dry.stdout, new RegExp(`${h2.dest.replaceAll(".", "\\.")}\\s+\\[web, worker\\]`));

  const helloOnH2 = await pidOf(h2, "hello");
  const r = await deploy({ cwd: f.ws.app, artifact: b3.result.artifact, target: "prod", roles: "worker" });
  assert.deepEqual(
    r.hosts.map((h) => h.host),
    [h2.dest, h3.dest],
  );
  assert.equal(await current(h1), "releases/r2", "h1 (web only) untouched");
  for (const h of [h2, h3]) assert.equal((await worker(h)).build_id, "r3");
  assert.equal(await pidOf(h2, "hello"), helloOnH2, "--roles worker restarts only the worker's programs");

  const listed = await releases({ cwd: f.ws.app, target: "prod", roles: "web" });
  assert.deepEqual(
    listed.hosts.map((h) => h.host),
    [h1.dest, h2.dest],
  );

  await rollback({ cwd: f.ws.app, target: "prod", roles: "worker" });
  for (const h of [h2, h3]) assert.equal(await current(h), "releases/r2");
  await assert.rejects(deploy({ cwd: f.ws.app, artifact: b3.result.artifact, target: "prod", roles: "cron" }), /--roles names cron/);
});

test("roles: a worker failing its health check rolls back every host already switched, web ones included", async () => {
  await writeFile(path.join(f.ws.app, "WORKER_BROKEN"), "the worker exits at start\n");
  const b4 = await buildWith(f.ws, "r4");
  await assert.rejects(deploy({ cwd: f.ws.app, artifact: b4.result.artifact, target: "prod" }), /worker: ERROR \(spawn error\)|health check/);
  for (const h of [h1, h2, h3]) assert.equal(await current(h), "releases/r2", `${h.name} back on r2`);
  for (const h of [h1, h2]) assert.equal((await f.health(h))["build_id"], "r2");
});
