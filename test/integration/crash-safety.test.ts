import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { appendFile, writeFile, chmod } from "node:fs/promises";
import path from "node:path";
import { createInterface } from "node:readline";
import { fleetApp, type FleetApp } from "../support/fleet-app.js";
import { buildWith } from "../support/build-app.js";
import { CLI, slipway } from "../support/cli.js";
import { tmpDir } from "../support/tmp.js";
import type { TestHost } from "../support/fleet.js";

/*
 * Kill the deployer with SIGKILL at every step boundary and at random points inside staging:
 * every host must keep a complete `current` (never a half-unpacked release) and keep serving,
 * and after `unlock` the next deploy must complete.
 */

let f: FleetApp;
let artifacts: { b1: string; b3: string; venvKey3: string };

before(async () => {
  f = await fleetApp(3);
  const b1 = await buildWith(f.ws, "b1");
  await appendFile(path.join(f.ws.app, "requirements.txt"), "\nslipfix==1.1.0\n");
  await appendFile(path.join(f.ws.app, "hello/app.py"), "\n# b3\n");
  const b3 = await buildWith(f.ws, "b3");
  artifacts = { b1: b1.result.artifact, b3: b3.result.artifact, venvKey3: b3.result.venv.key };
  const d = slipway(["deploy", artifacts.b1, "--target", "fleet"], { cwd: f.ws.app, env: f.ws.env });
  assert.equal(d.code, 0, d.stderr);
});
after(async () => {
  await f?.stop();
});

interface Killed {
  events: Record<string, unknown>[];
  killedAt: string;
}

/** Run `slipway deploy b3 --json`; SIGKILL its process group when `when` says so (or after `afterMs` from the first send). */
function deployAndKill(when: { event?: (e: Record<string, unknown>) => boolean; afterSendMs?: number }): Promise<Killed> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, "deploy", artifacts.b3, "--target", "fleet", "--json"], {
      cwd: f.ws.app,
      env: f.ws.env,
      detached: true,
      stdio: ["ignore", "pipe", "ignore"],
    });
    const events: Record<string, unknown>[] = [];
    let killedAt = "not killed (finished)";
    let timer: NodeJS.Timeout | undefined;
    const kill = (why: string) => {
      if (killedAt !== "not killed (finished)") return;
      killedAt = why;
      try {
        process.kill(-child.pid!, "SIGKILL");
      } catch {
        /* already gone */
      }
    };
    createInterface({ input: child.stdout! }).on("line", (line) => {
      const e = JSON.parse(line) as Record<string, unknown>;
      e["received_ms"] = Date.now();
      events.push(e);
      if (when.event?.(e)) kill(`${e.host ?? ""} ${e.step ?? e.phase ?? e.type} ${e.status ?? ""}`);
      if (when.afterSendMs !== undefined && e.step === "venv" && e.status === "start" && !timer) {
        timer = setTimeout(() => kill(`${when.afterSendMs} ms after the first send`), when.afterSendMs);
      }
    });
    child.on("exit", () => {
      clearTimeout(timer);
      resolve({ events, killedAt });
    });
  });
}

/** The invariant: `current` is a complete release, its venv complete, and the host answers. */
async function assertHealthy(h: TestHost, context: string): Promise<string> {
  const root = f.ws.root;
  const check = await h
    .exec([
      "sh",
      "-c",
      `
    cur=$(readlink "$1/current") || { echo "no current"; exit 1; }
    case "$cur" in releases/.tmp-*|*/.tmp-*) echo "current is a temp dir: $cur"; exit 1;; esac
    [ -f "$1/$cur/slipway.json" ] || { echo "$cur has no slipway.json"; exit 1; }
    [ -f "$1/$cur/hello/app.py" ] || { echo "$cur has no code"; exit 1; }
    [ -f "$1/$cur/virtualenv/.slipway-complete" ] || { echo "$cur has no complete venv"; exit 1; }
    echo "$cur"`,
      "sh",
      root,
    ])
    .catch((err: Error & { stdout?: string }) => `FAIL ${err.stdout ?? err.message}`);
  assert.ok(!check.startsWith("FAIL"), `${context}: ${h.name}: ${check}`);
  const body = await f.health(h);
  assert.ok(body.build_id === "b1" || body.build_id === "b3", `${context}: ${h.name} serves ${String(body.build_id)}`);
  return check.trim();
}

/** Back to the baseline: b1 current everywhere, b3 and its venv gone, no lock. */
async function reset(): Promise<void> {
  slipway(["unlock", "--target", "fleet", "--yes"], { cwd: f.ws.app, env: f.ws.env });
  const r = slipway(["rollback", "--target", "fleet", "--to", "b1"], { cwd: f.ws.app, env: f.ws.env });
  assert.equal(r.code, 0, `reset rollback: ${r.stderr}`);
  await Promise.all(f.hosts.map((h) => h.exec(["sh", "-c", 'rm -rf "$1/releases/b3" "$1/virtualenvs/$2"', "sh", f.ws.root, artifacts.venvKey3])));
  for (const h of f.hosts) assert.equal((await f.health(h)).build_id, "b1");
}

