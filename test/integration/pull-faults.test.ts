// Crash safety and hostile artifacts in pull mode (issue 11): two namespace hosts pull from
// Debian's docker-registry. Hostile artifacts are refused (exit 3, named) with nothing switched
// and nothing published; layers that pass the deployer's checks by hand and sit in the registry
// under their true digest are refused by the host itself; a deployer SIGKILLed (its whole
// process group) at each step boundary or at seeded points while the hosts curl leaves every
// `current` complete and serving, never a partial release marked complete, and unlock + deploy
// completes.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync, readlinkSync } from "node:fs";
import { appendFile, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { createInterface } from "node:readline";
import { fleetApp, type FleetApp } from "../support/fleet-app.js";
import { buildWith } from "../support/build-app.js";
import { CLI, slipway } from "../support/cli.js";
import { CRASH, slipwayAsync } from "../support/cli-async.js";
import { makeCorpus, type HostileCase, type Sources } from "../support/hostile-corpus.js";
import { corpusSources } from "../support/corpus-sources.js";
import { packLayer, readLayer, readMembers, manifestBytes, type LayerEntry } from "../support/artifact-edit.js";
import { startRegistry, type Registry } from "../support/registry.js";
import { snapshotTree } from "../support/snapshot.js";
import { tmpDir } from "../support/tmp.js";
import type { TestHost } from "../support/fleet.js";
import type { Manifest } from "../../src/artifact/manifest.js";
import { loadConfig } from "../../src/config/load.js";
import { resolveTarget } from "../../src/deploy/target.js";
import { openSessions } from "../../src/deploy/connect.js";
import { stageHost } from "../../src/deploy/steps.js";
import { COMPLETE_MARK } from "../../src/deploy/complete.js";
import type { PulledLayer, PullLayers } from "../../src/deploy/fetch.js";
import { releaseExtras } from "../../src/oci/image.js";
import { RegistryClient } from "../../src/oci/registry.js";
import { MEDIA } from "../../src/oci/spec.js";
import { ArtifactError } from "../../src/errors.js";
import { sha256 } from "../../src/util/hash.js";
import { mapLimit } from "../../src/util/pool.js";

const REPO = "team/hello";
const SEED = process.env["SLIPWAY_PULL_FAULT_SEED"] ?? "20261201";

let f: FleetApp;
let reg: Registry;
let signedConfig: string;
let sources: Sources;
/** The two builds the kill trials switch between (b3: new venv and new code), and the one every host runs. */
interface Build {
  id: string;
  artifact: string;
  venvKey: string;
}
let b1: Build;
let b3: Build;
let live: Build;

/** A host's app root as seen from this machine (each host's /srv is a directory here). */
const rootOf = (h: TestHost) => path.join(h.srv, path.relative("/srv", f.ws.root));
const cli = (args: string[], config?: string) => slipwayAsync([...args, ...(config ? ["--config", config] : [])], { cwd: f.ws.app, env: f.ws.env });
/** Seeded, stable numbers in [0, 1): the seed and a label alone decide them. */
const seeded = (label: string) => createHash("sha256").update(`${SEED}:${label}`).digest().readUInt32BE(0) / 2 ** 32;

/** What the registry answers for GET /v2/<repo>/<what> (status and body). */
async function registryGet(what: string): Promise<{ status: number; body: string }> {
  const r = await fetch(`http://${reg.addr}/v2/${REPO}/${what}`, { headers: { accept: MEDIA.manifest } });
  return { status: r.status, body: await r.text() };
}
const tags = async () => ((JSON.parse((await registryGet("tags/list")).body) as { tags?: string[] }).tags ?? []).sort();

before(async () => {
  f = await fleetApp(2);
  reg = await startRegistry(path.join(f.ws.dir, "registry"), { host: f.fleet.gateway });
  await appendFile(path.join(f.ws.app, "slipway.toml"), `\n[targets.fleet.source]\nregistry = "http://${reg.addr}/${REPO}"\n`);
  const { ws } = f;
  const first = await buildWith(ws, "b1");
  b1 = { id: "b1", artifact: first.result.artifact, venvKey: first.result.venv.key };
  live = b1;
  const d = slipway(["deploy", b1.artifact, "--target", "fleet"], { cwd: ws.app, env: ws.env });
  assert.equal(d.code, 0, d.stderr);

  ({ sources, signedConfig } = await corpusSources(ws));

  // What the kill trials deploy over b1: a new venv and new code, so the hosts pull both layers.
  await appendFile(path.join(ws.app, "requirements.txt"), "\nslipfix==1.1.0\n");
  await appendFile(path.join(ws.app, "hello/app.py"), "\n# b3\n");
  const built = await buildWith(ws, "b3");
  b3 = { id: "b3", artifact: built.result.artifact, venvKey: built.result.venv.key };
});
after(async () => {
  await reg?.stop();
  await f?.stop();
});

/** A seeded subset across the corpus's kinds (code-layer entries, signatures, the rest); SLIPWAY_PULL_CORPUS=all: every case. */
function pick(cases: HostileCase[]): HostileCase[] {
  if (process.env["SLIPWAY_PULL_CORPUS"] === "all") return cases;
  const kind = (c: HostileCase) => (c.expect.source.startsWith("layer code \\(code\\.tar\\.zst\\)") ? "entry" : c.signed ? "signed" : "structure");
  const quota: Record<string, number> = { entry: 5, signed: 3, structure: 4 };
  const shuffled = [...cases].sort((a, b) => seeded(a.name) - seeded(b.name));
  return shuffled.filter((c) => quota[kind(c)]! > 0 && quota[kind(c)]!-- > 0);
}

test("corpus in pull mode: every hostile case is refused (exit 3, named), no host changes, and the registry gets no manifest or blob of it", async () => {
  const all = await makeCorpus(sources, await tmpDir("slipway-pull-corpus"));
  const cases = pick(all);
  console.log(`pull corpus: seed ${SEED}, ${cases.length} of ${all.length} cases: ${cases.map((c) => c.name).join(", ")}`);
  const tagsBefore = await tags();
  assert.deepEqual(tagsBefore, ["b1"]);
  const requestsBefore = reg.requests().length;
  const hostsBefore = await Promise.all(f.hosts.map((h) => snapshotTree(rootOf(h))));
  const problems: string[] = [];
  await mapLimit(cases, 3, async (c) => {
    const out = await cli(["deploy", c.file, "--target", "fleet"], c.signed ? signedConfig : undefined);
    const text = out.stderr + out.stdout;
    console.log(`pull corpus: ${c.name}: exit ${out.code} in ${out.ms} ms`);
    if (out.code !== 3) problems.push(`${c.name}: exited ${out.code ?? out.signal}, not 3:\n${text.slice(-600)}`);
    else if (!c.expect.test(text)) problems.push(`${c.name}: did not say ${c.expect}:\n${text.slice(-600)}`);
    if (CRASH.test(text)) problems.push(`${c.name}: printed a stack trace:\n${text.slice(-600)}`);
  });
  assert.deepEqual(problems, [], problems.join("\n\n"));
  const hostsAfter = await Promise.all(f.hosts.map((h) => snapshotTree(rootOf(h))));
  for (const [i, h] of f.hosts.entries()) assert.deepEqual(hostsAfter[i], hostsBefore[i], `${h.name}'s root is as it was`);
  for (const h of f.hosts) assert.equal(await f.link(h, "current"), "releases/b1");

  // Nothing published: no tag, no manifest by any of the sources' build ids, no upload started.
  assert.deepEqual(await tags(), tagsBefore, "the registry holds no new tag");
  for (const id of ["h1", "s1", "s2", "o1"]) assert.equal((await registryGet(`manifests/${id}`)).status, 404, `no manifest tagged ${id}`);
  const during = reg.requests().slice(requestsBefore);
  assert.ok(during.length > 0, "the registry's log shows the deploys' reads (the check below is not vacuous)");
  const writes = during.filter((r) => r.method !== "GET" && r.method !== "HEAD");
  assert.deepEqual(writes, [], "no blob upload or manifest PUT for a refused artifact");
});

test("host side in pull mode: hostile layers in the registry under their true digest are refused by the host (exit 3), which stays as it was", async () => {
  const { config } = await loadConfig({ cwd: f.ws.app });
  const { target } = resolveTarget(config, "fleet");
  const h = f.hosts[0]!;
  const members = await readMembers(sources.unsigned);
  const manifest = JSON.parse(members[0]!.data.toString()) as Manifest;
  const codeEntries = await readLayer(members[1]!.data, "zstd");
  const venvEntries = await readLayer(members[2]!.data, "zstd");
  const client = new RegistryClient({ base: new URL(`http://${reg.addr}`), repo: REPO });
  const dir = await tmpDir("slipway-pull-bypass");
  const root = f.ws.root.replace(/^\/+/, "");

  /** Store a blob in the registry under its digest (sha256 hex returned), bypassing slipway's checks. */
  const putBlob = async (data: Buffer): Promise<string> => {
    const hex = sha256(data);
    const file = path.join(dir, hex);
    await writeFile(file, data);
    await client.uploadBlob(`sha256:${hex}`, data.length, file);
    return hex;
  };
  /** The entries under an image path, as an OCI layer has them (gzip). */
  const imageLayer = async (prefix: string, entries: LayerEntry[]) =>
    packLayer(
      entries.map((e) => ({ ...e, header: { ...e.header, name: `${prefix}/${e.header.name}` } })),
      "gzip",
    );
  const link = (name: string, linkname: string): LayerEntry => ({ header: { name, type: "symlink", linkname } });
  const bypasses: [string, "code" | "venv", LayerEntry[], RegExp][] = [
    [
      "symlink chain out of the release",
      "code",
      [...codeEntries, link("s", "."), link("x", "s/..")],
      /refused the code layer after unpacking it: a symlink in it resolves outside it/,
    ],
    ["absolute symlink into /etc", "code", [...codeEntries, link("etc", "/etc")], /a symlink in it resolves outside it, to \/etc/],
    ["a FIFO", "code", [...codeEntries, { header: { name: "fifo", type: "fifo" } }], /device node, FIFO, socket, setuid or setgid file/],
    ["a device node", "code", [...codeEntries, { header: { name: "null", type: "character-device", devmajor: 1, devminor: 3 } }], /device node/],
    [
      "a venv link to a shell",
      "venv",
      [...venvEntries, link("bin/evil", "/bin/sh")],
      /refused the venv layer after unpacking it: a symlink in it resolves outside it/,
    ],
  ];
  const before = await snapshotTree(rootOf(h), [".slipway"]);
  const sessions = openSessions([h.dest], target, () => {});
  try {
    for (const [i, [name, layer, entries, message]] of bypasses.entries()) {
      const m: Manifest = { ...manifest, build_id: `pbypass${i}`, env: { ...manifest.env, key: layer === "venv" ? `fedcba98765432${i}` : manifest.env.key } };
      const bytes = manifestBytes(m);
      const venvPrefix = `${root}/virtualenvs/${m.env.key}`;
      const codePrefix = `${root}/releases/${m.build_id}`;
      const venvBlob = layer === "venv" ? await imageLayer(venvPrefix, entries) : undefined;
      const codeBlob = await imageLayer(codePrefix, layer === "code" ? entries : codeEntries);
      const codeLayer: PulledLayer = {
        digest: await putBlob(codeBlob),
        size: codeBlob.length,
        prefix: codePrefix,
        exclude: releaseExtras(m, bytes, config).map((e) => e.name),
      };
      const venvLayer: PulledLayer = venvBlob
        ? { digest: await putBlob(venvBlob), size: venvBlob.length, prefix: venvPrefix, exclude: [`${venvPrefix}/${COMPLETE_MARK}`] }
        : codeLayer;
      // A manifest referencing it, tagged: the registry holds a whole (hostile) image.
      const cfg = Buffer.from(JSON.stringify({ architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: [] } }));
      const cfgHex = await putBlob(cfg);
      const ociLayers = [...(venvBlob ? [venvLayer] : []), codeLayer].map((l) => ({ mediaType: MEDIA.layerGzip, digest: `sha256:${l.digest}`, size: l.size }));
      await client.putManifest(
        m.build_id,
        MEDIA.manifest,
        Buffer.from(
          JSON.stringify({
            schemaVersion: 2,
            mediaType: MEDIA.manifest,
            config: { mediaType: MEDIA.config, digest: `sha256:${cfgHex}`, size: cfg.length },
            layers: ociLayers,
          }),
        ),
      );
      const pull: PullLayers = { source: { blobs: `http://${reg.addr}/v2/${REPO}/blobs/` }, venv: venvLayer, code: codeLayer };
      const plan = { host: h.dest, sendVenv: layer === "venv", releasePresent: false, bytes: 0, pull: true };
      const noLocalFiles = {
        code: "/nonexistent",
        venv: () => {
          throw new Error("pull mode reads no local layer");
        },
      };
      await assert.rejects(
        stageHost(sessions.get(h.dest)!, () => {}, m, sha256(bytes), { bytes }, noLocalFiles, plan, config.deploy.shared, "", pull),
        (err: unknown) => {
          assert.ok(err instanceof ArtifactError, `${name}: an ArtifactError (exit 3), got ${String(err)}`);
          assert.match(err.message, message, name);
          return true;
        },
      );
      const fetched = layer === "venv" ? venvLayer.digest : codeLayer.digest;
      assert.ok(
        reg.requests().some((r) => r.method === "GET" && r.uri.endsWith(`/blobs/sha256:${fetched}`) && r.status === 200),
        `${name}: the host fetched the hostile blob (it passed the digest check)`,
      );
      assert.deepEqual(await snapshotTree(rootOf(h), [".slipway"]), before, `${name}: releases, venvs and current are exactly as they were`);
      const left = readdirSync(path.join(rootOf(h), ".slipway", "incoming")).filter((n) => n.startsWith(`${m.build_id}-`) && n.includes(`${layer}.oci.tar`));
      assert.deepEqual(left, [], `${name}: the fetched layer is gone`);
    }
  } finally {
    await sessions.close();
  }
  assert.equal(await f.link(h, "current"), "releases/b1");
  assert.equal((await f.health(h))["build_id"], "b1");
});

