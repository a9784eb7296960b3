// A minimal Debian base image for `slipway image --base`: `debootstrap --variant=minbase` with
// Debian's python3.11, packed as a one-layer OCI image layout. debootstrap takes a while, so
// the rootfs and the layout are cached under ~/.cache/slipway-test/, keyed by the suite,
// mirror and package list, made in a temp dir and renamed into place (a racing process drops
// its copy).
import { Hashing } from "../../src/oci/reroot.js";
import { execFile, spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { createWriteStream, existsSync } from "node:fs";
import { mkdir, readdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { homedir } from "node:os";
import path from "node:path";
import { pipeline } from "node:stream/promises";
import { promisify } from "node:util";
import { createGzip } from "node:zlib";

const exec = promisify(execFile);

export const BASE_SUITE = "bookworm";
export const BASE_PACKAGES = ["python3.11"] as const;
/** The tag of the base image in its layout. */
export const BASE_TAG = BASE_SUITE;
/** Debian's interpreter, in the base and on this machine: the test venv is built with it. */
export const BASE_PYTHON = "/usr/bin/python3.11";

export interface BaseImageLayout {
  /** The debootstrapped tree. */
  rootfs: string;
  /** An OCI image layout holding it as one layer, tagged BASE_TAG. */
  layout: string;
  /** The layer's digest. */
  layer: string;
}

/** The Debian mirror this machine's apt uses (deb822 .sources or sources.list), else deb.debian.org. */
export async function debianMirror(): Promise<string> {
  const texts: string[] = [];
  const dir = "/etc/apt/sources.list.d";
  for (const f of (await readdir(dir).catch(() => [] as string[])).filter((n) => n.endsWith(".sources") || n.endsWith(".list")).sort())
    texts.push(await readFile(path.join(dir, f), "utf8").catch(() => ""));
  texts.push(await readFile("/etc/apt/sources.list", "utf8").catch(() => ""));
  for (const text of texts) {
    // deb822: a stanza with URIs and a Suites line naming the suite.
    for (const stanza of text.split(/\n\s*\n/)) {
      const uri = /^URIs:\s*(\S+)/m.exec(stanza)?.[1];
      const suites = /^Suites:\s*(.+)$/m.exec(stanza)?.[1]?.split(/\s+/) ?? [];
      if (uri && suites.includes(BASE_SUITE) && /^Types:.*\bdeb\b/m.test(stanza)) return uri;
    }
    const line = new RegExp(`^deb\\s+(?:\\[[^\\]]*\\]\\s+)?(\\S+)\\s+${BASE_SUITE}\\s`, "m").exec(text);
    if (line) return line[1]!;
  }
  return "http://deb.debian.org/debian";
}

const sha = (b: Buffer | string) => `sha256:${createHash("sha256").update(b).digest("hex")}`;

/** Pack `rootfs` as a one-layer image layout at `layout` (tar keeps owners and modes; /dev and /proc left empty). */
export async function packLayout(rootfs: string, layout: string, tag: string): Promise<string> {
  const blobs = path.join(layout, "blobs", "sha256");
  await mkdir(blobs, { recursive: true });
  const tmp = path.join(blobs, ".layer.tmp");
  const child = spawn(
    "tar",
    [
      "--create",
      "--sort=name",
      "--numeric-owner",
      "--format=posix",
      "--pax-option=delete=atime,delete=ctime",
      "--exclude=./dev/*",
      "--exclude=./proc/*",
      "-C",
      rootfs,
      ".",
    ],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  let stderr = "";
  child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
  const exited = new Promise<void>((resolve, reject) =>
    child.on("close", (code) => (code === 0 ? resolve() : reject(new Error(`tar -C ${rootfs} exited with ${code}: ${stderr.trim()}`)))),
  );
  const tarHash = new Hashing();
  const blobHash = new Hashing();
  await Promise.all([pipeline(child.stdout, tarHash, createGzip({ level: 6 }), blobHash, createWriteStream(tmp)), exited]);
  const layer = { mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: `sha256:${blobHash.hash.digest("hex")}`, size: blobHash.bytes };
  await rename(tmp, path.join(blobs, layer.digest.slice(7)));
  const config = Buffer.from(
    JSON.stringify({
      architecture: process.arch === "x64" ? "amd64" : process.arch,
      os: "linux",
      config: { Env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8"], Cmd: ["/bin/sh"] },
      rootfs: { type: "layers", diff_ids: [`sha256:${tarHash.hash.digest("hex")}`] },
      history: [{ created_by: `debootstrap --variant=minbase --include=${BASE_PACKAGES.join(",")} ${BASE_SUITE}` }],
    }),
  );
  const configDesc = { mediaType: "application/vnd.oci.image.config.v1+json", digest: sha(config), size: config.length };
  await writeFile(path.join(blobs, configDesc.digest.slice(7)), config);
  const manifest = Buffer.from(
    JSON.stringify({ schemaVersion: 2, mediaType: "application/vnd.oci.image.manifest.v1+json", config: configDesc, layers: [layer] }),
  );
  const manifestDesc = { mediaType: "application/vnd.oci.image.manifest.v1+json", digest: sha(manifest), size: manifest.length };
  await writeFile(path.join(blobs, manifestDesc.digest.slice(7)), manifest);
  await writeFile(path.join(layout, "oci-layout"), JSON.stringify({ imageLayoutVersion: "1.0.0" }));
  await writeFile(
    path.join(layout, "index.json"),
    JSON.stringify({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.index.v1+json",
      manifests: [{ ...manifestDesc, annotations: { "org.opencontainers.image.ref.name": tag } }],
    }),
  );
  return layer.digest;
}

/** The cached base (made on first use: debootstrap, then packing; minutes on a slow mirror). */
export async function ensureBaseImage(): Promise<BaseImageLayout> {
  const mirror = await debianMirror();
  const key = createHash("sha256")
    .update(JSON.stringify({ v: 1, suite: BASE_SUITE, variant: "minbase", packages: BASE_PACKAGES, mirror }))
    .digest("hex")
    .slice(0, 16);
  const cache = path.join(process.env["SLIPWAY_TEST_CACHE"] ?? path.join(homedir(), ".cache", "slipway-test"));
  const dir = path.join(cache, `debian-base-${key}`);
  const done = (d: string) => ({ rootfs: path.join(d, "rootfs"), layout: path.join(d, "layout") });
  if (existsSync(path.join(dir, "layer-digest"))) return { ...done(dir), layer: (await readFile(path.join(dir, "layer-digest"), "utf8")).trim() };

  await mkdir(cache, { recursive: true });
  const tmp = path.join(cache, `.tmp-debian-base-${randomBytes(6).toString("hex")}`);
  try {
    const { rootfs, layout } = done(tmp);
    try {
      await exec("debootstrap", ["--variant=minbase", `--include=${BASE_PACKAGES.join(",")}`, BASE_SUITE, rootfs, mirror], { maxBuffer: 64 << 20 });
    } catch (err) {
      const e = err as Error & { stdout?: string; stderr?: string };
      throw new Error(
        `debootstrap ${BASE_SUITE} from ${mirror} failed (needs root, the debootstrap package and the mirror):\n${(e.stderr || e.stdout || e.message).slice(-2000)}`,
      );
    }
    const layer = await packLayout(rootfs, layout, BASE_TAG);
    await writeFile(path.join(tmp, "layer-digest"), `${layer}\n`);
    try {
      await rename(tmp, dir);
    } catch (err) {
      // Another process finished first: use its copy.
      if (!existsSync(path.join(dir, "layer-digest"))) throw err;
    }
    return { ...done(dir), layer: (await readFile(path.join(dir, "layer-digest"), "utf8")).trim() };
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}
