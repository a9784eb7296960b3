// Roles (config/roles.ts, deploy/target.ts, plan roleBatches): resolution, inheritance, their
// config errors with file:line, --roles/--hosts narrowing, batches, and what a host activates.
import { test } from "node:test";
import assert from "node:assert/strict";
import { parseConfig } from "../../src/config/load.js";
import { forHost, migrationsHost } from "../../src/config/roles.js";
import { resolveTarget } from "../../src/deploy/target.js";
import { roleBatches } from "../../src/deploy/plan.js";
import { ConfigError, UsageError } from "../../src/errors.js";

const BASE = `[app]\nname = "acc"\nroot = "/srv/acc"\n`;
const SV = (programs: string) => `{ manager = "supervisord", programs = ${programs}, conf = "/etc/sv.conf" }`;
const PROD = `${BASE}[targets.prod]
batch = 2
restart = ${SV('["web"]')}
health = { url = "http://127.0.0.1:8000/health" }
[targets.prod.roles.web]
hosts = ["w1", "w2", "both"]
[targets.prod.roles.worker]
hosts = ["both", "k1"]
restart = ${SV('["worker"]')}
health = { command = "python manage.py worker_ping" }
batch = 1
`;

const problemsOf = (text: string) => {
  try {
    parseConfig(text, "slipway.toml");
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err.problems.map((p) => `${p.line}: ${p.path}: ${p.message}`);
  }
  return [];
};

test("roles: resolved in order, each inheriting what it does not set; hosts are their union, each once", () => {
  const t = parseConfig(PROD, "slipway.toml").targets["prod"]!;
  assert.deepEqual(t.hosts, ["w1", "w2", "both", "k1"]);
  const [web, worker] = t.roles;
  assert.equal(web!.name, "web");
  assert.equal(web!.restart, t.restart, "web inherits the target's restart");
  assert.equal(web!.batch, 2);
  assert.deepEqual(worker!.restart.programs, ["worker"]);
  assert.equal(worker!.health.command, "python manage.py worker_ping");
  assert.equal(worker!.batch, 1);
});

test("roles: plain hosts are one role named web", () => {
  const t = parseConfig(`${BASE}[targets.s]\nhosts = ["a", "b"]\nrestart = { manager = "none" }\n`, "slipway.toml").targets["s"]!;
  assert.deepEqual(
    t.roles.map((r) => [r.name, r.hosts]),
    [["web", ["a", "b"]]],
  );
});

test("roles: config errors name the line and the key", () => {
  assert.deepEqual(problemsOf(`${BASE}[targets.s]\nhosts = ["a"]\nrestart = { manager = "none" }\n[targets.s.roles.web]\nhosts = ["b"]\n`), [
    "5: targets.s.hosts: is set as well as roles",
  ]);
  assert.deepEqual(problemsOf(`${BASE}[targets.s]\nbatch = 1\n`), ["4: targets.s.hosts: is required (an array), or roles"]);
  assert.deepEqual(problemsOf(`${BASE}[targets.s.roles.web]\nhosts = ["a", "a"]\nrestart = { manager = "none" }\n`), [
    "5: targets.s.roles.web.hosts[1]: lists a twice",
  ]);
  assert.match(problemsOf(`${BASE}[targets.s.roles.Web]\nhosts = ["a"]\n`).join(), /role names must match/);
  assert.deepEqual(problemsOf(`${PROD}[deploy.migrations]\nrole = "cron"\n`), [`16: deploy.migrations.role: names role "cron", which no target has`]);
  // A role's own restart is checked where it is written.
  assert.match(
    problemsOf(`${BASE}[targets.s.roles.web]\nhosts = ["a"]\nrestart = { manager = "supervisord", conf = "/x" }\n`).join(),
    /6: targets\.s\.roles\.web\.restart\.programs: is empty/,
  );
});

test("roles: --roles and --hosts narrow the target; unknown names are usage errors", () => {
  const config = parseConfig(PROD, "slipway.toml");
  const worker = resolveTarget(config, "prod", undefined, "worker");
  assert.deepEqual(worker.hosts, ["both", "k1"]);
  assert.deepEqual(
    worker.target.roles.map((r) => r.name),
    ["worker"],
  );
  const one = resolveTarget(config, "prod", "both");
  assert.deepEqual(
    one.target.roles.map((r) => [r.name, r.hosts]),
    [
      ["web", ["both"]],
      ["worker", ["both"]],
    ],
  );
  const dropped = resolveTarget(config, "prod", "w1");
  assert.deepEqual(
    dropped.target.roles.map((r) => r.name),
    ["web"],
    "a role left with no host is dropped",
  );
  assert.throws(
    () => resolveTarget(config, "prod", undefined, "cron"),
    (e: unknown) => e instanceof UsageError && /--roles names cron/.test(e.message) && /web, worker/.test(e.hint ?? ""),
  );
  assert.throws(
    () => resolveTarget(config, "prod", "w1", "worker"),
    (e: unknown) => e instanceof UsageError && /not in the roles given \(worker\)/.test(e.message),
  );
});

test("roles: batches per role in order; a host in two roles switches with the first; --batch overrides every role's", () => {
  const t = parseConfig(PROD, "slipway.toml").targets["prod"]!;
  assert.deepEqual(roleBatches(t.roles), [
    { role: "web", hosts: ["w1", "w2", "both"], batches: [["w1", "w2"], ["both"]] },
    { role: "worker", hosts: ["both", "k1"], batches: [["k1"]] },
  ]);
  assert.deepEqual(
    roleBatches(t.roles, "100%").map((r) => r.batches),
    [[["w1", "w2", "both"]], [["k1"]]],
  );
});

test("roles: a host activates its first role's restart and health, and the others after", () => {
  const t = parseConfig(PROD, "slipway.toml").targets["prod"]!;
  const both = forHost(t, "both");
  assert.deepEqual(both.target.restart.programs, ["web"]);
  assert.deepEqual(
    both.otherRoles.map((r) => r.name),
    ["worker"],
  );
  const k1 = forHost(t, "k1");
  assert.deepEqual(k1.target.restart.programs, ["worker"]);
  assert.equal(k1.target.health.command, "python manage.py worker_ping");
  assert.deepEqual(k1.otherRoles, []);
  assert.equal(migrationsHost(t, ""), "w1");
  assert.equal(migrationsHost(t, "worker"), "both");
  assert.equal(
    migrationsHost(resolveTarget(parseConfig(PROD, "slipway.toml"), "prod", undefined, "worker").target, "web"),
    "both",
    "web not in this run: the run's first role",
  );
});
