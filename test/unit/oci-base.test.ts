// oci/base.ts on small image layouts made here: parsing --base, following the interpreter path
// through layers (symlinks, whiteouts), refusals, and the merged config and manifest.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { gzipSync } from "node:zlib";
import tar from "tar-stream";
import type { Manifest } from "../../src/artifact/manifest.js";
import { UsageError } from "../../src/errors.js";
import { LayerTree, mergeConfig, mergeManifest, parseBaseRef, prepareBase, type BaseImage } from "../../src/oci/base.js";
import { imageConfig, imageManifest } from "../../src/oci/spec.js";
import { tmpDir } from "../support/tmp.js";

type Entry = { name: string; type?: "file" | "directory" | "symlink" | "link"; linkname?: string; mode?: number };

const m = {
  app: "hello",
  build_id: "b1",
  created_at: "2026-01-01T00:00:00Z",
  git: null,
  root: "/srv/hello",
  env: {
    key: "0123456789abcdef",
    python: {
      executable: "/usr/bin/python3.11",
      configured: "/usr/bin/python3",
      implementation: "cpython",
      version: "3.11.2",
      abi: "cp311",
      platform: "linux-x86_64/glibc-2.36",
    },
    inputs: [],
  },
} as unknown as Manifest;

async function tarOf(entries: Entry[]): Promise<Buffer> {
  const pack = tar.pack();
  for (const e of entries) {
    const type = e.type ?? "file";
    pack.entry({ name: e.name, type, linkname: e.linkname, mode: e.mode ?? (type === "directory" ? 0o755 : 0o644), size: 0 }, Buffer.alloc(0));
  }
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const c of pack) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

const sha = (b: Buffer) => `sha256:${createHash("sha256").update(b).digest("hex")}`;

/** A layout at `dir` with one image of these layers, tagged `tag`; returns the layer digests. */
async function layout(
  dir: string,
  layers: Entry[][],
  opts: { tag?: string; architecture?: string; layerType?: string; config?: Record<string, unknown> } = {},
): Promise<string[]> {
  const blobs = path.join(dir, "blobs", "sha256");
  await mkdir(blobs, { recursive: true });
  const put = async (b: Buffer) => {
    await writeFile(path.join(blobs, sha(b).slice(7)), b);
    return sha(b);
  };
  const descs = [];
  const diffIds = [];
  for (const l of layers) {
    const t = await tarOf(l);
    const gz = gzipSync(t);
    diffIds.push(sha(t));
    descs.push({ mediaType: opts.layerType ?? "application/vnd.oci.image.layer.v1.tar+gzip", digest: await put(gz), size: gz.length });
  }
  const config = Buffer.from(
    JSON.stringify({
      architecture: opts.architecture ?? "amd64",
      os: "linux",
      config: { Env: ["PATH=/usr/sbin:/usr/bin", "LANG=C.UTF-8"], Cmd: ["/bin/sh"], User: "app", ...opts.config },
      rootfs: { type: "layers", diff_ids: diffIds },
      history: layers.map((_, i) => ({ created_by: `layer ${i}` })),
    }),
  );
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: await put(config), size: config.length },
      layers: descs,
    }),
  );
  const md = { mediaType: "application/vnd.oci.image.manifest.v1+json", digest: await put(manifest), size: manifest.length };
  await writeFile(
    path.join(dir, "index.json"),
    JSON.stringify({ schemaVersion: 2, manifests: [{ ...md, annotations: { "org.opencontainers.image.ref.name": opts.tag ?? "v1" } }] }),
  );
  await writeFile(path.join(dir, "oci-layout"), '{"imageLayoutVersion":"1.0.0"}');
  return descs.map((d) => d.digest);
}

// Debian's merged /usr: /bin → usr/bin; python3 → python3.11.
const DEBIAN: Entry[] = [
  { name: "bin", type: "symlink", linkname: "usr/bin" },
  { name: "usr/", type: "directory" },
  { name: "usr/bin/", type: "directory" },
  { name: "usr/bin/python3", type: "symlink", linkname: "python3.11" },
  { name: "usr/bin/python3.11", mode: 0o755 },
];

