// The deployer killed (SIGKILL) right after it drained a host in HAProxy: the server stays in
// DRAIN and the lock stays. After `unlock`, the next deploy takes that DRAIN as the killed
// run's (the host recorded it before the drain: deploy/drained.ts), puts the server back in
// rotation and completes — while a server an operator drained stays drained. No request fails.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { deploy } from "../../src/commands/deploy.js";
import { adminState, parseServersState } from "../../src/lb/haproxy.js";
import { localRuntime } from "../../src/lb/runtime.js";
import type { SlipwayEvent } from "../../src/events.js";
import { buildWith } from "../support/build-app.js";
import { CLI, slipway } from "../support/cli.js";
import { APP_PORT, behindHaproxy, fleetApp, gunicornCommand, type FleetApp } from "../support/fleet-app.js";
import { startHaproxy, type TestHaproxy } from "../support/haproxy.js";
import { startLoad } from "../support/load.js";
import { appendFile } from "node:fs/promises";
import path from "node:path";

let f: FleetApp;
let lb: TestHaproxy;

const admin = async (server: string) =>
  adminState(parseServersState(await localRuntime(lb.socket).send("show servers state app")).find((r) => r.server === server)!.adminState);

before(async () => {
  f = await fleetApp(3, { command: gunicornCommand, target: { batch: "1" } });
  lb = await startHaproxy(
    f.ws.dir,
    f.hosts.map((h) => ({ name: h.name, addr: `${h.ip}:${APP_PORT}` })),
  );
  await behindHaproxy(f, lb.socket, { drainTimeout: "10s", healthTimeout: "10s" });
});
after(async () => {
  lb?.stop();
  await f?.stop();
});

/** Run `slipway deploy --json` and SIGKILL it the moment the first host's drain is done. */
function deployKilledAfterDrain(artifact: string): Promise<{ killedAfter?: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, "deploy", artifact, "--target", "fleet", "--json"], {
      cwd: f.ws.app,
      env: f.ws.env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let buf = "";
    let killedAfter: string | undefined;
    child.stdout.on("data", (c: Buffer) => {
      buf += c.toString();
      for (;;) {
        const nl = buf.indexOf("\n");
        if (nl < 0) break;
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        let e: SlipwayEvent | undefined;
        try {
          e = JSON.parse(line) as SlipwayEvent;
        } catch {
          continue;
        }
        if (!killedAfter && e.type === "host" && e.step === "drain" && e.status === "done") {
          killedAfter = e.host;
          child.kill("SIGKILL");
        }
      }
    });
    child.on("error", reject);
    child.on("close", () => resolve({ killedAfter }));
  });
}

test("a deployer killed after a drain: the next deploy puts the killed run's DRAIN back in rotation, an operator's stays", async () => {
  const [h1, h2, h3] = f.hosts;
  const b1 = await buildWith(f.ws, "k1");
  await deploy({ cwd: f.ws.app, artifact: b1.result.artifact, target: "fleet" });
  await appendFile(path.join(f.ws.app, "hello/app.py"), "\n# k2\n");
  const b2 = await buildWith(f.ws, "k2");

  const load = startLoad(`http://127.0.0.1:${lb.port}/`, { concurrency: 3, maxMs: 180_000 });
  try {
    const { killedAfter } = await deployKilledAfterDrain(b2.result.artifact);
    assert.equal(killedAfter, h1!.dest, "killed right after h1's drain");
    assert.equal(await admin("h1"), "drain", "the killed run left h1 in DRAIN");
    assert.match(await f.read(h1!, ".slipway/drained"), /^app\/h1\n$/, "h1 recorded what was drained for it");

    // The operator drains h3 by hand, unlocks the killed run's lock, deploys again.
    await localRuntime(lb.socket).send("set server app/h3 state drain");
    const unlocked = slipway(["unlock", "--target", "fleet", "--yes"], { cwd: f.ws.app, env: f.ws.env });
    assert.equal(unlocked.code, 0, unlocked.stderr);
    const events: SlipwayEvent[] = [];
    const r = await deploy({ cwd: f.ws.app, artifact: b2.result.artifact, target: "fleet", emit: (e) => events.push(e) });
    assert.ok(r.hosts.every((h) => h.result === "ok"));
    for (const h of f.hosts) assert.equal(await f.link(h, "current"), "releases/k2");
    assert.equal(await admin("h1"), "ready", "the killed run's DRAIN is back in rotation");
    assert.equal(await admin("h2"), "ready");
    assert.equal(await admin("h3"), "drain", "the operator's DRAIN is kept");
    const warnings = events.flatMap((e) => (e.type === "log" && e.level === "warn" ? [e.message] : []));
    assert.ok(
      warnings.some((w) => /h1 was left in DRAIN by an earlier run that was killed/.test(w)),
      warnings.join("\n"),
    );
    assert.ok(
      warnings.some((w) => /app\/h3 .* was in DRAIN before this run/.test(w)),
      warnings.join("\n"),
    );
    assert.equal((await h1!.exec(["sh", "-c", `test -e ${f.ws.root}/.slipway/drained && echo yes || echo no`])).trim(), "no", "forgotten once restored");
    await localRuntime(lb.socket).send("set server app/h3 state ready");
    void h2;
    void h3;
  } finally {
    const samples = await load.stop();
    const failed = samples.filter((s) => s.error || s.status < 200 || s.status >= 300);
    assert.equal(failed.length, 0, `${failed.length} of ${samples.length} requests failed`);
  }
});