/**
 * Every release a host has that carries the completion mark is whole (the mark agrees with its
 * slipway.json, its code and a complete venv are there); `current` is one of them and the app
 * answers with b1 or b3. Read from this machine, through the host's /srv.
 */
async function assertWhole(h: TestHost, context: string): Promise<string> {
  const root = rootOf(h);
  const venvComplete = (rel: string) => {
    const link = readlinkSync(path.join(root, rel, "virtualenv"));
    return existsSync(path.join(root, "virtualenvs", path.basename(link), COMPLETE_MARK));
  };
  for (const name of readdirSync(path.join(root, "releases"))) {
    const mark = path.join(root, "releases", name, COMPLETE_MARK);
    if (name.startsWith(".tmp-") || !existsSync(mark)) continue;
    const rel = `releases/${name}`;
    assert.equal(readFileSync(mark, "utf8").trim(), sha256(readFileSync(path.join(root, rel, "slipway.json"))), `${context}: ${h.name}: ${rel}'s mark`);
    assert.ok(existsSync(path.join(root, rel, "hello/app.py")), `${context}: ${h.name}: ${rel} is marked complete without its code`);
    assert.ok(venvComplete(rel), `${context}: ${h.name}: ${rel} is marked complete without a complete venv`);
  }
  const current = readlinkSync(path.join(root, "current"));
  assert.match(current, /^releases\/b[13]$/, `${context}: ${h.name}: current is ${current}`);
  assert.ok(existsSync(path.join(root, current, COMPLETE_MARK)), `${context}: ${h.name}: current (${current}) is not complete`);
  const served = (await f.health(h))["build_id"];
  assert.ok(served === "b1" || served === "b3", `${context}: ${h.name} serves ${String(served)}`);
  return current;
}

