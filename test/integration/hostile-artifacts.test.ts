import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { createReadStream } from "node:fs";
import { readFile, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { fleetApp, type FleetApp } from "../support/fleet-app.js";
import { buildWith } from "../support/build-app.js";
import { slipway } from "../support/cli.js";
import { CRASH, slipwayAsync, type CliOutcome } from "../support/cli-async.js";
import { makeCorpus, type HostileCase, type Sources } from "../support/hostile-corpus.js";
import { corpusSources } from "../support/corpus-sources.js";
import {
  compress,
  decompress,
  manifestBytes,
  packLayer,
  readLayer,
  readMembers,
  rehash,
  totals,
  writeMembers,
  type LayerEntry,
} from "../support/artifact-edit.js";
import { tmpDir } from "../support/tmp.js";
import type { TestHost } from "../support/fleet.js";
import type { Manifest } from "../../src/artifact/manifest.js";
import { loadConfig } from "../../src/config/load.js";
import { resolveTarget } from "../../src/deploy/target.js";
import { openSessions } from "../../src/deploy/connect.js";
import { stageHost } from "../../src/deploy/steps.js";
import { HOST_CHECK } from "../../src/deploy/host-check.js";
import { ArtifactError } from "../../src/errors.js";
import { sha256 } from "../../src/util/hash.js";
import { mapLimit } from "../../src/util/pool.js";

/*
 * Hostile and broken artifacts (issue 5), through the built CLI and a real host over ssh:
 * a generated corpus in which every case is refused (exit 3, a message naming the problem,
 * no stack trace) by `inspect --verify` and by `deploy`, and a seeded fuzz run; after each,
 * the host's <root> must be byte-for-byte what it was. Then layers that bypass the deployer's
 * checks, to show the host's own check refuses them too.
 */

let f: FleetApp;
let h: TestHost;
let corpusDir: string;
let signedConfig: string;
let deployed: string; // the artifact of the release the host runs (build b1)
let sources: Sources;

/** Every entry under <root> with type, mode, size, mtime and link target, then every file's sha256. */
const snapshot = (host: TestHost, opts: { withMtimes?: boolean; skipState?: boolean } = {}) =>
  host.exec([
    "sh",
    "-c",
    `
    cd "$1" || exit 1
    prune=; [ "$3" = 1 ] && prune="-path ./.slipway -prune -o"
    find . $prune -printf "%y %m %s $2 %p -> %l\\n" | LC_ALL=C sort
    find . $prune -type f -exec sha256sum {} + | LC_ALL=C sort`,
    "sh",
    f.ws.root,
    opts.withMtimes === false ? "" : "%T@",
    opts.skipState ? "1" : "0",
  ]);

/** Lines only in `a` (-) or only in `b` (+): what changed between two snapshots. */
function changes(a: string, b: string): string {
  const A = new Set(a.split("\n"));
  const B = new Set(b.split("\n"));
  return [...[...A].filter((l) => !B.has(l)).map((l) => `- ${l}`), ...[...B].filter((l) => !A.has(l)).map((l) => `+ ${l}`)].slice(0, 20).join("\n");
}

before(async () => {
  f = await fleetApp(1);
  h = f.hosts[0]!;
  const { ws } = f;
  const b1 = await buildWith(ws, "b1");
  deployed = b1.result.artifact;
  const d = slipway(["deploy", deployed, "--target", "fleet"], { cwd: ws.app, env: ws.env });
  assert.equal(d.code, 0, d.stderr);

  ({ sources, signedConfig } = await corpusSources(ws));
  corpusDir = await tmpDir("slipway-corpus");
});
after(async () => {
  await f?.stop();
});

interface Verdict {
  name: string;
  inspect: CliOutcome;
  deploy: CliOutcome;
  changed: string;
}

/** Both commands on one artifact; `signed` cases use the config that requires the release key. */
async function judge(c: Pick<HostileCase, "file" | "signed">): Promise<{ inspect: CliOutcome; deploy: CliOutcome }> {
  const { ws } = f;
  const cwd = c.signed ? path.dirname(signedConfig) : ws.app;
  const inspect = await slipwayAsync(["inspect", c.file, "--verify"], { cwd, env: ws.env });
  const config = c.signed ? ["--config", signedConfig] : [];
  const deploy = await slipwayAsync(["deploy", c.file, "--target", "fleet", ...config], { cwd: ws.app, env: ws.env });
  return { inspect, deploy };
}

test("corpus: every hostile or broken artifact is refused by inspect --verify and by deploy over ssh (exit 3, named), and the host is unchanged", async () => {
  const cases = await makeCorpus(sources, corpusDir);
  assert.ok(cases.length >= 30, `${cases.length} cases`);
  assert.equal(new Set(cases.map((c) => c.name)).size, cases.length, "case names are unique");
  const before = await snapshot(h);
  const verdicts = await mapLimit(cases, 2, async (c): Promise<Verdict> => {
    const { inspect, deploy } = await judge(c);
    const now = await snapshot(h);
    return { name: c.name, inspect, deploy, changed: now === before ? "" : changes(before, now) };
  });

  const problems: string[] = [];
  for (const [i, v] of verdicts.entries()) {
    const c = cases[i]!;
    for (const [cmd, out] of [
      ["inspect --verify", v.inspect],
      ["deploy", v.deploy],
    ] as const) {
      const text = out.stderr + out.stdout;
      if (out.code !== 3) problems.push(`${c.name}: ${cmd} exited ${out.code}, not 3:\n${text.slice(-600)}`);
      else if (!c.expect.test(text)) problems.push(`${c.name}: ${cmd} did not say ${c.expect}:\n${text.slice(-600)}`);
      if (CRASH.test(text)) problems.push(`${c.name}: ${cmd} printed a stack trace:\n${text.slice(-600)}`);
      if (!/^error: /m.test(out.stderr) || !/^hint: /m.test(out.stderr)) problems.push(`${c.name}: ${cmd} gave no error + hint:\n${out.stderr.slice(-400)}`);
    }
    if (v.changed) problems.push(`${c.name}: the host's root changed:\n${v.changed}`);
  }
  console.log(`corpus: ${cases.length} cases, ${cases.length * 2} CLI runs; slowest deploy ${Math.max(...verdicts.map((v) => v.deploy.ms))} ms`);
  assert.deepEqual(problems, [], problems.join("\n\n"));
  assert.equal(await snapshot(h), before, "the host's root is byte-for-byte as it was");
});

test("host side: layers that get past the deployer's checks are refused on the host (exit 3) and leave it as it was", async () => {
  const { ws } = f;
  const { config } = await loadConfig({ cwd: ws.app });
  const { target } = resolveTarget(config, "fleet");
  const members = await readMembers(sources.unsigned);
  const manifest = JSON.parse(members[0]!.data.toString()) as Manifest;
  const codeEntries = await readLayer(members[1]!.data, "zstd");
  const venvEntries = await readLayer(members[2]!.data, "zstd");
  // Unpacking into a temp dir and removing it again moves the parent dirs' mtimes; everything else stays.
  const before = await snapshot(h, { skipState: true, withMtimes: false });
  const sessions = openSessions([h.dest], target, () => {});
  const link = (name: string, linkname: string): LayerEntry => ({ header: { name, type: "symlink", linkname } });
  const bypasses: [string, "code" | "venv", LayerEntry[], RegExp][] = [
    [
      "symlink chain out of the release",
      "code",
      [...codeEntries, link("s", "."), link("x", "s/..")],
      /refused the code layer after unpacking it: a symlink in it resolves outside it, to .*\/releases/,
    ],
    ["absolute symlink into /etc", "code", [...codeEntries, link("etc", "/etc")], /a symlink in it resolves outside it, to \/etc/],
    ["a FIFO", "code", [...codeEntries, { header: { name: "fifo", type: "fifo" } }], /device node, FIFO, socket, setuid or setgid file/],
    ["a device node", "code", [...codeEntries, { header: { name: "null", type: "character-device", devmajor: 1, devminor: 3 } }], /device node/],
    [
      "its own slipway.json",
      "code",
      [...codeEntries, { header: { name: "slipway.json", type: "file" }, data: Buffer.from("{}") }],
      /it has slipway\.json, which the host creates itself/,
    ],
    ["a .. member", "code", [...codeEntries, { header: { name: "../../evil", type: "file" }, data: Buffer.from("x") }], /tar refused it/],
    [
      "a venv link to a shell",
      "venv",
      [...venvEntries, link("bin/evil", "/bin/sh")],
      /refused the venv layer after unpacking it: a symlink in it resolves outside it/,
    ],
  ];
  try {
    for (const [i, [name, layer, entries, message]] of bypasses.entries()) {
      const dir = await tmpDir("slipway-bypass");
      const data = await packLayer(entries, "zstd");
      const m = rehash(
        { ...manifest, build_id: `bypass${i}`, env: { ...manifest.env, key: layer === "venv" ? "fedcba987654321" + i : manifest.env.key } },
        layer,
        data,
        totals(entries),
      );
      const bytes = manifestBytes(m);
      await writeFile(path.join(dir, "slipway.json"), bytes);
      await writeFile(path.join(dir, "code.tar.zst"), layer === "code" ? data : members[1]!.data);
      await writeFile(path.join(dir, "venv.tar.zst"), layer === "venv" ? data : members[2]!.data);
      const plan = { host: h.dest, sendVenv: layer === "venv", releasePresent: false, bytes: 0 };
      await assert.rejects(
        stageHost(
          sessions.get(h.dest),
          () => {},
          m,
          sha256(bytes),
          { bytes },
          { code: path.join(dir, "code.tar.zst"), venv: () => createReadStream(path.join(dir, "venv.tar.zst")) },
          plan,
          config.deploy.shared,
        ),
        (err: unknown) => {
          assert.ok(err instanceof ArtifactError, `${name}: an ArtifactError (exit 3), got ${String(err)}`);
          assert.match(err.message, message, name);
          return true;
        },
      );
      const now = await snapshot(h, { skipState: true, withMtimes: false });
      assert.ok(now === before, `${name}: releases, venvs and current must be exactly as they were:\n${changes(before, now)}`);
      // The refused layer goes (with a code layer, its manifest too); what came along with a refused venv waits for the next deploy's clean step.
      const left = (await h.exec(["sh", "-c", 'ls -A "$1/.slipway/incoming"', "sh", ws.root])).trim().split("\n").filter(Boolean);
      assert.deepEqual(
        left.filter((n) => n.includes(`-${layer}.tar`) || (layer === "code" && n.endsWith("slipway.json"))),
        [],
        `${name}: the received files are gone too`,
      );
    }
  } finally {
    await sessions.close();
  }
});

test("host check cost on the example app's venv (it runs on every deploy)", async (t) => {
  const { ws } = f;
  const m = JSON.parse((await readMembers(deployed))[0]!.data.toString()) as Manifest;
  const venvDir = `${ws.root}/virtualenvs/${m.env.key}`;
  const runs = 30;
  const out = await h.exec([
    "sh",
    "-c",
    `${HOST_CHECK}
    set -e
    file=/nonexistent
    n=$(find "$1" | wc -l)
    t0=$(date +%s%N)
    i=0; while [ $i -lt "$4" ]; do check_tree "$1" venv "$2" "$3"; i=$((i + 1)); done
    t1=$(date +%s%N)
    i=0; while [ $i -lt "$4" ]; do find "$1" >/dev/null; i=$((i + 1)); done
    t2=$(date +%s%N)
    echo "$n $(( (t1 - t0) / $4 / 1000 )) $(( (t2 - t1) / $4 / 1000 ))"`,
    "sh",
    venvDir,
    m.env.python.configured,
    m.env.python.executable,
    String(runs),
  ]);
  const [entries, checkUs, findUs] = out.trim().split(" ").map(Number) as [number, number, number];
  const line = `host check: ${(checkUs / 1000).toFixed(1)} ms per run on ${entries} entries (a bare \`find\` of the same tree: ${(findUs / 1000).toFixed(1)} ms)`;
  t.diagnostic(line);
  console.log(line);
  assert.ok(entries > 1500, "the example venv");
  assert.ok(checkUs < 250_000, line);
});

/** mulberry32: a small seeded PRNG, so a failing fuzz run can be replayed with FUZZ_SEED. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

test("fuzz: seeded byte flips and truncations never crash the CLI or change the host", async () => {
  const seed = Number(process.env["FUZZ_SEED"] ?? Math.floor(Math.random() * 2 ** 31));
  const count = Number(process.env["FUZZ_CASES"] ?? 300);
  const budgetMs = Number(process.env["FUZZ_BUDGET_MS"] ?? 300_000);
  console.log(`fuzz: seed ${seed} (replay with FUZZ_SEED=${seed}), ${count} cases`);
  const rand = prng(seed);
  const { ws } = f;
  const base = await readFile(deployed);
  const members = await readMembers(deployed);
  const manifest = JSON.parse(members[0]!.data.toString()) as Manifest;
  const code = members[1]!.data;
  const codeTar = await decompress(code, "zstd");
  const venvStart = 3 * 512 + Math.ceil(members[0]!.data.length / 512) * 512 + Math.ceil(code.length / 512) * 512;
  const dir = await tmpDir("slipway-fuzz");
  const before = await snapshot(h);
  const content = await snapshot(h, { withMtimes: false, skipState: true });

  type Kind = "flip-anywhere" | "flip-head" | "truncate" | "flip-code-rehashed" | "flip-code-tar-rehashed";
  const kinds: [Kind, number][] = [
    ["flip-anywhere", 0.35],
    ["flip-head", 0.2],
    ["truncate", 0.15],
    ["flip-code-rehashed", 0.15],
    ["flip-code-tar-rehashed", 0.15],
  ];
  const pick = (): Kind => {
    let r = rand();
    for (const [k, p] of kinds) if ((r -= p) < 0) return k;
    return "flip-anywhere";
  };
  // Every case is drawn up front (the seed alone decides them); files are made when run.
  const plans = Array.from({ length: count }, (_, i) => ({ i, kind: pick(), r: Array.from({ length: 8 }, () => rand()), deploy: rand() < 0.12 }));

  const t0 = performance.now();
  const stats = { rejected: 0, accepted: 0, deploys: 0, byKind: {} as Record<string, number> };
  const problems: string[] = [];
  const accepted: { i: number; kind: Kind; file: string }[] = [];
  let ran = 0;
  await mapLimit(plans, 2, async (p) => {
    if (performance.now() - t0 > budgetMs) return;
    const file = path.join(dir, `fuzz-${p.i}.tar`);
    const local = prng(Math.floor(p.r[0]! * 2 ** 31));
    const li = (n: number) => Math.floor(local() * n);
    const lflip = (buf: Buffer, from: number, to: number) => {
      for (let n = 1 + li(3); n > 0; n--) buf[from + li(to - from)]! ^= 1 + li(255);
    };
    if (p.kind === "flip-anywhere" || p.kind === "flip-head" || p.kind === "truncate") {
      const bytes = Buffer.from(base);
      if (p.kind === "flip-anywhere") lflip(bytes, 0, bytes.length);
      if (p.kind === "flip-head") lflip(bytes, 0, venvStart);
      await writeFile(file, p.kind === "truncate" ? bytes.subarray(0, li(bytes.length)) : bytes);
    } else {
      let layer: Buffer;
      if (p.kind === "flip-code-rehashed") {
        layer = Buffer.from(code);
        lflip(layer, 0, layer.length);
      } else {
        const t = Buffer.from(codeTar);
        lflip(t, 0, t.length);
        layer = await compress(t, "zstd");
      }
      await writeMembers(file, [
        { name: "slipway.json", data: manifestBytes(rehash(manifest, "code", layer)) },
        { name: "code.tar.zst", data: layer },
        members[2]!,
      ]);
    }
    const inspect = await slipwayAsync(["inspect", file, "--verify"], { cwd: ws.app, env: ws.env, timeoutMs: 60_000 });
    stats.byKind[p.kind] = (stats.byKind[p.kind] ?? 0) + 1;
    ran++;
    const say = (what: string, out: CliOutcome) =>
      problems.push(`case ${p.i} (${p.kind}, seed ${seed}): ${what}: exit ${out.code ?? out.signal}\n${(out.stderr + out.stdout).slice(-500)}`);
    if (inspect.code !== 0 && inspect.code !== 3) say("inspect --verify exited other than 0 or 3", inspect);
    if (CRASH.test(inspect.stderr + inspect.stdout)) say("inspect --verify crashed", inspect);
    if (inspect.code === 0) {
      // Deployed after the others, one at a time: such a deploy may legitimately touch .slipway.
      stats.accepted++;
      accepted.push({ i: p.i, kind: p.kind, file });
      return;
    }
    stats.rejected++;
    if (p.deploy) {
      stats.deploys++;
      const deploy = await slipwayAsync(["deploy", file, "--target", "fleet"], { cwd: ws.app, env: ws.env, timeoutMs: 120_000 });
      if (CRASH.test(deploy.stderr + deploy.stdout)) say("deploy crashed", deploy);
      if (deploy.code !== 3) say("inspect refused it but deploy did not (exit 3)", deploy);
      const now = await snapshot(h);
      if (now !== before) say(`a refused deploy changed the host:\n${changes(before, now)}`, deploy);
    }
    await rm(file, { force: true });
  });
  // What nothing checks (padding, say) leaves the artifact b1 as it was: deploying it again must
  // go through or be refused cleanly, and leave the releases and venvs as they were.
  for (const a of accepted) {
    stats.deploys++;
    const deploy = await slipwayAsync(["deploy", a.file, "--target", "fleet"], { cwd: ws.app, env: ws.env, timeoutMs: 120_000 });
    const where = `case ${a.i} (${a.kind}, seed ${seed}), accepted by inspect`;
    if (CRASH.test(deploy.stderr + deploy.stdout) || (deploy.code !== 0 && deploy.code !== 3))
      problems.push(`${where}: deploy exited ${deploy.code}\n${deploy.stderr.slice(-500)}`);
    const now = await snapshot(h, { withMtimes: false, skipState: true });
    if (now !== content) problems.push(`${where}: deploy changed the releases:\n${changes(content, now)}`);
    await rm(a.file, { force: true });
  }
  const seconds = ((performance.now() - t0) / 1000).toFixed(0);
  console.log(
    `fuzz: seed ${seed}: ${ran} cases in ${seconds} s (${Object.entries(stats.byKind)
      .map(([k, n]) => `${k} ${n}`)
      .join(", ")}); ` +
      `${stats.rejected} refused, ${stats.accepted} accepted (still valid: padding, or file contents under a recomputed hash), ${stats.deploys} deploys`,
  );
  assert.deepEqual(problems, [], problems.join("\n\n"));
  assert.equal(ran, count, `only ${ran} of ${count} cases within ${budgetMs} ms (seed ${seed})`);
  assert.ok(stats.rejected > count * 0.9, "almost every flip is caught");
});

test("a build signed with the trusted key deploys with deploy.trusted_keys set", async () => {
  const { ws } = f;
  const r = slipway(["deploy", sources.signedTrusted, "--target", "fleet", "--config", signedConfig], { cwd: ws.app, env: ws.env });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /note: signed by trusted key [0-9a-f]{16}/);
  assert.equal((await f.health(h)).build_id, "s1");
});
