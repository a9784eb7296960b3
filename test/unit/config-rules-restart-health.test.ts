// The restart and health rules (src/config/rules.ts): a target whose restart does nothing is
// refused unless it says so (manager = "none"); restart.sudo only where it means something;
// health.expect_build's default and opt-out.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { parseConfig } from "../../src/config/load.js";
import { ConfigError, ExitCode, formatProblem, type ConfigProblem } from "../../src/errors.js";
import { restartCommand } from "../../src/procman/restart.js";

const FILE = "slipway.toml";
/** [app] on lines 1–3, [targets.s] on line 4, hosts on line 5. */
const TARGET = `[app]\nname = "acc"\nroot = "/srv/acc"\n[targets.s]\nhosts = ["deploy@app-01"]\n`;

function refused(text: string): { err: ConfigError; ps: ConfigProblem[] } {
  try {
    parseConfig(text, FILE);
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return { err, ps: err.problems };
  }
  assert.fail("expected a ConfigError");
}

function one(text: string, line: number, path: string, message: RegExp, hint?: RegExp): void {
  const { err, ps } = refused(text);
  assert.equal(ps.length, 1, ps.map(formatProblem).join("\n"));
  const p = ps[0]!;
  assert.deepEqual([p.line, p.path], [line, path], formatProblem(p));
  assert.match(p.message, message);
  if (hint) assert.match(p.hint ?? "", hint);
  assert.equal(err.exitCode, ExitCode.usage);
  assert.ok(formatProblem(p).startsWith(`${FILE}:${line}: ${path}:`), formatProblem(p));
}

const NOTHING = /^restarts nothing: manager is "command" \(the default\) and command is empty, so the old release would go on serving after the switch$/;
const SAY_NONE =
  /set manager = "supervisord" or "systemd" with programs, or command = "…"; if nothing on these hosts needs a restart, say so with manager = "none"/;

describe("a restart that restarts nothing", () => {
  test('no [restart] table at all: refused at the target\'s line, the hint names manager = "none"', () => {
    one(TARGET, 4, "targets.s.restart", NOTHING, SAY_NONE);
  });
  test('manager = "command" with no command: refused at the restart table', () => {
    one(`${TARGET}[targets.s.restart]\nmanager = "command"\n`, 6, "targets.s.restart", NOTHING, SAY_NONE);
  });
  test("a blank command is no command", () => {
    one(`${TARGET}[targets.s.restart]\ncommand = "   "\n`, 6, "targets.s.restart", NOTHING);
  });
  test('manager = "none" is accepted and restarts nothing; a command is run', () => {
    const c = parseConfig(`${TARGET}[targets.s.restart]\nmanager = "none"\n`, FILE);
    assert.equal(c.targets["s"]!.restart.manager, "none");
    assert.equal(restartCommand(c.targets["s"]!.restart, "/srv/acc/current", {}), undefined);
    const cmd = parseConfig(`${TARGET}[targets.s.restart]\ncommand = "kill -TERM $(cat app.pid)"\n`, FILE);
    assert.ok(restartCommand(cmd.targets["s"]!.restart, "/srv/acc/current", {})!.includes("kill -TERM $(cat app.pid)"));
  });
  test("every target is checked", () => {
    const { ps } = refused(`${TARGET}[targets.s.restart]\nmanager = "none"\n[targets.t]\nhosts = ["b"]\n`);
    assert.deepEqual(
      ps.map((p) => [p.line, p.path]),
      [[8, "targets.t.restart"]],
    );
  });
});

describe("restart.sudo", () => {
  test("with systemd system units: accepted", () => {
    const c = parseConfig(`${TARGET}[targets.s.restart]\nmanager = "systemd"\nprograms = ["shop.service"]\nsudo = true\n`, FILE);
    assert.equal(c.targets["s"]!.restart.sudo, true);
  });
  test("with supervisord: refused", () => {
    one(
      `${TARGET}[targets.s.restart]\nmanager = "supervisord"\nprograms = ["shop"]\nsudo = true\n`,
      9,
      "targets.s.restart.sudo",
      /only used with manager = "systemd" \(manager is "supervisord"\)/,
      /^remove it$/,
    );
  });
  test("with a command: refused, the hint says where sudo goes", () => {
    one(`${TARGET}[targets.s.restart]\ncommand = "x"\nsudo = true\n`, 8, "targets.s.restart.sudo", /manager is "command"/, /put sudo in the command itself/);
  });
  test("with user units: refused", () => {
    one(
      `${TARGET}[targets.s.restart]\nmanager = "systemd"\nprograms = ["a"]\nscope = "user"\nsudo = true\n`,
      10,
      "targets.s.restart.sudo",
      /only used with system units \(scope is "user"/,
    );
  });
  test("not a boolean: a schema error", () => {
    one(
      `${TARGET}[targets.s.restart]\nmanager = "systemd"\nprograms = ["a"]\nsudo = "yes"\n`,
      9,
      "targets.s.restart.sudo",
      /expected true or false, got "yes"/,
    );
  });
});

describe("health.expect_build", () => {
  const restart = `[targets.s.restart]\nmanager = "none"\n`;
  test("on by default; false opts out", () => {
    assert.equal(parseConfig(`${TARGET}${restart}[targets.s.health]\nurl = "http://127.0.0.1:8000/health"\n`, FILE).targets["s"]!.health.expect_build, true);
    assert.equal(
      parseConfig(`${TARGET}${restart}[targets.s.health]\nurl = "http://127.0.0.1:8000/health"\nexpect_build = false\n`, FILE).targets["s"]!.health
        .expect_build,
      false,
    );
  });
  test("not a boolean: a schema error", () => {
    one(`${TARGET}${restart}[targets.s.health]\nexpect_build = "no"\n`, 9, "targets.s.health.expect_build", /expected true or false, got "no"/);
  });
});

describe("with roles: each restart a host uses is checked where it is written", () => {
  const ROLES = `[app]\nname = "acc"\nroot = "/srv/acc"\n[targets.s.roles.web]\nhosts = ["a"]\n[targets.s.roles.web.restart]\nmanager = "supervisord"\nprograms = ["web"]\n[targets.s.roles.worker]\nhosts = ["b"]\n`;
  test("a role inheriting the target's default restart: refused at the target's restart", () => {
    const { ps } = refused(ROLES);
    assert.deepEqual(
      ps.map((p) => p.path),
      ["targets.s.restart"],
    );
    assert.match(ps[0]!.message, NOTHING);
  });
  test("every role with its own restart: the target's unused default is not checked", () => {
    const c = parseConfig(`${ROLES}[targets.s.roles.worker.restart]\nmanager = "none"\n`, FILE);
    assert.deepEqual(
      c.targets["s"]!.roles.map((r) => r.restart.manager),
      ["supervisord", "none"],
    );
  });
  test("a role's own restart that restarts nothing: refused at the role's table", () => {
    one(`${ROLES}[targets.s.roles.worker.restart]\nmanager = "command"\n`, 11, "targets.s.roles.worker.restart", NOTHING, SAY_NONE);
  });
  test("sudo in a role's restart table", () => {
    one(`${ROLES}[targets.s.roles.worker.restart]\ncommand = "x"\nsudo = true\n`, 13, "targets.s.roles.worker.restart.sudo", /manager is "command"/);
  });
});
