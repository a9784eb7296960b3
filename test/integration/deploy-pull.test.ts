// Pull mode ([targets.X.source] registry): three namespace hosts pull the layers they lack from
// Debian's docker-registry (htpasswd auth) through a proxy that can spoil blobs. The deployer
// sends commands and the manifest only; each host fetches each blob once, and never one it has;
// credentials reach no argv, environment or file on a host; a wrong or a short blob is refused
// with nothing switched; a deployer killed mid-pull leaves `current` serving and the next run
// completes; a host that cannot reach the registry is refused at preflight (exit 3), or, with
// fallback = "push", sent the layers over ssh.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { appendFile, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { promisify } from "node:util";
import { deploy } from "../../src/commands/deploy.js";
import type { SlipwayEvent } from "../../src/events.js";
import { buildWith } from "../support/build-app.js";
import { buildEntries, fleetApp, type FleetApp } from "../support/fleet-app.js";
import { startRegistry, spoilingProxy, type Registry, type SpoilingProxy } from "../support/registry.js";
import { slipwayAsync } from "../support/cli-async.js";
import { cacheDir } from "../../src/build/layer-cache.js";
import { readHead } from "../../src/artifact/read.js";

const exec = promisify(execFile);
const REPO = "team/hello";
const USER = "deployer";
const PASSWORD = `pw-${randomBytes(12).toString("hex")}`;
const BASIC = Buffer.from(`${USER}:${PASSWORD}`).toString("base64");

let f: FleetApp;
let reg: Registry;
let proxy: SpoilingProxy;
let registryIp: string;
const savedEnv = { user: process.env.SLIPWAY_REGISTRY_USER, password: process.env.SLIPWAY_REGISTRY_PASSWORD };

before(async () => {
  f = await fleetApp(3);
  // The registry (behind the proxy) on a second address of the fleet's bridge: this machine and
  // every host reach it, and one host can be cut off from it alone (its ssh uses the first).
  registryIp = f.fleet.gateway.replace(/\.1$/, ".2");
  await exec("ip", ["addr", "add", `${registryIp}/24`, "dev", f.fleet.bridge]);
  const htpasswd = path.join(f.ws.dir, "htpasswd");
  await writeFile(htpasswd, (await exec("htpasswd", ["-Bbn", USER, PASSWORD])).stdout);
  reg = await startRegistry(path.join(f.ws.dir, "registry"), { auth: `auth:\n  htpasswd:\n    realm: slipway-test\n    path: ${htpasswd}\n` });
  proxy = await spoilingProxy(registryIp, reg.addr);
  process.env.SLIPWAY_REGISTRY_USER = USER;
  process.env.SLIPWAY_REGISTRY_PASSWORD = PASSWORD;
  await appendFile(path.join(f.ws.app, "slipway.toml"), `\n[targets.fleet.source]\nregistry = "http://${proxy.addr}/${REPO}"\n`);
});

after(async () => {
  process.env.SLIPWAY_REGISTRY_USER = savedEnv.user;
  process.env.SLIPWAY_REGISTRY_PASSWORD = savedEnv.password;
  if (savedEnv.user === undefined) delete process.env.SLIPWAY_REGISTRY_USER;
  if (savedEnv.password === undefined) delete process.env.SLIPWAY_REGISTRY_PASSWORD;
  await proxy?.close();
  await reg?.stop();
  await f?.stop();
});

/** GETs of a blob that the registry answered 200 (through the proxy: every host's pull). */
const blobGets = (digest: string) => reg.requests().filter((r) => r.method === "GET" && r.uri.endsWith(`/blobs/sha256:${digest}`) && r.status === 200).length;
const current = (h: FleetApp["hosts"][number]) => f.link(h, "current");

function pullPlan(events: SlipwayEvent[]) {
  const plan = events.find((e) => e.type === "plan");
  assert.ok(plan?.type === "plan");
  return plan.plan.hosts;
}

/** Whether a secret is anywhere under dir (a host's /srv, its /tmp and /root). */
function secretIn(dir: string): string | undefined {
  const walk = (d: string): string | undefined => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) {
        const found = walk(p);
        if (found) return found;
      } else if (e.isFile()) {
        const text = readFileSync(p).toString("latin1");
        if (text.includes(PASSWORD) || text.includes(BASIC)) return p;
      }
    }
    return undefined;
  };
  return walk(dir);
}

/**
 * Every process's argv on this machine (the hosts share its PID namespace), and the environment
 * of every process on a host (the deployer's own children inherit the variables the test set).
 */
function secretInProcesses(): string[] {
  const found: string[] = [];
  const onHosts = new Set(f.hosts.flatMap((h) => h.pids()).map(String));
  for (const pid of readdirSync("/proc").filter((p) => /^\d+$/.test(p))) {
    for (const what of ["cmdline", "environ"]) {
      if (what === "environ" && !onHosts.has(pid)) continue;
      try {
        const text = readFileSync(`/proc/${pid}/${what}`).toString("latin1");
        if (text.includes(PASSWORD) || text.includes(BASIC)) found.push(`${pid} ${what}: ${text.replaceAll("\0", " ").slice(0, 120)}`);
      } catch {
        // gone, or not ours to read
      }
    }
  }
  return found;
}