describe("parseBaseRef", () => {
  test("image layouts, with and without a tag", () => {
    assert.deepEqual(parseBaseRef("oci-dir:base.oci:bookworm", "/w"), { kind: "layout", dir: "/w/base.oci", tag: "bookworm" });
    assert.deepEqual(parseBaseRef("oci-dir:/x/base.oci", "/w"), { kind: "layout", dir: "/x/base.oci" });
  });
  test("registry references: tag or digest; https unless oci+http", () => {
    const r = parseBaseRef("oci+http://127.0.0.1:5000/lib/debian:bookworm", "/w");
    assert.equal(r.kind, "registry");
    if (r.kind !== "registry") return;
    assert.equal(r.base.href, "http://127.0.0.1:5000/");
    assert.equal(r.repo, "lib/debian");
    assert.equal(r.reference, "bookworm");
    const d = `sha256:${"a".repeat(64)}`;
    const byDigest = parseBaseRef(`oci://reg.example:443/debian@${d}`, "/w");
    assert.ok(byDigest.kind === "registry" && byDigest.reference === d && byDigest.base.protocol === "https:");
  });
  test("bad references are usage errors naming the ref", () => {
    for (const [ref, msg] of [
      ["docker://debian:bookworm", /--base docker:\/\/debian:bookworm: expected oci-dir:PATH/],
      ["oci://127.0.0.1:5000/debian", /names no tag or digest/],
      ["oci://127.0.0.1:5000/Debian:x", /not a repository name/],
      ["oci://u:p@127.0.0.1:5000/debian:x", /must not carry credentials/],
    ] as const)
      assert.throws(
        () => parseBaseRef(ref, "/w"),
        (e: Error) => e instanceof UsageError && msg.test(e.message),
        ref,
      );
  });
});

describe("LayerTree", () => {
  const tree = (...layers: Entry[][]) => {
    const t = new LayerTree();
    layers.forEach((l, i) => {
      for (const e of l) t.add({ name: e.name, type: e.type ?? "file", linkname: e.linkname ?? "", mode: e.mode ?? 0o644 }, i);
    });
    return t;
  };
  test("follows symlinks through directories and files", () => {
    const t = tree(DEBIAN);
    assert.deepEqual(t.resolve("/bin/python3"), { ok: true, path: "/usr/bin/python3.11" });
    assert.deepEqual(t.resolve("/usr/bin/python3.11"), { ok: true, path: "/usr/bin/python3.11" });
  });
  test("names the missing part, a non-executable file and a loop", () => {
    assert.deepEqual(tree(DEBIAN).resolve("/usr/local/bin/python3.11"), { ok: false, missing: "/usr/local", why: "is missing" });
    assert.deepEqual(tree([{ name: "usr/bin/python3.11", mode: 0o644 }]).resolve("/usr/bin/python3.11"), {
      ok: false,
      missing: "/usr/bin/python3.11",
      why: "is not executable",
    });
    const loop = tree([
      { name: "a", type: "symlink", linkname: "b" },
      { name: "b", type: "symlink", linkname: "/a" },
    ]);
    assert.equal((loop.resolve("/a") as { why: string }).why, "is a symlink loop");
  });
  test("a later layer's whiteout removes a file, an opaque dir hides what was below", () => {
    assert.deepEqual(tree(DEBIAN, [{ name: "usr/bin/.wh.python3.11" }]).resolve("/bin/python3"), {
      ok: false,
      missing: "/usr/bin/python3.11",
      why: "is missing",
    });
    const opaque = tree(DEBIAN, [{ name: "usr/bin/.wh..wh..opq" }, { name: "usr/bin/python3", type: "symlink", linkname: "python3.11" }]);
    assert.equal(opaque.resolve("/usr/bin/python3").ok, false);
    assert.equal(tree(DEBIAN, [{ name: "usr/bin/.wh..wh..opq" }, { name: "usr/bin/python3.11", mode: 0o755 }]).resolve("/bin/python3.11").ok, true);
  });
  test("a hard link is the file it links to; implicit parents are directories", () => {
    const t = tree([
      { name: "opt/py/bin/python3.11", mode: 0o755 },
      { name: "usr/bin/python3.11", type: "link", linkname: "opt/py/bin/python3.11" },
    ]);
    assert.equal(t.resolve("/usr/bin/python3.11").ok, true);
  });
});

