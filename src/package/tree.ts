/**
 * Package trees on disk: an artifact layer unpacked at its host path under a staging dir, the
 * entries a deploy adds (deploy/stage.ts; the same list `slipway image` adds: oci/image.ts
 * releaseExtras), every mtime set to one epoch so the package is a function of its content.
 */
import { spawn } from "node:child_process";
import { chmod, lstat, lutimes, mkdir, readdir, symlink, writeFile } from "node:fs/promises";
import path from "node:path";
import { pipeline } from "node:stream/promises";
import type { Readable } from "node:stream";
import type { Compression } from "../artifact/compress.js";
import type { ExtraEntry } from "../oci/reroot.js";
import { CommandFailedError } from "../errors.js";

/**
 * Unpack a layer (the artifact member `source`) into `dir` with GNU tar as a deploy does it
 * (stage.ts tarExtract): owners ignored, modes minus umask 022, never setuid, setgid or sticky.
 */
export async function unpackLayer(source: Readable, compression: Compression, dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  const codec = compression === "zstd" ? "--use-compress-program=zstd" : "--gzip";
  const argv = ["sh", "-c", 'umask 022 && exec tar -x "$@"', "slipway", codec, "-f", "-", "--no-same-owner", "--no-same-permissions", "-C", dir];
  const child = spawn(argv[0]!, argv.slice(1), { stdio: ["pipe", "ignore", "pipe"] });
  let err = "";
  child.stderr.on("data", (c: Buffer) => {
    err = (err + c.toString("utf8")).slice(-4096);
  });
  const exited = new Promise<number | null>((resolve, reject) => {
    child.on("error", reject);
    child.on("close", resolve);
  });
  await pipeline(source, child.stdin);
  const code = await exited;
  if (code !== 0) throw new CommandFailedError("unpack", argv, code, null, err);
}

/** Make `dir` and its missing parents under `top`, each 0755 (whatever the process umask). */
export async function mkdirs(top: string, rel: string): Promise<void> {
  let at = top;
  for (const part of rel.split("/").filter(Boolean)) {
    at = path.join(at, part);
    await mkdir(at, { recursive: true });
    await chmod(at, 0o755);
  }
}

/** Write `extras` (names relative to `top`, no leading slash) with their modes. */
export async function writeExtras(top: string, extras: readonly ExtraEntry[]): Promise<void> {
  for (const e of extras) {
    const file = path.join(top, e.name);
    await mkdirs(top, path.dirname(e.name));
    if (e.type === "directory") await mkdirs(top, e.name);
    else if (e.type === "symlink") await symlink(e.linkname!, file);
    else {
      await writeFile(file, e.content ?? Buffer.alloc(0));
      await chmod(file, e.mode);
    }
  }
}

/**
 * Clamp every mtime under `top` (top too) to `epoch`, as SOURCE_DATE_EPOCH clamps: what this run
 * made (parents, extras, docs) gets `epoch`; what came from a layer keeps its mtime, which the
 * venv's .pyc files record (a changed source mtime would make Python compile them again).
 * Returns Installed-Size in KiB as dpkg counts it.
 */
export async function settle(top: string, epoch: number, skip: (rel: string) => boolean = () => false): Promise<number> {
  let kib = 0;
  const walk = async (dir: string, rel: string): Promise<void> => {
    await Promise.all(
      (await readdir(dir)).map(async (name) => {
        const file = path.join(dir, name);
        const r = rel ? `${rel}/${name}` : name;
        if (skip(r)) return;
        const st = await lstat(file);
        kib += st.isFile() ? Math.ceil(st.size / 1024) : 1;
        if (st.isDirectory()) await walk(file, r);
        if (st.mtimeMs > epoch * 1000) await lutimes(file, epoch, epoch);
      }),
    );
  };
  await walk(top, "");
  if ((await lstat(top)).mtimeMs > epoch * 1000) await lutimes(top, epoch, epoch);
  return kib;
}