type Event = Record<string, unknown> & { at: number };

/** `slipway deploy <build> --json` in its own process group, SIGKILLed (the group) when `kill` says so; resolves with its events. */
async function killedDeploy(build: Build, kill: (e: Event) => boolean | number): Promise<{ events: Event[]; at: string }> {
  const child = spawn(process.execPath, [CLI, "deploy", build.artifact, "--target", "fleet", "--json"], {
    cwd: f.ws.app,
    env: f.ws.env,
    detached: true,
    stdio: ["ignore", "pipe", "ignore"],
  });
  const events: Event[] = [];
  let at = "";
  let timer: NodeJS.Timeout | undefined;
  const fire = (why: string) => {
    if (at) return;
    at = why;
    try {
      process.kill(-child.pid!, "SIGKILL");
    } catch {
      // the group is gone already
    }
  };
  const exited = new Promise<void>((resolve) => child.on("exit", () => resolve()));
  for await (const line of createInterface({ input: child.stdout! })) {
    const e = { ...(JSON.parse(line) as Record<string, unknown>), at: Date.now() } as Event;
    events.push(e);
    const verdict = kill(e);
    if (verdict === true) fire(`${String(e["host"] ?? "")} ${String(e["step"] ?? e["phase"] ?? e["type"])} ${String(e["status"] ?? "")}`.trim());
    else if (typeof verdict === "number" && !timer) timer = setTimeout(() => fire(`${verdict} ms into the pull`), verdict);
  }
  await exited;
  clearTimeout(timer);
  return { events, at };
}

