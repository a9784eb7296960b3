// `slipway image --base`: the example app's image on a debootstrapped Debian base with Debian's
// python3.11 (test/support/base-image.ts), unpacked by umoci and run by runc: gunicorn from the
// venv answers /health with the build id. skopeo sees the base's layers, unchanged, then ours.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { rmSync } from "node:fs";
import { appendFile, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import path from "node:path";
import { promisify } from "node:util";
import type { Workspace } from "../support/build-app.js";
import { buildWith } from "../support/build-app.js";
import { BASE_PYTHON, BASE_TAG, ensureBaseImage, type BaseImageLayout } from "../support/base-image.js";
import { slipway } from "../support/cli.js";
import { pythonEnv } from "../support/env.js";
import { startRegistry } from "../support/registry.js";
import { copyExampleApp, tmpDir } from "../support/tmp.js";
import { ensureWheelhouse } from "../support/wheelhouse.js";
import { image } from "../../src/oci/image.js";

const exec = promisify(execFile);
const isRoot = process.getuid?.() === 0;
let base: BaseImageLayout;
let ws: Workspace;
let artifact: string;
let baseMs = 0;

/** A port nothing listens on now (the container shares this machine's network). */
async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve) => srv.listen(0, "127.0.0.1", resolve));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

async function getJson(url: string, ms: number, alive: () => string | undefined): Promise<Record<string, unknown>> {
  const until = Date.now() + ms;
  let last: unknown;
  while (Date.now() < until) {
    const dead = alive();
    if (dead) throw new Error(dead);
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2_000) });
      if (res.ok) return (await res.json()) as Record<string, unknown>;
      last = `HTTP ${res.status}`;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${url} did not answer in ${ms} ms: ${String(last)}`);
}

before(async () => {
  if (!isRoot) return;
  const t0 = Date.now();
  base = await ensureBaseImage();
  baseMs = Date.now() - t0;
  // The root is under /srv (its parents are directories in our layer: not /tmp, whose mode 1777 they would hide).
  const dir = await tmpDir("slipway-oci-base");
  const root = `/srv/slw-${randomBytes(4).toString("hex")}/hello`;
  process.on("exit", () => rmSync(path.dirname(root), { recursive: true, force: true }));
  const wheelhouse = await ensureWheelhouse();
  const app = await copyExampleApp("hello", `${dir}/app`, { root, pipArgs: ["--no-index", "--find-links", wheelhouse] });
  ws = { dir, app, root, cache: `${dir}/cache`, wheelhouse, env: pythonEnv({ SLIPWAY_CACHE_DIR: `${dir}/cache` }) };
  // Debian's interpreter by its own path: the one the base has (python3.11 without the python3 link).
  const toml = path.join(app, "slipway.toml");
  const text = (await readFile(toml, "utf8")).replace(/^python\s*=.*$/m, `python = ${JSON.stringify(BASE_PYTHON)}`);
  assert.match(text, /python = "\/usr\/bin\/python3\.11"/);
  await writeFile(toml, `${text}\n[image]\ncmd = ["gunicorn", "hello.app:application", "--bind", "127.0.0.1:8000"]\n`);
  await appendFile(path.join(app, "requirements.txt"), "\ngunicorn\n");
  artifact = (await buildWith(ws, "b1")).result.artifact;
});

after(async () => {
  if (ws) await rm(path.dirname(ws.root), { recursive: true, force: true });
});

test("image --base: base layers unchanged then ours; umoci unpacks it; runc runs gunicorn from the venv; /health says the build id", {
  skip: !isRoot && "needs root (debootstrap, umoci unpack, runc)",
  timeout: 900_000,
}, async (t) => {
  t.diagnostic(`base image ready in ${baseMs} ms (${base.layout})`);
  const layout = path.join(ws.dir, "app.oci");
  const r = await image({ cwd: ws.app, artifact, out: `oci-dir:${layout}`, base: `oci-dir:${base.layout}:${BASE_TAG}` });
  const ref = `${layout}:${r.ref}`;

  const baseInspect = JSON.parse((await exec("skopeo", ["inspect", `oci:${base.layout}:${BASE_TAG}`])).stdout);
  const inspect = JSON.parse((await exec("skopeo", ["inspect", `oci:${ref}`])).stdout);
  assert.equal(inspect.Digest, r.manifest.digest);
  assert.deepEqual(baseInspect.Layers, [base.layer]);
  assert.deepEqual(inspect.Layers, [...baseInspect.Layers, ...r.layers.map((l) => l.digest)], "the base's layers, same digests, then venv and code");
  assert.equal(inspect.Labels["io.slipway.build-id"], "b1");

  const config = JSON.parse((await exec("skopeo", ["inspect", "--config", `oci:${ref}`])).stdout);
  const baseConfig = JSON.parse((await exec("skopeo", ["inspect", "--config", `oci:${base.layout}:${BASE_TAG}`])).stdout);
  assert.deepEqual(config.rootfs.diff_ids, [...baseConfig.rootfs.diff_ids, ...r.layers.map((l) => l.diff_id)]);
  const key = inspect.Labels["io.slipway.venv-key"];
  assert.ok(
    config.config.Env.includes(`PATH=${ws.root}/virtualenvs/${key}/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`),
    config.config.Env,
  );
  assert.ok(config.config.Env.includes("LANG=C.UTF-8"), "the base's Env is kept");
  assert.equal(config.config.WorkingDir, `${ws.root}/current`);
  assert.deepEqual(config.config.Cmd, ["gunicorn", "hello.app:application", "--bind", "127.0.0.1:8000"]);
  assert.equal(config.history.length, 3);

  // Unpacked by umoci (as root: the base's owners kept), run by runc on this machine's network.
  const bundle = path.join(ws.dir, "bundle");
  await exec("umoci", ["unpack", "--image", ref, bundle], { maxBuffer: 64 << 20 });
  const spec = JSON.parse(await readFile(path.join(bundle, "config.json"), "utf8"));
  const port = await freePort();
  spec.process.terminal = false;
  spec.process.args = [...config.config.Cmd.slice(0, -1), `127.0.0.1:${port}`, "--workers", "1"];
  spec.linux.namespaces = spec.linux.namespaces.filter((n: { type: string }) => n.type !== "network");
  await writeFile(path.join(bundle, "config.json"), JSON.stringify(spec));

  const state = path.join(ws.dir, "runc-state");
  const id = `slipway-oci-base-${randomBytes(4).toString("hex")}`;
  let output = "";
  let exit: string | undefined;
  const runc: ChildProcess = spawn("runc", ["--root", state, "run", "--bundle", bundle, id], { stdio: ["ignore", "pipe", "pipe"] });
  runc.stdout!.on("data", (c: Buffer) => (output += c.toString()));
  runc.stderr!.on("data", (c: Buffer) => (output += c.toString()));
  runc.on("exit", (code, signal) => (exit = `runc exited (${code ?? signal}) before /health answered:\n${output.slice(-3000)}`));
  try {
    const health = await getJson(`http://127.0.0.1:${port}/health`, 60_000, () => exit);
    assert.equal(health["build_id"], "b1", JSON.stringify(health));
    // The server really is the image's: its process runs the venv's interpreter from the base.
    const ps = (await exec("runc", ["--root", state, "ps", id])).stdout;
    assert.match(ps, /gunicorn/);
  } finally {
    await exec("runc", ["--root", state, "kill", id, "KILL"]).catch(() => {});
    if (runc.exitCode === null && runc.signalCode === null) await new Promise((resolve) => runc.once("exit", resolve));
    await exec("runc", ["--root", state, "delete", "--force", id]).catch(() => {});
    await rm(bundle, { recursive: true, force: true });
    await rm(state, { recursive: true, force: true });
  }
});

