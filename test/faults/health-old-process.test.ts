import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { appendFile, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { fleetApp, gunicornCommand, APP_PORT, type FleetApp } from "../support/fleet-app.js";
import { buildWith } from "../support/build-app.js";
import { waitForJson } from "../support/supervisor.js";
import { deploy } from "../../src/commands/deploy.js";
import { SlipwayError } from "../../src/errors.js";
import type { TestHost } from "../support/fleet.js";

/*
 * Fault: a process of the old release still holds the app's port when the new one starts (an
 * orphaned worker, a restart that replaced nothing). gunicorn's new master retries its bind
 * while the old process answers /health with 200. The deploy must not report success: the
 * health check wants the new build's id, fails naming the build it saw, and switches back.
 *
 * The same holds for a restart that replaces nothing. Before the fix (any 2xx passed) both
 * deploys succeeded with the old code serving; the last test shows that with
 * `expect_build = false`, which is the old check.
 */

let f: FleetApp;
let b1: string;
let b2: string;
let stray: number | undefined;

before(async () => {
  f = await fleetApp(2, {
    command: gunicornCommand,
    extraToml: `[targets.fleet.health]\nurl = "http://127.0.0.1:${APP_PORT}/health"\ntimeout = "6s"\n`,
  });
  await appendFile(path.join(f.ws.app, "requirements.txt"), "\ngunicorn\n");
  b1 = (await buildWith(f.ws, "b1")).result.artifact;
  await appendFile(path.join(f.ws.app, "hello/app.py"), "\n# b2\n");
  b2 = (await buildWith(f.ws, "b2")).result.artifact;
  await deploy({ cwd: f.ws.app, artifact: b1, target: "fleet" });
  for (const h of f.hosts) assert.equal((await f.health(h)).build_id, "b1");
});
after(async () => {
  if (stray) await f.hosts[0]!.exec(["kill", "-9", String(stray)]).catch(() => undefined);
  await f?.stop();
});

/** Stop the supervised app and start release b1 by hand on the same port: a stray the restart cannot replace. */
async function startStray(h: TestHost): Promise<number> {
  await h.supervisorctl(["stop", "hello"]);
  const pid = await h.exec([
    "sh",
    "-c",
    'cd "$1" && setsid ./virtualenv/bin/python -m hello.serve --host 0.0.0.0 --port "$2" </dev/null >/dev/null 2>&1 & echo $!',
    "sh",
    `${f.ws.root}/releases/b1`,
    String(APP_PORT),
  ]);
  const body = await waitForJson(`http://${h.ip}:${APP_PORT}/health`, 10_000);
  assert.equal(body.build_id, "b1", "the stray answers as the old build");
  return Number(pid.trim());
}

/** Run `body` with slipway.toml edited by `edit`, then put it back. */
async function withConfig(edit: (toml: string) => string, body: () => Promise<void>): Promise<void> {
  const config = path.join(f.ws.app, "slipway.toml");
  const original = await readFile(config, "utf8");
  const edited = edit(original);
  assert.notEqual(edited, original, "the edit applies");
  await writeFile(config, edited);
  try {
    await body();
  } finally {
    await writeFile(config, original);
  }
}

test('a restart that replaces nothing (restart.command = "true"): the old build answers, the deploy fails and switches back', async () => {
  const h1 = f.hosts[0]!;
  await withConfig(
    (t) =>
      t.replace(/^\[targets\.fleet\.restart\]\nmanager = "supervisord"\nprograms = \["hello"\]\nconf = ".*"$/m, '[targets.fleet.restart]\ncommand = "true"'),
    async () => {
      const failure = await deploy({ cwd: f.ws.app, artifact: b2, target: "fleet" }).then(
        () => undefined,
        (e: unknown) => e,
      );
      assert.ok(failure instanceof SlipwayError, `the deploy must fail, got ${String(failure)}`);
      assert.match(failure.message, /health check GET \S+ failed: HTTP 200 from build b1, expected build b2/);
      assert.match(failure.message, /switched back to b1, restarted, healthy and back in rotation/, "b1 is what answers after the switch back: healthy");
    },
  );
  for (const h of f.hosts) assert.equal(await f.link(h, "current"), "releases/b1");
  assert.equal((await f.health(h1)).build_id, "b1");
});

test("a stray old process holds the health port: the deploy fails naming the build seen and the one expected, and switches back", async () => {
  const h1 = f.hosts[0]!;
  stray = await startStray(h1);
  const failure = await deploy({ cwd: f.ws.app, artifact: b2, target: "fleet" }).then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.ok(failure instanceof SlipwayError, `the deploy must fail, got ${String(failure)}`);
  const dest = h1.dest.replace(/\./g, "\\.");
  assert.match(
    failure.message,
    new RegExp(
      `${dest}: health check GET http://127\\.0\\.0\\.1:${APP_PORT}/health failed: HTTP 200 from build b1, expected build b2: another build is still answering`,
    ),
  );
  assert.match(failure.message, /switched back to b1/);
  for (const h of f.hosts) assert.equal(await f.link(h, "current"), "releases/b1", `${h.name} is on b1 again`);
  assert.equal(await f.link(f.hosts[1]!, "previous"), "", "the second host was never switched (batch 1, first host failed)");
  const history = (await f.read(h1, ".slipway/history.jsonl"))
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as { build_id: string; result: string });
  assert.deepEqual([history.at(-1)!.build_id, history.at(-1)!.result], ["b2", "failed"]);
});

test("the old check (any 2xx, expect_build = false) is fooled by the same stray: the deploy reports success while b1 serves", async () => {
  const h1 = f.hosts[0]!;
  await withConfig(
    (t) => t.replace(/^timeout = "6s"$/m, 'timeout = "6s"\nexpect_build = false'),
    async () => {
      await deploy({ cwd: f.ws.app, artifact: b2, target: "fleet" });
    },
  );
  assert.equal(await f.link(h1, "current"), "releases/b2", "slipway believes b2 is live");
  assert.equal((await f.health(h1)).build_id, "b1", "but the old build answers");
});
