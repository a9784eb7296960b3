// `slipway image`: an artifact as an OCI image layout that skopeo and umoci read; the venv and
// release layers rooted at their host paths (the host layout of a deploy, `current` included);
// the same venv key gives the same venv layer digest; the same artifact gives the same image.
import { before, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { appendFile, readFile, readlink, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import { promisify } from "node:util";
import { gunzipSync } from "node:zlib";
import { buildWith, exampleWorkspace, type Workspace } from "../support/build-app.js";
import { readMembers, writeMembers } from "../support/artifact-edit.js";
import { slipway } from "../support/cli.js";
import { image } from "../../src/oci/image.js";

const exec = promisify(execFile);
let ws: Workspace;
let b1: string;
let b2: string;

before(async () => {
  ws = await exampleWorkspace("slipway-oci");
  await writeFile(
    path.join(ws.app, "slipway.toml"),
    `${await readFile(path.join(ws.app, "slipway.toml"), "utf8")}\n[image]\ncmd = ["python", "-m", "hello.serve"]\nports = [8000]\n`,
  );
  b1 = (await buildWith(ws, "b1")).result.artifact;
  await appendFile(path.join(ws.app, "hello", "app.py"), "\n# code-only change\n");
  b2 = (await buildWith(ws, "b2")).result.artifact;
});

/** The entries of a gzip'd tar blob: name, type, uid, gid, link. */
function tarEntries(gz: Buffer): { name: string; type: string; uid: number; gid: number; link: string }[] {
  const buf = gunzipSync(gz);
  const out = [];
  for (let off = 0; off + 512 <= buf.length; ) {
    const h = buf.subarray(off, off + 512);
    if (h.every((b) => b === 0)) break;
    const str = (a: number, n: number) =>
      h
        .subarray(a, a + n)
        .toString("utf8")
        .replace(/\0.*$/s, "");
    const size = Number.parseInt(str(124, 12).trim() || "0", 8);
    const prefix = str(345, 155);
    out.push({
      name: prefix ? `${prefix}/${str(0, 100)}` : str(0, 100),
      type: str(156, 1),
      uid: Number.parseInt(str(108, 8).trim() || "0", 8),
      gid: Number.parseInt(str(116, 8).trim() || "0", 8),
      link: str(157, 100),
    });
    off += 512 + Math.ceil(size / 512) * 512;
  }
  return out;
}

test("image: two builds into one layout share the venv layer; skopeo and umoci read it; unpacked, it is the host layout", { timeout: 300_000 }, async () => {
  const layout = path.join(ws.dir, "ledger.oci");
  const r1 = await image({ cwd: ws.app, artifact: b1, out: `oci-dir:${layout}` });
  const r2 = await image({ cwd: ws.app, artifact: b2, out: `oci-dir:${layout}` });
  assert.equal(r1.layers[0]!.digest, r2.layers[0]!.digest, "same venv key, same venv layer digest");
  assert.ok(r2.layers[0]!.reused, "the second build's venv layer was already in the layout");
  assert.notEqual(r1.layers[1]!.digest, r2.layers[1]!.digest, "the code layers differ");
  const index = JSON.parse(await readFile(path.join(layout, "index.json"), "utf8"));
  assert.deepEqual(
    index.manifests.map((m: { annotations: Record<string, string> }) => m.annotations["org.opencontainers.image.ref.name"]),
    ["b1", "b2"],
  );

  // Reproducible: the same artifact into another layout gives the same manifest digest.
  const again = await image({ cwd: ws.app, artifact: b1, out: `oci-dir:${path.join(ws.dir, "again.oci")}` });
  assert.equal(again.manifest.digest, r1.manifest.digest);

  // skopeo reads it: labels, env, working dir, layers.
  const inspect = JSON.parse((await exec("skopeo", ["inspect", `oci:${layout}:b2`])).stdout);
  assert.equal(inspect.Digest, r2.manifest.digest);
  assert.deepEqual(
    inspect.Layers,
    r2.layers.map((l) => l.digest),
  );
  assert.equal(inspect.Labels["io.slipway.build-id"], "b2");
  const config = JSON.parse((await exec("skopeo", ["inspect", "--config", `oci:${layout}:b2`])).stdout);
  assert.equal(config.config.WorkingDir, `${ws.root}/current`);
  assert.deepEqual(config.config.Cmd, ["python", "-m", "hello.serve"]);
  assert.deepEqual(Object.keys(config.config.ExposedPorts), ["8000/tcp"]);
  assert.ok(
    config.config.Env.some((e: string) => e.startsWith(`PATH=${ws.root}/virtualenvs/`)),
    "the venv first on PATH",
  );
  assert.deepEqual(
    config.rootfs.diff_ids,
    r2.layers.map((l) => l.diff_id),
  );

  // Every entry owned by 0:0, in sorted order within the artifact's entries.
  for (const l of r2.layers) {
    const entries = tarEntries(await readFile(path.join(layout, "blobs", "sha256", l.digest.slice(7))));
    assert.ok(entries.length > 3);
    assert.ok(
      entries.every((e) => e.uid === 0 && e.gid === 0),
      `${l.name}: owners 0:0`,
    );
  }

  // umoci unpacks it: the layout a deploy leaves on a host.
  const bundle = path.join(ws.dir, "bundle");
  await exec("umoci", ["unpack", "--rootless", "--image", `${layout}:b2`, bundle]);
  const rootfs = path.join(bundle, "rootfs");
  const at = (p: string) => path.join(rootfs, ws.root, p);
  const key = inspect.Labels["io.slipway.venv-key"];
  assert.equal(await readlink(at("current")), "releases/b2");
  assert.equal(await readlink(at("releases/b2/virtualenv")), `${ws.root}/virtualenvs/${key}`);
  const slipwayJson = await readFile(at("releases/b2/slipway.json"));
  const members = await readMembers(b2);
  assert.deepEqual(slipwayJson, members.find((m) => m.name === "slipway.json")!.data, "the release holds the artifact's manifest");
  assert.equal((await readFile(at("releases/b2/.slipway-complete"), "utf8")).trim(), createHash("sha256").update(slipwayJson).digest("hex"));
  assert.ok((await stat(at(`virtualenvs/${key}/.slipway-complete`))).isFile());
  assert.ok((await stat(at("releases/b2/hello/app.py"))).isFile());
  assert.ok((await readlink(at(`virtualenvs/${key}/bin/python`))).length > 0, "the venv's interpreter link");

  // A copy through skopeo keeps every digest.
  const copy = path.join(ws.dir, "copy.oci");
  await exec("skopeo", ["copy", `oci:${layout}:b2`, `oci:${copy}:b2`]);
  assert.equal(JSON.parse((await exec("skopeo", ["inspect", `oci:${copy}:b2`])).stdout).Digest, r2.manifest.digest);
});

test("image: a tampered artifact is refused (exit 3) and the layout is left as it was; a bad --out is a usage error", async () => {
  const layout = path.join(ws.dir, "tamper.oci");
  const bad = path.join(ws.dir, "tampered.tar");
  const members = await readMembers(b1);
  const code = members.find((m) => m.name.startsWith("code."))!;
  code.data = Buffer.concat([code.data.subarray(0, code.data.length - 1), Buffer.from([code.data.at(-1)! ^ 1])]);
  await writeMembers(bad, members);
  const r = slipway(["image", bad, "--out", `oci-dir:${layout}`], { cwd: ws.app, env: ws.env });
  assert.equal(r.code, 3, r.stderr);
  assert.match(r.stderr, /code/);
  await assert.rejects(stat(path.join(layout, "index.json")));
  const u = slipway(["image", b1, "--out", "docker://example/x"], { cwd: ws.app, env: ws.env });
  assert.equal(u.code, 2);
  assert.match(u.stderr, /oci-dir:PATH/);
});