test("image --base: a base without the venv's interpreter, for another architecture, or not there is refused (exit 2), naming it", {
  skip: !isRoot && "needs root (debootstrap)",
  timeout: 300_000,
}, async () => {
  // The same base with a second layer whiting out python3.11 (as `RUN rm` would).
  const noPython = path.join(ws.dir, "no-python.oci");
  await exec("cp", ["-a", base.layout, noPython]);
  const wh = path.join(ws.dir, "wh");
  await exec("mkdir", ["-p", `${wh}/usr/bin`]);
  await writeFile(`${wh}/usr/bin/.wh.python3.11`, "");
  await exec("tar", ["-C", wh, "--numeric-owner", "--owner=0", "--group=0", "-cf", `${ws.dir}/wh.tar`, "usr"]);
  await exec("umoci", ["raw", "add-layer", "--image", `${noPython}:${BASE_TAG}`, `${ws.dir}/wh.tar`]);
  const out = `oci-dir:${ws.dir}/refused.oci`;
  const gone = slipway(["image", artifact, "--base", `oci-dir:${noPython}:${BASE_TAG}`, "--out", out], { cwd: ws.app, env: ws.env });
  assert.equal(gone.code, 2, gone.stderr);
  assert.match(gone.stderr, /no-python\.oci.*has no \/usr\/bin\/python3\.11/s);
  await assert.rejects(readFile(path.join(ws.dir, "refused.oci", "index.json")), "nothing written");
  assert.deepEqual(await readdir(path.join(ws.dir, "refused.oci", "blobs", "sha256")), [], "no base blob left behind");

  // Another architecture.
  const arm = path.join(ws.dir, "arm.oci");
  await exec("cp", ["-a", base.layout, arm]);
  await exec("umoci", ["config", "--image", `${arm}:${BASE_TAG}`, "--architecture", "arm64"]);
  const wrongArch = slipway(["image", artifact, "--base", `oci-dir:${arm}:${BASE_TAG}`, "--out", out], { cwd: ws.app, env: ws.env });
  assert.equal(wrongArch.code, 2, wrongArch.stderr);
  assert.match(wrongArch.stderr, /for linux\/arm64, the venv was built for linux\/amd64/);

  const missing = slipway(["image", artifact, "--base", `oci-dir:${ws.dir}/nothing.oci:x`, "--out", out], { cwd: ws.app, env: ws.env });
  assert.equal(missing.code, 2, missing.stderr);
  assert.match(missing.stderr, /nothing\.oci:x: .*nothing\.oci: no such directory/);
  const noTag = slipway(["image", artifact, "--base", `oci-dir:${base.layout}:sid`, "--out", out], { cwd: ws.app, env: ws.env });
  assert.equal(noTag.code, 2, noTag.stderr);
  assert.match(noTag.stderr, /no image tagged "sid".*bookworm/s);
});