describe("prepareBase", () => {
  test("a suitable base: its blobs copied into the layout unchanged", async () => {
    const dir = await tmpDir("slw-base");
    const digests = await layout(`${dir}/base`, [DEBIAN, [{ name: "etc/" }, { name: "etc/os-release" }]]);
    const b = await prepareBase({ ref: `oci-dir:${dir}/base:v1`, cwd: dir, manifest: m, layout: `${dir}/out` });
    assert.deepEqual(
      b.layers.map((l) => l.digest),
      digests,
    );
    for (const d of digests)
      assert.deepEqual(await readFile(`${dir}/out/blobs/sha256/${d.slice(7)}`), await readFile(`${dir}/base/blobs/sha256/${d.slice(7)}`));
    assert.deepEqual(
      (await readdir(`${dir}/out/blobs`)).filter((n) => n.startsWith(".")),
      [],
      "no staging dir left",
    );
  });
  test("Docker layer media types become their OCI names (same bytes, same digest)", async () => {
    const dir = await tmpDir("slw-base");
    const [d] = await layout(`${dir}/base`, [DEBIAN], { layerType: "application/vnd.docker.image.rootfs.diff.tar.gzip" });
    const b = await prepareBase({ ref: `oci-dir:${dir}/base`, cwd: dir, manifest: m, layout: `${dir}/out` });
    assert.deepEqual(b.layers, [{ mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: d, size: b.layers[0]!.size }]);
  });
  const refuses = async (name: string, layers: Entry[][], opts: Parameters<typeof layout>[2], ref: (dir: string) => string, msg: RegExp) =>
    test(name, async () => {
      const dir = await tmpDir("slw-base");
      await layout(`${dir}/base`, layers, opts);
      await assert.rejects(prepareBase({ ref: ref(dir), cwd: dir, manifest: m, layout: `${dir}/out` }), (e: Error) => {
        assert.ok(e instanceof UsageError, String(e));
        assert.match(e.message, msg);
        return true;
      });
      const left = existsSync(`${dir}/out/blobs/sha256`) ? await readdir(`${dir}/out/blobs/sha256`) : [];
      assert.deepEqual(left, [], "nothing left in the layout");
    });
  refuses(
    "refused: the interpreter is not in the base",
    [
      [
        { name: "usr/bin/python3", type: "symlink", linkname: "python3.12" },
        { name: "usr/bin/python3.12", mode: 0o755 },
      ],
    ],
    {},
    (d) => `oci-dir:${d}/base:v1`,
    /--base oci-dir:.*base:v1: the base has no \/usr\/bin\/python3\.11, the interpreter the venv was built with/,
  );
  refuses(
    "refused: the configured path is missing though the resolved one is there",
    [[{ name: "usr/bin/python3.11", mode: 0o755 }]],
    {},
    (d) => `oci-dir:${d}/base:v1`,
    /the base has no \/usr\/bin\/python3, the interpreter/,
  );
  refuses(
    "refused: another architecture",
    [DEBIAN],
    { architecture: "arm64" },
    (d) => `oci-dir:${d}/base:v1`,
    /for linux\/arm64, the venv was built for linux\/amd64/,
  );
  refuses("refused: no such tag, naming the tags there", [DEBIAN], { tag: "bookworm" }, (d) => `oci-dir:${d}/base:trixie`, /no image tagged "trixie"/);
  refuses("refused: no such directory", [DEBIAN], {}, (d) => `oci-dir:${d}/nowhere:v1`, /nowhere: no such directory/);
  refuses("refused: not a layout", [DEBIAN], {}, (d) => `oci-dir:${d}/base/blobs:v1`, /blobs\/index\.json not found: not an OCI image layout/);
  refuses(
    "refused: a dangling link on the way, named",
    [[{ name: "usr/bin", type: "symlink", linkname: "/opt/bin" }]],
    {},
    (d) => `oci-dir:${d}/base:v1`,
    /the base has no \/usr\/bin\/python3\.11 \(\/opt is missing\)/,
  );
  refuses(
    "refused: a foreign layer type",
    [DEBIAN],
    { layerType: "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip" },
    (d) => `oci-dir:${d}/base`,
    /foreign.*which slipway does not copy/,
  );
});

