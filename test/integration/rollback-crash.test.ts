import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { appendFile } from "node:fs/promises";
import path from "node:path";
import { createInterface } from "node:readline";
import { APP_PORT, fleetApp, type FleetApp } from "../support/fleet-app.js";
import { buildWith } from "../support/build-app.js";
import { CLI, slipway } from "../support/cli.js";
import type { TestHost } from "../support/fleet.js";

/*
 * A rollback runs in three round trips per host (preflight+lock, switch+restart+health,
 * finish). Kill the deployer (SIGKILL, its whole process group: ssh too) before, inside and
 * between them: every host keeps a complete `current` that answers, and after `unlock` the
 * next rollback completes.
 */

let f: FleetApp;
before(async () => {
  f = await fleetApp(2);
  await appendFile(path.join(f.ws.app, "slipway.toml"), `\n[targets.fleet.health]\nurl = "http://127.0.0.1:${APP_PORT}/health"\ntimeout = "10s"\n`);
  for (const id of ["b1", "b2"]) {
    const b = await buildWith(f.ws, id);
    const d = slipway(["deploy", b.result.artifact, "--target", "fleet"], { cwd: f.ws.app, env: f.ws.env });
    assert.equal(d.code, 0, d.stderr);
    if (id === "b1") await appendFile(path.join(f.ws.app, "hello/app.py"), "\n# b2\n");
  }
});
after(async () => {
  await f?.stop();
});

const slipwayIn = (args: string[]) => slipway(args, { cwd: f.ws.app, env: f.ws.env });

/** `slipway rollback --to b1 --json`, SIGKILLed (process group) at the first event `when` accepts. */
function rollbackAndKill(when: (e: Record<string, unknown>) => boolean): Promise<string> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, "rollback", "--target", "fleet", "--to", "b1", "--json"], {
      cwd: f.ws.app,
      env: f.ws.env,
      detached: true,
      stdio: ["ignore", "pipe", "ignore"],
    });
    let killedAt = "not killed (finished)";
    createInterface({ input: child.stdout! }).on("line", (line) => {
      const e = JSON.parse(line) as Record<string, unknown>;
      if (killedAt === "not killed (finished)" && when(e)) {
        killedAt = `${e.host} ${e.step} ${e.status}`;
        try {
          process.kill(-child.pid!, "SIGKILL");
        } catch {
          /* already gone */
        }
      }
    });
    child.on("exit", () => resolve(killedAt));
  });
}

/** `current` is a whole release (its manifest, code and complete venv) and the host answers from it. */
async function assertServing(h: TestHost, context: string): Promise<string> {
  const check = await h
    .exec([
      "sh",
      "-c",
      `cur=$(readlink "$1/current") || { echo "no current"; exit 1; }
      [ -f "$1/$cur/slipway.json" ] && [ -f "$1/$cur/hello/app.py" ] && [ -f "$1/$cur/virtualenv/.slipway-complete" ] || { echo "$cur is not whole"; exit 1; }
      echo "$cur"`,
      "sh",
      f.ws.root,
    ])
    .catch((err: Error & { stdout?: string }) => `FAIL ${err.stdout ?? err.message}`);
  assert.ok(check.trim() === "releases/b1" || check.trim() === "releases/b2", `${context}: ${h.name}: ${check}`);
  const body = await f.health(h);
  assert.ok(body.build_id === "b1" || body.build_id === "b2", `${context}: ${h.name} serves ${String(body.build_id)}`);
  return check.trim();
}

const BOUNDARIES: [string, (e: Record<string, unknown>) => boolean][] = [
  ["after preflight+lock (the lock taken, nothing switched)", (e) => e.step === "preflight" && e.status === "done"],
  ["at the switch (the second round trip sent)", (e) => e.step === "switch" && e.status === "start"],
  ["after the switch (restart running)", (e) => e.step === "switch" && e.status === "done"],
  ["after the restart (health check polling)", (e) => e.step === "restart" && e.status === "done"],
  ["after the health check (before finish)", (e) => e.step === "health" && e.status === "done"],
  ["at finish (record, unlock)", (e) => e.step === "finish" && e.status === "start"],
];

for (const [name, when] of BOUNDARIES) {
  test(`rollback SIGKILLed ${name}: current stays whole and serving; unlock + rollback completes`, async () => {
    for (const h of f.hosts) assert.equal(await f.link(h, "current"), "releases/b2", "starts on b2");
    const killedAt = await rollbackAndKill(when);
    assert.notEqual(killedAt, "not killed (finished)", "killed where intended");
    await new Promise((r) => setTimeout(r, 300)); // let a host script already running settle
    for (const h of f.hosts) await assertServing(h, `killed at ${killedAt}`);

    const unlocked = slipwayIn(["unlock", "--target", "fleet", "--yes"]);
    assert.equal(unlocked.code, 0, unlocked.stderr);
    const again = slipwayIn(["rollback", "--target", "fleet", "--to", "b1"]);
    assert.equal(again.code, 0, `the next rollback completes after unlock: ${again.stderr}`);
    for (const h of f.hosts) {
      assert.equal(await assertServing(h, "rolled back again"), "releases/b1");
      assert.equal((await f.health(h)).build_id, "b1");
    }
    // Back to b2 for the next trial (no lock left: no unlock needed).
    const back = slipwayIn(["rollback", "--target", "fleet", "--to", "b2"]);
    assert.equal(back.code, 0, back.stderr);
    for (const h of f.hosts) assert.equal((await f.health(h)).build_id, "b2");
  });
}