const digests: { venv: string; code: string }[] = [];

test("pull: hosts fetch each blob they lack once, the deployer sends the manifest only, and credentials reach no host file, argv or environment", async () => {
  const b1 = await buildWith(f.ws, "b1");
  const events: SlipwayEvent[] = [];
  const r1 = await deploy({ cwd: f.ws.app, artifact: b1.result.artifact, target: "fleet", emit: (e) => events.push(e) });
  assert.deepEqual(
    r1.hosts.map((h) => h.result),
    ["ok", "ok", "ok"],
  );
  for (const h of f.hosts) {
    assert.equal(await current(h), "releases/b1");
    assert.equal((await f.health(h))["build_id"], "b1");
  }
  for (const h of pullPlan(events)) assert.deepEqual([h.send, h.pull], [["manifest"], ["code", "venv"]], h.host);
  for (const o of r1.hosts) assert.ok(o.bytes_sent < 64 * 1024, `${o.host}: the deployer sent ${o.bytes_sent} bytes (manifest + curl config)`);
  const pulled = events.flatMap((e) => (e.type === "host" && e.step === "venv" && e.status === "done" ? [e.detail ?? ""] : []));
  assert.equal(pulled.length, 3);
  assert.ok(
    pulled.every((d) => /pulled from the registry/.test(d)),
    pulled.join("\n"),
  );

  // Which blobs: the venv and code layers of b1, each GET once per host.
  const layers = await imageLayers("b1");
  digests.push(layers);
  assert.equal(blobGets(layers.venv), 3, "each host fetched the venv layer once");
  assert.equal(blobGets(layers.code), 3, "each host fetched the code layer once");

  // b2, code only: the venv layer is neither pushed again nor fetched by any host; while the
  // hosts wait on the code blob, no process anywhere shows the credentials.
  await appendFile(path.join(f.ws.app, "hello", "app.py"), "\n# b2\n");
  const b2 = await buildWith(f.ws, "b2");
  const seen: string[] = [];
  proxy.spoil = "stall";
  proxy.onStall = async () => {
    await new Promise((r) => setTimeout(r, 300));
    seen.push(...secretInProcesses());
  };
  const uploadsBefore = reg.requests().filter((r) => r.method === "PUT" && r.uri.includes("/blobs/uploads/")).length;
  try {
    await deploy({ cwd: f.ws.app, artifact: b2.result.artifact, target: "fleet" });
  } finally {
    proxy.spoil = "none";
    proxy.onStall = undefined;
  }
  assert.ok(proxy.stalls > 0, "the hosts were caught waiting on the blob");
  assert.deepEqual(seen, [], "no argv or environment holds the password or the Basic header");
  const l2 = await imageLayers("b2");
  digests.push(l2);
  assert.equal(l2.venv, layers.venv, "same venv key, same layer");
  assert.equal(blobGets(layers.venv), 3, "no host fetched the venv it has");
  assert.equal(blobGets(l2.code), 3);
  const uploads = reg.requests().filter((r) => r.method === "PUT" && r.uri.includes("/blobs/uploads/")).length - uploadsBefore;
  assert.equal(uploads, 2, "the deployer uploaded the new code layer and config only");
  for (const h of f.hosts) {
    assert.equal(await current(h), "releases/b2");
    assert.equal(secretIn(h.srv), undefined, `${h.name}'s /srv holds no credential`);
    assert.equal(secretIn(h.dir), undefined, `${h.name}'s /tmp and /root hold no credential`);
  }
});

test("pull: a wrong blob and a short one are refused on the host, nothing switched; a deployer killed mid-pull leaves current serving; the next run completes", async () => {
  await appendFile(path.join(f.ws.app, "hello", "app.py"), "\n# b3\n");
  const b3 = (await buildWith(f.ws, "b3")).result.artifact;
  const unchanged = async (staged = false) => {
    for (const h of f.hosts) {
      assert.equal(await current(h), "releases/b2", `${h.name} still on b2`);
      assert.equal((await f.health(h))["build_id"], "b2");
      // (A host whose deployer was killed may finish staging on its own: a complete, unused release.)
      if (!staged) assert.equal((await h.exec(["sh", "-c", `ls ${f.ws.root}/releases`])).includes("b3"), false, `${h.name} has no b3 release`);
    }
  };
  proxy.spoil = "flip";
  await assert.rejects(deploy({ cwd: f.ws.app, artifact: b3, target: "fleet" }), /refused .* from the registry .*hash to sha256:[0-9a-f]{64}, not the digest/s);
  await unchanged();
  proxy.spoil = "truncate";
  await assert.rejects(deploy({ cwd: f.ws.app, artifact: b3, target: "fleet" }), /cannot fetch .* from the registry/s);
  await unchanged();

  // Killed while every host waits on the blob: the hosts keep b2, their locks stay; unlock + deploy completes.
  proxy.spoil = "stall";
  let killed = false;
  const run = slipwayAsync(["deploy", b3, "--target", "fleet"], { cwd: f.ws.app, env: { ...f.ws.env, ...registryEnv() } });
  proxy.onStall = async () => {
    if (killed) return;
    killed = true;
    const pids = (await exec("pgrep", ["-f", `cli.js deploy ${b3}`]).catch(() => ({ stdout: "" }))).stdout.trim().split("\n").filter(Boolean);
    for (const p of pids) process.kill(Number(p), "SIGKILL");
  };
  const out = await run;
  proxy.spoil = "none";
  proxy.onStall = undefined;
  assert.equal(out.signal, "SIGKILL", out.stderr);
  await unchanged(true);
  const unlock = await slipwayAsync(["unlock", "--target", "fleet", "--yes", "--force"], { cwd: f.ws.app, env: f.ws.env });
  assert.equal(unlock.code, 0, unlock.stderr);
  const r = await deploy({ cwd: f.ws.app, artifact: b3, target: "fleet" });
  assert.deepEqual(
    r.hosts.map((h) => h.result),
    ["ok", "ok", "ok"],
  );
  for (const h of f.hosts) assert.equal((await f.health(h))["build_id"], "b3");
});