/** The build the hosts do not run, with its release and venv removed from every host, so a deploy of it pulls both layers. */
async function fresh(): Promise<Build> {
  const next = live === b1 ? b3 : b1;
  for (const h of f.hosts) {
    await rm(path.join(rootOf(h), "releases", next.id), { recursive: true, force: true });
    await rm(path.join(rootOf(h), "virtualenvs", next.venvKey), { recursive: true, force: true });
  }
  return next;
}

/** Unlock, then the killed deploy again: it completes, and every host runs `build`. */
async function recover(build: Build, context: string): Promise<void> {
  assert.equal((await cli(["unlock", "--target", "fleet", "--yes", "--force"])).code, 0);
  const again = await cli(["deploy", build.artifact, "--target", "fleet"]);
  assert.equal(again.code, 0, `${context}: unlock + deploy completes: ${again.stderr}`);
  live = build;
  for (const h of f.hosts) assert.equal(await assertWhole(h, `${context}, redeployed`), `releases/${build.id}`);
  for (const h of f.hosts) assert.equal((await f.health(h))["build_id"], build.id);
}

/** What a killed run left on a host: the pulled build's release and venv, complete or not. */
const leftover = (h: TestHost, b: Build) => {
  const state = (dir: string) => (existsSync(path.join(dir, COMPLETE_MARK)) ? "complete" : existsSync(dir) ? "partial" : "absent");
  return `${h.name}: release ${state(path.join(rootOf(h), "releases", b.id))}, venv ${state(path.join(rootOf(h), "virtualenvs", b.venvKey))}`;
};

