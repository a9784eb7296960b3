// `slipway package --format rpm`, installed for real: rpm with its own database (--dbpath)
// installs into this machine's filesystem at the app's root (a unique /srv/slw-*/hello; the
// packages hold nothing outside it). The app runs under a private supervisord from
// <root>/current; the meta package's %post switches, restarts it and checks /health.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdir, readFile, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import type { Workspace } from "../support/build-app.js";
import type { Supervisor } from "../support/supervisor.js";
import { packageArtifact, type PackageResult } from "../../src/package/package.js";
import { rpmlintrc } from "../../src/package/rpmlint.js";
import { publishYum } from "../../src/package/yum-repo.js";
import { slipway } from "../support/cli.js";
import { packagedApp, type PackagedApp } from "../support/package-app.js";

let ws: Workspace;
let root: string;
let port: number;
let sup: Supervisor;
let link: PackagedApp["link"];
let served: PackagedApp["served"];
let dbpath: string;
const artifacts: Record<string, string> = {};
const pkgs: Record<string, PackageResult> = {};

function rpm(...args: string[]): { code: number; out: string } {
  const r = spawnSync("rpm", [`--dbpath=${dbpath}`, ...args], { encoding: "utf8", timeout: 180_000 });
  return { code: r.status ?? -1, out: `${r.stdout}${r.stderr}` };
}

const file = (build: string, kind: "venv" | "release" | "meta") => pkgs[build]!.packages.find((p) => p.kind === kind)!.file;

before(async () => {
  const app = await packagedApp("slipway-rpm");
  ({ ws, root, sup, link, served } = app);
  Object.assign(artifacts, app.artifacts);
  // Build 2 with an empty cache: its venv package is made again, byte for byte as build 1's.
  for (const b of ["1", "2"]) {
    const env = b === "2" ? { ...ws.env, SLIPWAY_CACHE_DIR: path.join(ws.dir, "cache-2") } : ws.env;
    pkgs[b] = await packageArtifact({ cwd: ws.app, artifact: artifacts[b]!, format: "rpm", out: path.join(ws.dir, `rpms-${b}`), env });
  }
  dbpath = path.join(ws.dir, "rpmdb");
  await mkdir(dbpath);
  assert.equal(rpm("--initdb").code, 0);
});

after(() => sup?.stop());

test("rpm: install, code-only upgrade with the old release kept, refused removal of previous", { timeout: 600_000 }, async () => {
  const p1 = pkgs["1"]!;
  assert.deepEqual(
    p1.packages.map((p) => [p.kind, path.basename(p.file)]),
    [
      ["venv", `${p1.packages[0]!.name}-1-1.x86_64.rpm`],
      ["release", "hello-release-1-1-1.x86_64.rpm"],
      ["meta", "hello-1-1.noarch.rpm"],
    ],
  );
  const info = spawnSync("rpm", ["-qp", "--requires", "--scripts", file("1", "meta"), file("1", "release"), file("1", "venv")], { encoding: "utf8" }).stdout;
  assert.match(info, /hello-release-1 = 1-1/);
  assert.match(info, new RegExp(`${p1.packages[0]!.name} = 1-1`));
  assert.match(info, /\/usr\/bin\/python3\.\d+/);
  assert.match(info, /postinstall scriptlet \(using \/bin\/sh\):/);
  const listing = spawnSync("rpm", ["-qlvp", file("1", "release")], { encoding: "utf8" }).stdout;
  for (const line of listing.trim().split("\n")) assert.match(line, / root +root /);
  assert.doesNotMatch(listing, /\/current/);
  assert.doesNotMatch(spawnSync("rpm", ["-qlp", file("1", "venv")], { encoding: "utf8" }).stdout, /\.build-id/);

  let r = rpm("-ivh", "--nodeps", file("1", "venv"), file("1", "release"), file("1", "meta"));
  assert.equal(r.code, 0, r.out);
  assert.equal(await link("current"), "releases/1");
  assert.equal(await served(), "1");

  // Code only: the venv package is the same file; only the release and meta packages change.
  assert.deepEqual(await readFile(file("2", "venv")), await readFile(file("1", "venv")));
  r = rpm("-Uvh", "--nodeps", file("2", "release"), file("2", "meta"));
  assert.equal(r.code, 0, r.out);
  assert.equal(await link("current"), "releases/2");
  assert.equal(await link("previous"), "releases/1");
  assert.equal(await served(), "2");
  assert.equal(rpm("-q", "hello-release-1").code, 0, "the old release package stays installed");

  r = rpm("-e", "--nodeps", "hello-release-1");
  assert.notEqual(r.code, 0, r.out);
  assert.match(r.out, /releases\/1 is previous/);
  assert.equal(rpm("-q", "hello-release-1").code, 0);
  assert.ok((await stat(path.join(root, "releases", "1", "slipway.json"))).isFile());
  assert.equal(await served(), "2");
});

test("rpm: reproducible, and rpmlint-clean with the documented filters", { timeout: 300_000 }, async () => {
  const again = await packageArtifact({
    cwd: ws.app,
    artifact: artifacts["1"]!,
    format: "rpm",
    out: path.join(ws.dir, "rpms-1-again"),
    env: { ...ws.env, SLIPWAY_CACHE_DIR: path.join(ws.dir, "cache-again") },
  });
  for (const [i, p] of again.packages.entries())
    assert.deepEqual(await readFile(p.file), await readFile(pkgs["1"]!.packages[i]!.file), `${p.name} is reproducible`);
  const rc = path.join(ws.dir, "rpmlintrc");
  await writeFile(rc, rpmlintrc());
  const r = spawnSync("rpmlint", ["-r", rc, ...pkgs["1"]!.packages.map((p) => p.file)], { encoding: "utf8", timeout: 300_000 });
  assert.match(r.stdout, /0 errors, 0 warnings/, r.stdout + r.stderr);
});

test("rpm: the CLI publishes into a yum repository (createrepo_c); the venv package once", { timeout: 300_000 }, async () => {
  const repo = path.join(ws.dir, "yum");
  const first = slipway(["--json", "package", artifacts["1"]!, "--format", "rpm", "--out", path.join(ws.dir, "cli-rpms"), "--yum-repo", repo], {
    cwd: ws.app,
    env: ws.env,
  });
  assert.equal(first.code, 0, first.stdout + first.stderr);
  assert.equal((first.json().at(-1)!["published"] as string[]).length, 3);
  assert.match(await readFile(path.join(repo, "repodata", "repomd.xml"), "utf8"), /<data type="primary">/);
  assert.deepEqual(
    await publishYum(
      repo,
      pkgs["2"]!.packages.map((p) => p.file),
    ),
    [file("2", "release"), file("2", "meta")],
  );
  const wrong = slipway(["package", artifacts["1"]!, "--format", "rpm", "--apt-repo", repo], { cwd: ws.app, env: ws.env });
  assert.equal(wrong.code, 2, wrong.stderr);
});