test("image --base oci+http://…: the base pulled from a registry, digests checked, gives the image the layout gives", {
  skip: !isRoot && "needs root (debootstrap)",
  timeout: 300_000,
}, async () => {
  const reg = await startRegistry(path.join(ws.dir, "registry"));
  try {
    await exec("skopeo", ["copy", "--dest-tls-verify=false", `oci:${base.layout}:${BASE_TAG}`, `docker://${reg.addr}/debian:${BASE_TAG}`]);
    const fromLayout = await image({ cwd: ws.app, artifact, out: `oci-dir:${ws.dir}/from-layout.oci`, base: `oci-dir:${base.layout}:${BASE_TAG}` });
    const out = path.join(ws.dir, "from-registry.oci");
    const r = await image({ cwd: ws.app, artifact, out: `oci-dir:${out}`, base: `oci+http://${reg.addr}/debian:${BASE_TAG}` });
    assert.deepEqual(
      r.base?.layers.map((l) => l.digest),
      [base.layer],
    );
    const blob = path.join(out, "blobs", "sha256", base.layer.slice(7));
    assert.equal(`sha256:${(await exec("sha256sum", [blob])).stdout.split(" ")[0]}`, base.layer, "the pulled layer, byte for byte");
    assert.equal(r.config.digest, fromLayout.config.digest, "the same config either way");
    const inspect = JSON.parse((await exec("skopeo", ["inspect", `oci:${out}:${r.ref}`])).stdout);
    assert.deepEqual(inspect.Layers, [base.layer, ...r.layers.map((l) => l.digest)]);

    const none = slipway(["image", artifact, "--base", `oci+http://${reg.addr}/debian:sid`, "--out", `oci-dir:${ws.dir}/none.oci`], {
      cwd: ws.app,
      env: ws.env,
    });
    assert.equal(none.code, 2, none.stderr);
    assert.match(none.stderr, new RegExp(`${reg.addr} has no debian:sid`));
  } finally {
    await reg.stop();
  }
});
