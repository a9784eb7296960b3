import { chmod, copyFile, constants, mkdir, symlink } from "node:fs/promises";
import { existsSync } from "node:fs";
import path from "node:path";
import { ConfigError, SlipwayError } from "../errors.js";
import { mapLimit } from "../util/pool.js";
import { byteOrder, linkStaysInside, walkTree, type Matcher, type TreeEntry } from "./tree.js";

export interface StageRequest {
  appDir: string;
  include: readonly string[];
  exclude: Matcher;
  dest: string;
  configFile: string;
}

/**
 * Copy the app's included files (minus excluded ones) into `dest`. Build steps run there, so
 * the user's working tree is never modified. Returns the entries copied.
 */
export async function stageTree(req: StageRequest): Promise<TreeEntry[]> {
  const entries = await listIncluded(req);
  await mkdir(req.dest, { recursive: true });
  for (const e of entries) if (e.type === "directory") await mkdir(path.join(req.dest, e.rel), { recursive: true, mode: 0o755 });
  await mapLimit(entries.filter((e) => e.type !== "directory"), 16, async (e) => {
    const to = path.join(req.dest, e.rel);
    if (e.type === "symlink") await symlink(e.linkname!, to);
    else {
      await copyFile(path.join(req.appDir, e.rel), to, constants.COPYFILE_FICLONE);
      await chmod(to, e.mode | 0o200);
    }
  });
  for (const e of entries) if (e.type === "directory") await chmod(path.join(req.dest, e.rel), e.mode | 0o200);
  return entries;
}

async function listIncluded(req: StageRequest): Promise<TreeEntry[]> {
  const byRel = new Map<string, TreeEntry>();
  for (const [i, inc] of req.include.entries()) {
    const rel = path.posix.normalize(inc).replace(/^\.\/?$/, "").replace(/\/+$/, "");
    if (rel.startsWith("..") || path.isAbsolute(rel) || !existsSync(path.join(req.appDir, rel))) {
      throw new ConfigError([{ file: req.configFile, path: `build.include[${i}]`, message: `${inc} is not a path inside ${req.appDir}` }]);
    }
    for (const parent of parentsOf(rel)) byRel.set(parent, { rel: parent, type: "directory", mode: 0o755, size: 0 });
    for (const e of await walkTree(req.appDir, req.exclude, rel)) byRel.set(e.rel, e);
  }
  const entries = [...byRel.values()].sort((a, b) => byteOrder(a.rel, b.rel));
  for (const e of entries) {
    if (e.type === "symlink" && !linkStaysInside(e.rel, e.linkname!)) {
      throw new SlipwayError(
        `${e.rel} is a symlink to ${e.linkname}, outside the app: hosts refuse such links in a release`,
        "exclude it in build.exclude, or replace it with a relative link inside the app (a shared dir belongs in deploy.shared)",
      );
    }
  }
  return entries;
}

function parentsOf(rel: string): string[] {
  const parts = rel.split("/").slice(0, -1);
  return parts.map((_, i) => parts.slice(0, i + 1).join("/"));
}
