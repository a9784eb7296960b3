// `slipway package --format deb`, installed for real: dpkg with its own database (--admindir)
// installs into this machine's filesystem at the app's root (a unique /srv/slw-*/hello, as on
// a host), inside a private mount namespace whose /usr/share/doc and lintian overrides dir are
// the test's own, so nothing outside the root and the test's temp dir is touched. The app runs
// under a private supervisord from <root>/current; the meta package's postinst switches,
// restarts it and checks /health as a deploy does.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { appendFile, mkdir, readFile, stat } from "node:fs/promises";
import path from "node:path";
import { buildWith, type Workspace } from "../support/build-app.js";
import { readMembers, writeMembers } from "../support/artifact-edit.js";
import { slipway } from "../support/cli.js";
import { packagedApp, type PackagedApp } from "../support/package-app.js";
import { aptHost, type AptHost } from "../support/apt-host.js";
import type { Supervisor } from "../support/supervisor.js";
import { packageArtifact, type PackageResult } from "../../src/package/package.js";
import { publishApt } from "../../src/package/apt-repo.js";
import { rollback } from "../../src/commands/rollback.js";
import { ArtifactError } from "../../src/errors.js";
import type { SlipwayEvent } from "../../src/events.js";

let ws: Workspace;
let root: string;
let sup: Supervisor;
let link: PackagedApp["link"];
let served: PackagedApp["served"];
let repo: string;
const artifacts: Record<string, string> = {};
const pkgs: Record<string, PackageResult> = {};
const logs: string[] = [];

let host: AptHost;
const dpkg = (...args: string[]) => host.dpkg(...args);
const apt = (...args: string[]) => host.apt(...args);

/** One field of a .deb's control file. */
const field = (deb: string, name: string) => spawnSync("dpkg-deb", ["-f", deb, name], { encoding: "utf8" }).stdout.trim();
const files = (build: string) => pkgs[build]!.packages.map((p) => p.file);
const file = (build: string, kind: "venv" | "release" | "meta") => pkgs[build]!.packages.find((p) => p.kind === kind)!.file;
const history = async () =>
  (await readFile(path.join(root, ".slipway", "history.jsonl"), "utf8"))
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as Record<string, string>);
/** Installed (a refused removal leaves it selected for deinstall, still installed). */
const installed = (name: string) => /^Status: \w+ ok installed$/m.test(dpkg("-s", name).out);

before(async () => {
  // The example's [targets.local] (for `slipway rollback`) restarts this supervisord and checks this port.
  const app = await packagedApp("slipway-deb", {
    edit: (toml, supConf, port) =>
      toml.replace("/srv/hello/supervisor/supervisord.conf", supConf).replace("http://127.0.0.1:8000/health", `http://127.0.0.1:${port}/health`),
  });
  ({ ws, root, sup, link, served } = app);
  Object.assign(artifacts, app.artifacts);
  // Build 3 cannot start: its health check fails.
  await appendFile(path.join(ws.app, "hello", "app.py"), '\nraise SystemExit("build 3 is broken")\n');
  artifacts["3"] = (await buildWith(ws, "3")).result.artifact;
  // Build 2 gets an empty cache: its venv package is made again, and must come out byte for byte
  // as build 1's. Build 3 shares build 1's cache and copies the venv package kept there.
  for (const b of ["1", "2", "3"]) {
    const env = b === "2" ? { ...ws.env, SLIPWAY_CACHE_DIR: path.join(ws.dir, "cache-2") } : ws.env;
    const emit = (e: SlipwayEvent) => void (e.type === "log" && logs.push(`${b}: ${e.message}`));
    pkgs[b] = await packageArtifact({ cwd: ws.app, artifact: artifacts[b]!, format: "deb", out: path.join(ws.dir, `debs-${b}`), env, emit });
  }

  host = await aptHost(path.join(ws.dir, "host"));
  repo = host.repo;
});

after(() => sup?.stop());

