import { test } from "node:test";
import assert from "node:assert/strict";
import { batchesOf, incompatibilities, planDeploy, summarize } from "../../src/deploy/plan.js";
import { parseProbe, buildIdOfLink, type HostState } from "../../src/deploy/probe.js";
import { parseListing, planPrune, removeItems, type HostListing } from "../../src/deploy/prune.js";
import { countPending } from "../../src/deploy/steps.js";
import { parseConfig } from "../../src/config/load.js";
import type { Manifest } from "../../src/artifact/manifest.js";

const py = {
  executable: "/usr/bin/python3.11",
  implementation: "cpython",
  version: "3.11.2",
  abi: "cpython-311-x86_64-linux-gnu",
  platform: "linux-x86_64/glibc-2.36",
};
const manifest: Manifest = {
  format: 1,
  app: "shop",
  build_id: "42",
  created_at: "2026-11-26T00:00:00.000Z",
  git: null,
  root: "/srv/shop",
  env: { key: "0123456789abcdef", python: { ...py, configured: "/usr/bin/python3" }, inputs: [] },
  layers: [
    { name: "code", member: "code.tar.zst", compression: "zstd", sha256: "a".repeat(64), size: 10_000, unpacked_size: 40_000, files: 10 },
    { name: "venv", member: "venv.tar.zst", compression: "zstd", sha256: "b".repeat(64), size: 20_000_000, unpacked_size: 80_000_000, files: 3000 },
  ],
  builder: { slipway_version: "0.1.0", hostname: "ci" },
};
const state = (over: Partial<HostState> = {}): HostState => ({
  python: py,
  rootExists: true,
  rootWritable: true,
  freeKb: 10_000_000,
  tools: { tar: true, zstd: true, gzip: true, sha256sum: true, teeP: true },
  venvPresent: false,
  lock: { state: "free" },
  listing: { releases: [], venvs: [], freeKb: 10_000_000 },
  ...over,
});
const config = parseConfig(
  `[app]\nname="shop"\nroot="/srv/shop"\n[targets.prod]\nhosts=["a","b","c","d","e"]\nbatch="40%"\nrestart={manager="none"}\n`,
  "slipway.toml",
);

test("batchesOf: counts and percentages (rounded up, at least one host)", () => {
  const h = ["a", "b", "c", "d", "e"];
  assert.deepEqual(batchesOf(h, 2), [["a", "b"], ["c", "d"], ["e"]]);
  assert.deepEqual(batchesOf(h, "40%"), [["a", "b"], ["c", "d"], ["e"]]);
  assert.deepEqual(batchesOf(h, "1%"), [["a"], ["b"], ["c"], ["d"], ["e"]]);
  assert.deepEqual(batchesOf(h, "100%"), [h]);
  assert.deepEqual(
    batchesOf(h.concat(Array.from({ length: 7 }, (_, i) => `x${i}`)), "25%").map((b) => b.length),
    [3, 3, 3, 3],
  );
});

test("planDeploy: a host with the venv gets only the code layer; one with the release gets nothing", () => {
  const states = new Map([
    ["a", state()],
    ["b", state({ venvPresent: true, current: "41" })],
    ["c", state({ venvPresent: true, releaseManifestSha: "f".repeat(64) })],
    ["d", state()],
    ["e", state()],
  ]);
  const plan = planDeploy(config, "prod", config.targets["prod"]!, ["a", "b", "c", "d", "e"], manifest, states, "40%");
  const by = new Map(plan.hosts.map((h) => [h.host, h]));
  assert.equal(by.get("a")!.sendVenv, true);
  assert.equal(by.get("a")!.bytes, 20_010_000);
  assert.equal(by.get("b")!.sendVenv, false);
  assert.equal(by.get("b")!.bytes, 10_000);
  assert.equal(by.get("b")!.current, "41");
  assert.equal(by.get("c")!.releasePresent, true);
  assert.equal(by.get("c")!.bytes, 0);
  assert.deepEqual(plan.batches, [["a", "b"], ["c", "d"], ["e"]]);
  const s = summarize(plan);
  assert.deepEqual(s.hosts.find((h) => h.host === "b")!.send, ["manifest", "code"]);
  assert.ok(s.steps.includes("switch") && s.steps[0] === "lock" && s.steps.at(-1) === "unlock");
});