describe("merged config and manifest", () => {
  const ours = imageConfig(
    m,
    [{ diff_id: `sha256:${"1".repeat(64)}` }, { diff_id: `sha256:${"2".repeat(64)}` }],
    undefined as unknown as Parameters<typeof imageConfig>[2],
  );
  const base = {
    architecture: "amd64",
    os: "linux",
    config: { Env: ["PATH=/usr/sbin:/usr/bin", "LANG=C.UTF-8"], Cmd: ["/bin/sh"], User: "app", Labels: { vendor: "debian" } },
    rootfs: { type: "layers", diff_ids: [`sha256:${"0".repeat(64)}`] },
    history: [{ created_by: "debootstrap" }],
  };
  test("the base's fields kept, the venv first on the base's PATH, ours over theirs, layers and history appended", () => {
    const c = JSON.parse(mergeConfig(base, ours, m).toString());
    assert.deepEqual(c.config.Env, [
      "PATH=/srv/hello/virtualenvs/0123456789abcdef/bin:/usr/sbin:/usr/bin",
      "LANG=C.UTF-8",
      "VIRTUAL_ENV=/srv/hello/virtualenvs/0123456789abcdef",
      "SLIPWAY_BUILD_ID=b1",
    ]);
    assert.equal(c.config.User, "app");
    assert.deepEqual(c.config.Cmd, ["/bin/sh"], "no [image] command: the base's");
    assert.equal(c.config.WorkingDir, "/srv/hello/current");
    assert.equal(c.config.Labels.vendor, "debian");
    assert.equal(c.config.Labels["io.slipway.build-id"], "b1");
    assert.deepEqual(c.rootfs.diff_ids, [`sha256:${"0".repeat(64)}`, `sha256:${"1".repeat(64)}`, `sha256:${"2".repeat(64)}`]);
    assert.deepEqual(
      c.history.map((h: { created_by: string }) => h.created_by),
      ["debootstrap", "slipway build: venv 0123456789abcdef", "slipway build: release b1"],
    );
  });
  test("[image] entrypoint replaces the base's Entrypoint and Cmd", () => {
    const own = imageConfig(m, [{ diff_id: "a" }, { diff_id: "b" }], { entrypoint: ["gunicorn"], ports: [], env: {} } as unknown as Parameters<
      typeof imageConfig
    >[2]);
    const c = JSON.parse(mergeConfig({ ...base, config: { ...base.config, Entrypoint: ["/init"] } }, own, m).toString());
    assert.deepEqual(c.config.Entrypoint, ["gunicorn"]);
    assert.equal(c.config.Cmd, undefined);
  });
  test("the manifest lists the base's layers first and names the base", () => {
    const b: BaseImage = {
      ref: "oci+http://127.0.0.1:5000/debian:bookworm",
      name: "127.0.0.1:5000/debian:bookworm",
      digest: `sha256:${"9".repeat(64)}`,
      layers: [{ mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: `sha256:${"8".repeat(64)}`, size: 5 }],
      config: base,
    };
    const own = imageManifest(
      { mediaType: "application/vnd.oci.image.config.v1+json", digest: `sha256:${"7".repeat(64)}`, size: 1 },
      [{ mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: `sha256:${"6".repeat(64)}`, size: 2 }],
      m,
      Buffer.from("{}"),
    );
    const out = JSON.parse(mergeManifest(b, own).toString());
    assert.deepEqual(
      out.layers.map((l: { digest: string }) => l.digest[7]),
      ["8", "6"],
    );
    assert.equal(out.annotations["org.opencontainers.image.base.digest"], b.digest);
    assert.equal(out.annotations["org.opencontainers.image.base.name"], b.name);
  });
});
