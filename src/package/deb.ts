/**
 * One .deb from a staged tree: DEBIAN/ (control, maintainer scripts), the Debian docs every
 * package carries (copyright, changelog.gz) and its lintian overrides, every mtime at one
 * epoch, built by `dpkg-deb --root-owner-group -Zxz` with SOURCE_DATE_EPOCH: sorted entries,
 * owners 0:0, the same bytes for the same tree.
 */
import { createHash } from "node:crypto";
import { chmod, readdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { gzipSync } from "node:zlib";
import { run } from "../util/exec.js";
import { mapLimit } from "../util/pool.js";
import { renderControl, type DebControl } from "./control.js";
import { mkdirs, settle } from "./tree.js";
import { lintianOverrides, type PackageKind } from "./lintian.js";

export interface DebSpec {
  /** The staging dir: the package's files are already under it at their host paths. */
  stage: string;
  kind: PackageKind;
  control: Omit<DebControl, "installedSize">;
  scripts: Partial<Record<"postinst" | "prerm" | "postrm", string>>;
  /** Seconds since the epoch: every mtime, the changelog's date, the ar members' date. */
  epoch: number;
  /** The changelog entry's text (one line). */
  change: string;
  /** The app's root, with no leading slash (which overrides apply depends on it). */
  root: string;
  /** Its maintainer script calls systemctl. */
  systemd?: boolean;
}

/** `<name>_<version>_<arch>.deb`, as apt names it (an epoch's `:` never occurs in our versions). */
export function debFileName(c: Pick<DebControl, "package" | "version" | "architecture">): string {
  return `${c.package}_${c.version}_${c.architecture}.deb`;
}

export async function buildDeb(spec: DebSpec, outDir: string): Promise<string> {
  const { stage, control: c } = spec;
  const doc = `usr/share/doc/${c.package}`;
  await mkdirs(stage, doc);
  await writeFile(path.join(stage, doc, "copyright"), copyright(c.package, new Date(spec.epoch * 1000).getUTCFullYear()));
  await writeFile(path.join(stage, doc, "changelog.gz"), gzipSync(changelog(c.package, c.version, c.maintainer, spec.change, spec.epoch), { level: 9 }));
  await mkdirs(stage, "usr/share/lintian/overrides");
  await writeFile(path.join(stage, "usr/share/lintian/overrides", c.package), lintianOverrides(spec.kind, spec.root, { systemd: spec.systemd }));
  const installedSize = await settle(stage, spec.epoch, (rel) => rel === "DEBIAN");
  await mkdirs(stage, "DEBIAN");
  await writeFile(path.join(stage, "DEBIAN", "control"), renderControl({ ...c, installedSize }));
  for (const [name, text] of Object.entries(spec.scripts)) {
    await writeFile(path.join(stage, "DEBIAN", name), text);
    await chmod(path.join(stage, "DEBIAN", name), 0o755);
  }
  await writeFile(path.join(stage, "DEBIAN", "md5sums"), await md5sums(stage));
  await settle(path.join(stage, "DEBIAN"), spec.epoch);
  const file = path.join(outDir, debFileName(c));
  const tmp = `${file}.tmp-${process.pid}`;
  try {
    await run(["dpkg-deb", "--root-owner-group", "-Zxz", "-z6", "--build", stage, tmp], {
      step: `dpkg-deb (${c.package})`,
      env: { ...process.env, SOURCE_DATE_EPOCH: String(spec.epoch) },
    });
    await rename(tmp, file);
  } finally {
    await rm(tmp, { force: true });
  }
  return file;
}

/** A machine-readable copyright file: the app's own terms apply, slipway only packs it. */
function copyright(pkg: string, year: number): string {
  return `Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: ${pkg}
Comment: Packaged by slipway from a build artifact of this application.

Files: *
Copyright: ${year} the authors of the application
License: other
 The terms under which the application is distributed apply; this package
 was made from its build artifact by slipway and adds nothing of its own.
`;
}

function changelog(pkg: string, version: string, maintainer: string, change: string, epoch: number): string {
  const date = new Date(epoch * 1000).toUTCString().replace(/GMT$/, "+0000");
  return `${pkg} (${version}) unstable; urgency=medium\n\n  * ${change}\n\n -- ${maintainer}  ${date}\n`;
}

/** DEBIAN/md5sums (dpkg --verify reads it): every regular file, sorted by path; files hashed 16 at a time. */
async function md5sums(stage: string): Promise<string> {
  const files = (await readdir(stage, { recursive: true, withFileTypes: true }))
    .filter((e) => e.isFile())
    .map((e) => path.relative(stage, path.join(e.parentPath, e.name)))
    .filter((r) => !r.startsWith("DEBIAN/"))
    .sort();
  const sums = await mapLimit(files, 16, async (f) =>
    createHash("md5")
      .update(await readFile(path.join(stage, f)))
      .digest("hex"),
  );
  return files.map((f, i) => `${sums[i]}  ${f}\n`).join("");
}