test("incompatibilities: each difference is named, nothing for a matching host", () => {
  const hp = { sendVenv: true, releasePresent: false, bytes: 0 };
  assert.deepEqual(incompatibilities(manifest, "s", state(), hp), []);
  const diff = (over: Partial<HostState>) => incompatibilities(manifest, "s", state(over), hp).join("\n");
  assert.match(diff({ python: undefined }), /interpreter \/usr\/bin\/python3 is missing/);
  assert.match(diff({ python: { ...py, version: "3.11.7" } }), /version is 3\.11\.7, the artifact was built with 3\.11\.2/);
  assert.match(diff({ python: { ...py, abi: "cpython-312-x86_64-linux-gnu" } }), /abi is cpython-312/);
  assert.match(diff({ python: { ...py, platform: "linux-aarch64/glibc-2.36" } }), /platform is linux-aarch64/);
  // The interpreter file this key's venv was checked against, unchanged: nothing to compare; without that venv, it must answer.
  assert.deepEqual(incompatibilities(manifest, "s", state({ python: undefined, pythonUnchanged: true, venvPresent: true }), hp), []);
  assert.match(diff({ python: undefined, pythonUnchanged: true, venvPresent: false }), /interpreter \/usr\/bin\/python3 is missing/);
  assert.match(diff({ rootWritable: false }), /\/srv\/shop is not writable/);
  assert.match(diff({ tools: { tar: true, zstd: false, gzip: true, sha256sum: true, teeP: true } }), /zstd is not installed/);
  const noTeeP = { tools: { tar: true, zstd: true, gzip: true, sha256sum: true, teeP: false } };
  assert.match(diff(noTeeP), /tee cannot write to \/dev\/fd\/N with -p \(GNU coreutils 8\.24 or later/);
  assert.deepEqual(incompatibilities(manifest, "s", state(noTeeP), { ...hp, sendVenv: false }), [], "only a host that gets the venv needs it");
  assert.match(diff({ freeKb: 1000 }), /needs \d+ KiB free under \/srv\/shop, has 1000 KiB/);
  assert.match(diff({ releaseManifestSha: "x" }), /release 42 already exists with different contents/);
  assert.deepEqual(incompatibilities(manifest, "x", state({ releaseManifestSha: "x" }), { ...hp, releasePresent: true, sendVenv: false }), []);
});

test("parseProbe reads the probe's key=value lines", () => {
  const s = parseProbe(
    [
      "slipway-probe=1",
      `python=${JSON.stringify(py)}`,
      "root_exists=1",
      "root_writable=1",
      "free_kb=123456",
      "tool_tar=1",
      "tool_zstd=1",
      "tool_sha256sum=1",
      "tool_tee_p=1",
      "venv_present=1",
      `release_sha=${"c".repeat(64)}`,
      "current=releases/41",
      "previous=releases/40",
    ].join("\n"),
  );
  assert.deepEqual(s.python, py);
  assert.equal(s.freeKb, 123456);
  assert.deepEqual(s.tools, { tar: true, zstd: true, gzip: false, sha256sum: true, teeP: true });
  assert.equal(s.venvPresent, true);
  assert.equal(s.current, "41");
  assert.equal(s.previous, "40");
  assert.throws(() => parseProbe("garbage"));
  assert.equal(parseProbe("slipway-probe=1\npython=not json").python, undefined);
  assert.equal(parseProbe("slipway-probe=1\nvenv_present=1\npython_unchanged=1").pythonUnchanged, true);
  assert.equal(parseProbe("slipway-probe=1\npython_unchanged=1").pythonUnchanged, false, "only with the venv it was checked for");
  assert.equal(buildIdOfLink("/srv/a/releases/7/"), "7");
});

const listing = (over: Partial<HostListing> = {}): HostListing => ({
  releases: [
    { id: "r6", mtime: 600, kb: 1, venv: "bbbbbbbbbbbbbbbb" },
    { id: "r5", mtime: 500, kb: 1, venv: "bbbbbbbbbbbbbbbb" },
    { id: "r4", mtime: 400, kb: 1, venv: "aaaaaaaaaaaaaaaa" },
    { id: "r3", mtime: 300, kb: 1, venv: "aaaaaaaaaaaaaaaa" },
    { id: "r2", mtime: 200, kb: 1, venv: "9999999999999999" },
    { id: "r1", mtime: 100, kb: 1, venv: "8888888888888888" },
  ],
  venvs: ["bbbbbbbbbbbbbbbb", "aaaaaaaaaaaaaaaa", "9999999999999999", "8888888888888888"].map((key) => ({ key, kb: 1, complete: true })),
  current: "r6",
  previous: "r5",
  freeKb: 1,
  ...over,
});

test("planPrune: keeps the newest N plus current and previous; removes venvs no kept release uses", () => {
  assert.deepEqual(planPrune(listing(), 3), {
    keep: ["r6", "r5", "r4"],
    removeReleases: ["r3", "r2", "r1"],
    removeVenvs: ["9999999999999999", "8888888888888888"],
  });
  const rolledBack = planPrune(listing({ current: "r1", previous: "r6" }), 2);
  assert.deepEqual(rolledBack.keep, ["r6", "r5", "r1"], "current is never removed, however old");
  assert.deepEqual(rolledBack.removeVenvs, ["aaaaaaaaaaaaaaaa", "9999999999999999"]);
  assert.deepEqual(planPrune(listing(), 10).removeReleases, []);
  const weird = planPrune(listing({ releases: [...listing().releases, { id: "..", mtime: 1, kb: 1 }], venvs: [{ key: "../etc", kb: 1, complete: true }] }), 1);
  assert.ok(!weird.removeReleases.includes("..") && weird.removeVenvs.length === 0, "only valid names are ever removed");
  assert.equal(removeItems("/srv/x", { keep: ["a"], removeReleases: [], removeVenvs: [] }), undefined);
  assert.deepEqual(removeItems("/srv/x", { keep: [], removeReleases: ["r1"], removeVenvs: ["8888888888888888"] })!.slice(-3), [
    "/srv/x",
    "r:r1",
    "v:8888888888888888",
  ]);
});

test("parseListing: newest first; current/previous as build ids; temporary dirs not listed", () => {
  const l = parseListing(
    [
      "current=releases/b2",
      "previous=releases/b1",
      "free_kb=99",
      "stat=100 releases/b1/",
      "stat=200 releases/b2/",
      "stat=300 releases/.tmp-b3-77/",
      "link=releases/b1 /srv/x/virtualenvs/aaaaaaaaaaaaaaaa",
      "link=releases/b2 /srv/x/virtualenvs/bbbbbbbbbbbbbbbb",
      "link=releases/.tmp-b3-77 /srv/x/virtualenvs/cccccccccccccccc",
      "stat=90 virtualenvs/aaaaaaaaaaaaaaaa/",
      "stat=190 virtualenvs/bbbbbbbbbbbbbbbb/",
      "stat=91 virtualenvs/aaaaaaaaaaaaaaaa/.slipway-complete",
      "kb=12 releases/b1/",
      "kb=500 virtualenvs/aaaaaaaaaaaaaaaa/",
      "",
    ].join("\n"),
  );
  assert.deepEqual(l.releases, [
    { id: "b2", mtime: 200, kb: 0, venv: "bbbbbbbbbbbbbbbb" },
    { id: "b1", mtime: 100, kb: 12, venv: "aaaaaaaaaaaaaaaa" },
  ]);
  assert.deepEqual(l.venvs, [
    { key: "aaaaaaaaaaaaaaaa", kb: 500, complete: true },
    { key: "bbbbbbbbbbbbbbbb", kb: 0, complete: false },
  ]);
  assert.equal(l.current, "b2");
  assert.equal(l.previous, "b1");
  assert.equal(l.freeKb, 99);
});

test("countPending: Django showmigrations lines with [ ]", () => {
  assert.equal(countPending("[X] 0001_initial\n[ ] 0002_add\n[ ] 0003_more\n"), 2);
  assert.equal(countPending("admin\n [X] 0001_initial\n [ ] 0002_logentry\n"), 1);
  assert.equal(countPending("No migrations\n"), 0);
});

test("listingAfterSwitch: the new release is newest and current, the old current is previous; prune plans on it", async () => {
  const { listingAfterSwitch } = await import("../../src/deploy/finish.js");
  const after = listingAfterSwitch(listing(), "r7", "cccccccccccccccc");
  assert.equal(after.current, "r7");
  assert.equal(after.previous, "r6");
  assert.equal(after.releases[0]!.id, "r7");
  assert.ok(after.venvs.some((v) => v.key === "cccccccccccccccc"));
  const plan = planPrune(after, 2);
  assert.deepEqual(plan.keep, ["r7", "r6"]);
  assert.deepEqual(plan.removeVenvs, ["aaaaaaaaaaaaaaaa", "9999999999999999", "8888888888888888"], "r6 (previous) still uses bbbb…; the new venv is kept");
  const redeploy = listingAfterSwitch(listing(), "r6", "bbbbbbbbbbbbbbbb");
  assert.equal(redeploy.previous, "r5", "re-deploying the current release keeps previous");
  assert.equal(redeploy.releases.filter((r) => r.id === "r6").length, 1);
});

test("finishHost: history line appended, prune items removed, our lock released — one script", async () => {
  const { finishHost } = await import("../../src/deploy/finish.js");
  const { acquireLock } = await import("../../src/deploy/lock.js");
  const { shJoin } = await import("../../src/transport/quote.js");
  const { spawnSync } = await import("node:child_process");
  const { mkdtemp, mkdir, readFile } = await import("node:fs/promises");
  const { existsSync } = await import("node:fs");
  const root = await mkdtemp("/tmp/slw-finish-");
  await mkdir(`${root}/releases/old`, { recursive: true });
  await mkdir(`${root}/releases/keep`, { recursive: true });
  await mkdir(`${root}/virtualenvs/8888888888888888`, { recursive: true });
  const sh = (argv: string[]) => spawnSync("sh", ["-c", shJoin(argv)], { encoding: "utf8" });
  const info = { token: "tok", user: "u", from: "f", action: "deploy", target: "t", since: "s", pid: 1 };
  assert.match(sh(acquireLock(root, info, true)).stdout, /^acquired/);
  assert.ok(existsSync(`${root}/.slipway/incoming`), "clean ran with the lock");
  const r = sh(finishHost(root, JSON.stringify({ a: "it's" }), "tok", ["r:old", "v:8888888888888888"]));
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /released/);
  assert.deepEqual(JSON.parse((await readFile(`${root}/.slipway/history.jsonl`, "utf8")).trim()), { a: "it's" });
  assert.ok(!existsSync(`${root}/releases/old`) && existsSync(`${root}/releases/keep`));
  assert.ok(!existsSync(`${root}/virtualenvs/8888888888888888`));
  assert.ok(!existsSync(`${root}/.slipway/lock`));
});