async function trial(name: string, when: Parameters<typeof deployAndKill>[0]): Promise<void> {
  const k = await deployAndKill(when);
  await new Promise((r) => setTimeout(r, 300)); // let remote commands already running settle
  for (const h of f.hosts) await assertHealthy(h, `${name} (killed at ${k.killedAt})`);
  slipway(["unlock", "--target", "fleet", "--yes"], { cwd: f.ws.app, env: f.ws.env });
  const again = slipway(["deploy", artifacts.b3, "--target", "fleet"], { cwd: f.ws.app, env: f.ws.env });
  assert.equal(again.code, 0, `${name}: the next deploy completes after unlock: ${again.stderr}`);
  for (const h of f.hosts) {
    assert.equal(await assertHealthy(h, `${name} then redeployed`), "releases/b3");
    assert.equal((await f.health(h)).build_id, "b3");
  }
  await reset();
}

const BOUNDARIES: [string, (e: Record<string, unknown>) => boolean][] = [
  ["after verify", (e) => e.phase === "verify" && e.status === "done"],
  ["after preflight", (e) => e.step === "preflight" && e.status === "done"],
  ["after the first lock (and clean)", (e) => e.step === "lock" && e.status === "done"],
  ["at the start of the venv transfer", (e) => e.step === "venv" && e.status === "start"],
  ["during the venv transfer", (e) => e.type === "transfer" && e.layer === "venv" && Number(e.sent) > 0],
  ["after the venv is unpacked", (e) => e.step === "venv" && e.status === "done"],
  ["at the start of staging the release", (e) => e.step === "stage" && e.status === "start"],
  ["after the release is staged", (e) => e.step === "stage" && e.status === "done"],
  ["after migrations", (e) => e.step === "migrate" && e.status === "done"],
  ["at the first switch", (e) => e.step === "switch" && e.status === "start"],
  ["after the first switch", (e) => e.step === "switch" && e.status === "done"],
  ["after the first restart", (e) => e.step === "restart" && e.status === "done"],
  ["at finish (record, prune, unlock)", (e) => e.step === "finish" && e.status === "start"],
];

test("SIGKILL at each step boundary: current stays complete and serving; unlock + deploy completes", async () => {
  for (const [name, event] of BOUNDARIES) await trial(name, { event });
});

test("SIGKILL at 20 random points inside staging (seeded)", async () => {
  // Time staging once, then kill uniformly inside that window.
  const probe = await deployAndKill({});
  const at = (pred: (e: Record<string, unknown>) => boolean) => probe.events.filter(pred).map((e) => Number(e["received_ms"]));
  const sendStart = Math.min(...at((e) => e.step === "venv" && e.status === "start"));
  const unpackDone = Math.max(...at((e) => e.step === "stage" && e.status === "done"));
  assert.ok(Number.isFinite(sendStart) && unpackDone > sendStart, "staging was observed");
  await reset();
  const window = unpackDone - sendStart;
  let seed = Number(process.env["SLIPWAY_CRASH_SEED"] ?? 20261126);
  const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  console.log(`crash trials: seed ${process.env["SLIPWAY_CRASH_SEED"] ?? 20261126}, window ${window} ms`);
  for (let i = 0; i < 20; i++) await trial(`random #${i + 1}`, { afterSendMs: Math.floor(random() * window) });
});

test("an incompatible interpreter on one host: exit 3 naming host and difference, before anything is sent", async () => {
  const dir = await tmpDir("slipway-fakepy");
  const fake = path.join(dir, "python3.11");
  await writeFile(
    fake,
    `#!/bin/sh\necho '{"executable": "/usr/bin/python3.11", "implementation": "cpython", "version": "3.12.1", "abi": "cpython-312-x86_64-linux-gnu", "platform": "linux-x86_64/glibc-2.36"}'\n`,
  );
  await chmod(fake, 0o755);
  const g = await fleetApp(2, { fleet: { setup: (i) => (i === 1 ? [["mount", "--bind", fake, "/usr/bin/python3.11"]] : []) } });
  try {
    const b = await buildWith(g.ws, "x1");
    const ls = (h: TestHost) => h.exec(["sh", "-c", "find /srv -mindepth 1 | sort"]);
    const before = await Promise.all(g.hosts.map(ls));
    const rx0 = await Promise.all(g.hosts.map((h) => h.rxBytes()));
    const r = slipway(["deploy", b.result.artifact, "--target", "fleet"], { cwd: g.ws.app, env: g.ws.env });
    assert.equal(r.code, 3, r.stderr);
    const h2 = g.hosts[1]!.dest.replace(/\./g, "\\.");
    assert.match(r.stderr, new RegExp(`${h2}: interpreter /usr/bin/python3: version is 3\\.12\\.1, the artifact was built with 3\\.11\\.2`));
    assert.match(r.stderr, new RegExp(`${h2}: interpreter /usr/bin/python3: abi is cpython-312`));
    assert.match(r.stderr, /nothing was sent or changed/);
    assert.doesNotMatch(r.stderr, new RegExp(`${g.hosts[0]!.dest.replace(/\./g, "\\.")}: interpreter`), "the matching host is not blamed");
    assert.deepEqual(await Promise.all(g.hosts.map(ls)), before, "every host exactly as it was");
    const rx1 = await Promise.all(g.hosts.map((h) => h.rxBytes()));
    g.hosts.forEach((_, i) => {
      assert.ok(rx1[i]! - rx0[i]! < b.result.layers.code.size + 32 * 1024, "no layer was sent");
    });
  } finally {
    await g.stop();
  }
});