test("deb: three packages; install, code-only upgrade, a failing build switched back, rollback, removal", { timeout: 600_000 }, async () => {
  const p1 = pkgs["1"]!;
  assert.deepEqual(
    p1.packages.map((p) => [p.kind, p.name, p.version]),
    [
      ["venv", p1.packages[0]!.name, "1"],
      ["release", "hello-release-1", "1"],
      ["meta", "hello", "1"],
    ],
  );
  assert.match(p1.packages[0]!.name, /^hello-venv-[0-9a-f]{16}$/);
  assert.equal(field(file("1", "meta"), "Depends"), "hello-release-1 (= 1)");
  assert.equal(field(file("1", "release"), "Depends"), `${p1.packages[0]!.name} (= 1)`);
  // Owners are root, the release is at its host path with its manifest, mark and venv link; no `current`.
  const contents = dpkg("-c", file("1", "release")).out;
  for (const line of contents.trim().split("\n")) assert.match(line, / root\/root /);
  assert.match(contents, new RegExp(`\\.${root}/releases/1/slipway\\.json`));
  assert.match(contents, new RegExp(`\\.${root}/releases/1/virtualenv -> ${root}/virtualenvs/`));
  assert.doesNotMatch(contents, /\/current/);

  // Build 1, from the apt repository: apt installs the meta package, its release and its venv.
  await publishApt(repo, files("1"), "amd64", "hello");
  let r = apt("update");
  assert.equal(r.code, 0, r.out);
  r = apt("install", "hello");
  assert.equal(r.code, 0, r.out);
  assert.match(r.out, /0 upgraded, 3 newly installed/);
  assert.equal(await link("current"), "releases/1");
  assert.equal(await served(), "1");
  assert.ok((await stat(path.join(root, "virtualenvs", p1.packages[0]!.name.split("-").at(-1)!, ".slipway-complete"))).isFile());
  assert.ok((await stat(path.join(root, "shared", "data"))).isDirectory(), "the release postinst made the shared dir");
  assert.deepEqual(
    (await history()).map((h) => [h.build_id, h.result, h.target]),
    [["1", "ok", "package"]],
  );

  // Build 2 (code only): the same venv package, byte for byte; only the release and meta are installed.
  assert.equal(pkgs["2"]!.packages[0]!.name, p1.packages[0]!.name);
  assert.deepEqual(await readFile(file("2", "venv")), await readFile(file("1", "venv")), "the venv package is the same bytes for every build of its key");
  assert.ok(
    logs.some((l) => l.startsWith("3: venv package") && l.includes("kept from an earlier build")),
    logs.join("\n"),
  );
  assert.ok(!logs.some((l) => /^[12]: venv package.*kept/.test(l)), "builds 1 and 2 made their venv package");
  assert.deepEqual(
    await publishApt(repo, files("2"), "amd64", "hello"),
    [file("2", "release"), file("2", "meta")],
    "the repository already has the venv package",
  );
  assert.equal(apt("update").code, 0);
  r = apt("install", "hello");
  assert.equal(r.code, 0, r.out);
  assert.match(r.out, /1 upgraded, 1 newly installed/, "apt fetches the release and meta packages only");
  assert.doesNotMatch(r.out, new RegExp(`Unpacking ${p1.packages[0]!.name}`));
  assert.equal(await link("current"), "releases/2");
  assert.equal(await link("previous"), "releases/1");
  assert.equal(await served(), "2");
  assert.ok(installed("hello-release-1"), "the old release package stays installed, side by side");

  // Build 3 fails its health check: switched back, build 2 serves, dpkg exits non-zero.
  await publishApt(repo, files("3"), "amd64", "hello");
  assert.equal(apt("update").code, 0);
  r = apt("install", "hello");
  assert.notEqual(r.code, 0, r.out);
  assert.match(r.out, /health check failed/);
  assert.equal(await link("current"), "releases/2");
  assert.equal(await link("previous"), "releases/1", "previous is put back too");
  assert.equal(await served(), "2");
  assert.deepEqual((await history()).at(-1)!.result, "rolled-back");

  // Roll back to build 1 by installing its meta package again.
  r = dpkg("-i", file("1", "meta"));
  assert.equal(r.code, 0, r.out);
  assert.equal(await link("current"), "releases/1");
  assert.equal(await link("previous"), "releases/2");
  assert.equal(await served(), "1");

  // Removing releases: build 3 goes; build 2 (previous) is refused and stays whole.
  r = dpkg("-r", "hello-release-3");
  assert.equal(r.code, 0, r.out);
  await assert.rejects(stat(path.join(root, "releases", "3")), "release 3 is removed");
  r = dpkg("-r", "hello-release-2");
  assert.notEqual(r.code, 0, r.out);
  assert.match(r.out, /releases\/2 is previous/);
  assert.ok(installed("hello-release-2"));
  assert.ok((await stat(path.join(root, "releases", "2", "slipway.json"))).isFile());
  assert.equal(await link("current"), "releases/1");
  assert.equal(await link("previous"), "releases/2");
  assert.equal(await served(), "1");
  // The venv in use is refused too.
  r = dpkg("-r", "--force-depends", p1.packages[0]!.name);
  assert.notEqual(r.code, 0, r.out);
  assert.match(r.out, /not removing it/);

  // slipway's own rollback works on the packaged host (the layout is the deploy's).
  const back = await rollback({ cwd: ws.app, target: "local" });
  assert.deepEqual(
    back.hosts.map((h) => [h.from, h.to, h.result]),
    [["1", "2", "ok"]],
  );
  assert.equal(await link("current"), "releases/2");
  assert.equal(await link("previous"), "releases/1");
  assert.equal(await served(), "2");
});