test("pull: a host that cannot reach the registry is refused at preflight (exit 3, named, nothing changed); with fallback = push it gets the layers over ssh", async () => {
  const [h1, , h3] = f.hosts as [FleetApp["hosts"][number], FleetApp["hosts"][number], FleetApp["hosts"][number]];
  await h3.exec(["ip", "route", "add", "prohibit", `${registryIp}/32`]);
  try {
    await appendFile(path.join(f.ws.app, "hello", "app.py"), "\n# b4\n");
    const b4 = (await buildWith(f.ws, "b4")).result.artifact;
    const err = await deploy({ cwd: f.ws.app, artifact: b4, target: "fleet" }).then(
      () => assert.fail("deployed with a host that cannot reach the registry"),
      (e: { exitCode?: number; message: string }) => e,
    );
    assert.equal(err.exitCode, 3, err.message);
    assert.match(err.message, new RegExp(`${h3.dest.replaceAll(".", "\\.")}: cannot reach the registry http://${proxy.addr.replaceAll(".", "\\.")}`));
    assert.doesNotMatch(err.message, new RegExp(h1.dest.replaceAll(".", "\\.")));
    for (const h of f.hosts) {
      assert.equal(await current(h), "releases/b3");
      assert.deepEqual(await buildEntries(f, h, "b4"), [], `${h.name}: nothing of b4`);
      assert.equal((await h.exec(["sh", "-c", `test -d ${f.ws.root}/.slipway/lock && echo held || echo free`])).trim(), "free");
    }

    const config = path.join(f.ws.app, "slipway.toml");
    await writeFile(config, (await readFile(config, "utf8")).replace(`registry = "http://${proxy.addr}/${REPO}"`, `$&\nfallback = "push"`));
    const events: SlipwayEvent[] = [];
    const r = await deploy({ cwd: f.ws.app, artifact: b4, target: "fleet", emit: (e) => events.push(e) });
    assert.deepEqual(
      r.hosts.map((h) => h.result),
      ["ok", "ok", "ok"],
    );
    const byHost = new Map(r.hosts.map((h) => [h.host, h.bytes_sent]));
    const codeSize = (await readHead(b4)).manifest.layers[0]!.size;
    assert.ok(byHost.get(h3.dest)! >= codeSize, `${h3.dest} was sent the code layer (${byHost.get(h3.dest)} bytes)`);
    assert.ok(byHost.get(h1.dest)! < codeSize, `${h1.dest} pulled it (${byHost.get(h1.dest)} bytes sent)`);
    assert.ok(events.some((e) => e.type === "log" && e.level === "warn" && e.message.includes(h3.dest) && e.message.includes('fallback = "push"')));
    for (const h of f.hosts) assert.equal((await f.health(h))["build_id"], "b4");
  } finally {
    await h3.exec(["ip", "route", "del", "prohibit", `${registryIp}/32`]).catch(() => undefined);
  }
});

function registryEnv(): NodeJS.ProcessEnv {
  return { SLIPWAY_REGISTRY_USER: USER, SLIPWAY_REGISTRY_PASSWORD: PASSWORD };
}

/** The venv and code layer digests (hex) of a build's image in the deployer's cached layout. */
async function imageLayers(buildId: string): Promise<{ venv: string; code: string }> {
  // The library's deploy (this process) keeps its image layout in this process's cache dir.
  const layout = path.join(cacheDir(process.env), "oci", "layouts", "hello");
  const index = JSON.parse(await readFile(path.join(layout, "index.json"), "utf8")) as { manifests: { digest: string; annotations: Record<string, string> }[] };
  const d = index.manifests.find((m) => m.annotations["org.opencontainers.image.ref.name"] === buildId)!;
  const manifest = JSON.parse(await readFile(path.join(layout, "blobs", "sha256", d.digest.slice(7)), "utf8")) as { layers: { digest: string }[] };
  const [venv, code] = manifest.layers.slice(-2).map((l) => l.digest.slice(7)) as [string, string];
  return { venv, code };
}