async function trial(name: string, kill: (e: Event) => boolean | number, mustKill = true): Promise<void> {
  const next = await fresh();
  const k = await killedDeploy(next, kill);
  if (mustKill) assert.ok(k.at, `${name}: the deployer was killed (it finished first)`);
  await new Promise((r) => setTimeout(r, 300)); // remote commands already running settle
  for (const h of f.hosts) await assertWhole(h, `${name} (killed at ${k.at || "the end"})`);
  console.log(`kill ${next.id} ${name}: at ${k.at || "(finished first)"}; ${f.hosts.map((h) => leftover(h, next)).join("; ")}`);
  await recover(next, name);
}

const pulling = (e: Event) => e["step"] === "venv" && e["status"] === "start";

// In order: the first trial deploys b3, whose blobs the registry does not have yet (later ones find them there).
const BOUNDARIES: [string, (e: Event) => boolean][] = [
  [
    "while the venv layer is pushed to the registry",
    (e) => e["type"] === "transfer" && e["layer"] === "venv" && e["host"] === reg.addr && Number(e["sent"]) > 0,
  ],
  ["after verify", (e) => e["phase"] === "verify" && e["status"] === "done"],
  ["after the image manifest is in the registry", (e) => e["type"] === "transfer" && e["layer"] === "manifest" && e["host"] === reg.addr],
  ["after preflight", (e) => e["step"] === "preflight" && e["status"] === "done"],
  ["after the first lock (and clean)", (e) => e["step"] === "lock" && e["status"] === "done"],
  ["as the first host starts pulling the venv", pulling],
  ["after a venv is pulled and unpacked", (e) => e["step"] === "venv" && e["status"] === "done"],
  ["as a host starts pulling the code layer", (e) => e["step"] === "stage" && e["status"] === "start"],
  ["after a release is staged", (e) => e["step"] === "stage" && e["status"] === "done"],
  ["at the first switch", (e) => e["step"] === "switch" && e["status"] === "start"],
  ["after the first switch", (e) => e["step"] === "switch" && e["status"] === "done"],
  ["after the first restart", (e) => e["step"] === "restart" && e["status"] === "done"],
  ["at finish (record, prune, unlock)", (e) => e["step"] === "finish" && e["status"] === "start"],
];

test("pull: SIGKILL at each step boundary leaves current complete and serving; unlock + deploy completes", async () => {
  for (const [name, when] of BOUNDARIES) await trial(name, (e) => when(e));
});

test("pull: SIGKILL at 8 seeded points while the hosts curl and unpack", async () => {
  // Time the pull once (first venv pull started → last release staged), then kill inside that window.
  const probed = await fresh();
  const probe = await killedDeploy(probed, () => false);
  live = probed;
  const times = (pred: (e: Event) => boolean) => probe.events.filter(pred).map((e) => e.at);
  const start = Math.min(...times(pulling));
  const end = Math.max(...times((e) => e["step"] === "stage" && e["status"] === "done"));
  assert.ok(Number.isFinite(start) && end > start, "the pull was observed");
  console.log(`pull kill points: seed ${SEED} (SLIPWAY_PULL_FAULT_SEED), window ${end - start} ms`);
  for (let i = 0; i < 8; i++) {
    const ms = Math.floor(seeded(`kill ${i}`) * (end - start));
    // A kill that lands after the deploy finished is no kill: such a point is only checked, not required.
    await trial(`seeded point #${i + 1} (${ms} ms)`, (e) => (pulling(e) ? ms : false), false);
  }
});