test("deb: the same artifact gives byte-identical packages", { timeout: 300_000 }, async () => {
  const again = await packageArtifact({
    cwd: ws.app,
    artifact: artifacts["1"]!,
    format: "deb",
    out: path.join(ws.dir, "debs-1-again"),
    env: { ...ws.env, SLIPWAY_CACHE_DIR: path.join(ws.dir, "cache-again") },
  });
  for (const [i, p] of again.packages.entries()) {
    assert.equal(path.basename(p.file), path.basename(pkgs["1"]!.packages[i]!.file));
    assert.deepEqual(await readFile(p.file), await readFile(pkgs["1"]!.packages[i]!.file), `${p.name} is reproducible`);
  }
});

test("deb: lintian reports no errors or warnings (the remaining tags are overridden in the packages)", { timeout: 600_000 }, () => {
  const r = spawnSync("lintian", ["--no-cfg", "--fail-on", "error,warning", ...pkgs["1"]!.packages.map((p) => p.file)], { encoding: "utf8", timeout: 600_000 });
  const tags = `${r.stdout}${r.stderr}`.split("\n").filter((l) => /^[EW]: /.test(l));
  assert.deepEqual(tags, []);
  assert.equal(r.status, 0, r.stdout + r.stderr);
});

test("deb: the CLI publishes into an apt repository; a tampered artifact is refused with exit 3", { timeout: 300_000 }, async () => {
  const repo = path.join(ws.dir, "apt");
  const run = slipway(["--json", "package", artifacts["1"]!, "--format", "deb", "--out", path.join(ws.dir, "cli-debs"), "--apt-repo", repo], {
    cwd: ws.app,
    env: ws.env,
  });
  assert.equal(run.code, 0, run.stdout + run.stderr);
  const result = run.json().at(-1)!;
  assert.equal((result["published"] as string[]).length, 3);
  const index = await readFile(path.join(repo, "dists", "slipway", "main", "binary-amd64", "Packages"), "utf8");
  for (const name of ["hello", "hello-release-1", pkgs["1"]!.packages[0]!.name]) assert.match(index, new RegExp(`^Package: ${name}$`, "m"));
  assert.match(await readFile(path.join(repo, "dists", "slipway", "Release"), "utf8"), /SHA256:/);
  // Build 2 adds its release and meta; the venv package is already there, byte-identical.
  const second = slipway(["--json", "package", artifacts["2"]!, "--format", "deb", "--out", path.join(ws.dir, "cli-debs"), "--apt-repo", repo], {
    cwd: ws.app,
    env: ws.env,
  });
  assert.equal(second.code, 0, second.stdout + second.stderr);
  assert.equal((second.json().at(-1)!["published"] as string[]).length, 2);

  const members = await readMembers(artifacts["1"]!);
  const code = members.find((m) => m.name.startsWith("code."))!;
  const at = Math.floor(code.data.length / 2);
  code.data[at] = code.data[at]! ^ 0xff;
  const tampered = path.join(ws.dir, "tampered", path.basename(artifacts["1"]!));
  await mkdir(path.dirname(tampered));
  await writeMembers(tampered, members);
  await assert.rejects(packageArtifact({ cwd: ws.app, artifact: tampered, format: "deb", out: path.join(ws.dir, "never"), env: ws.env }), ArtifactError);
  const refused = slipway(["package", tampered, "--format", "deb", "--out", path.join(ws.dir, "never")], { cwd: ws.app, env: ws.env });
  assert.equal(refused.code, 3, refused.stderr);
});
