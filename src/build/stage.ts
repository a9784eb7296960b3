import { chmod, copyFile, constants, mkdir, symlink } from "node:fs/promises";
import { existsSync } from "node:fs";
import path from "node:path";
import { ConfigError, SlipwayError } from "../errors.js";
import { mapLimit } from "../util/pool.js";
import { byteOrder, entryAt, linkStaysInside, walkTree, type Matcher, type TreeEntry } from "./tree.js";

export interface StageRequest {
  appDir: string;
  include: readonly string[];
  exclude: Matcher;
  dest: string;
  configFile: string;
  /**
   * Inside a git work tree: the files git would commit (git-files.ts), the only ones taken
   * from `include`; undefined outside git, where every file not excluded is taken.
   */
  gitFiles?: readonly string[];
  /** Ignored paths brought in anyway (build.include_ignored): walked like `include`. */
  includeIgnored?: readonly string[];
}

/**
 * Copy the app's included files (minus excluded ones) into `dest`. Build steps run there, so
 * the user's working tree is never modified. Returns the entries copied.
 */
export async function stageTree(req: StageRequest): Promise<TreeEntry[]> {
  const entries = await listIncluded(req);
  await mkdir(req.dest, { recursive: true });
  for (const e of entries) if (e.type === "directory") await mkdir(path.join(req.dest, e.rel), { recursive: true, mode: 0o755 });
  await mapLimit(
    entries.filter((e) => e.type !== "directory"),
    16,
    async (e) => {
      const to = path.join(req.dest, e.rel);
      if (e.type === "symlink") await symlink(e.linkname!, to);
      else {
        await copyFile(path.join(req.appDir, e.rel), to, constants.COPYFILE_FICLONE);
        await chmod(to, e.mode | 0o200);
      }
    },
  );
  for (const e of entries) if (e.type === "directory") await chmod(path.join(req.dest, e.rel), e.mode | 0o200);
  return entries;
}

async function listIncluded(req: StageRequest): Promise<TreeEntry[]> {
  const byRel = new Map<string, TreeEntry>();
  const add = async (key: string, paths: readonly string[], fromGit: boolean) => {
    for (const [i, inc] of paths.entries()) {
      const rel = path.posix
        .normalize(inc)
        .replace(/^\.\/?$/, "")
        .replace(/\/+$/, "");
      if (rel.startsWith("..") || path.isAbsolute(rel) || !existsSync(path.join(req.appDir, rel))) {
        throw new ConfigError([{ file: req.configFile, path: `${key}[${i}]`, message: `${inc} is not a path inside ${req.appDir}` }]);
      }
      for (const parent of parentsOf(rel)) if (!byRel.has(parent)) byRel.set(parent, await dirEntry(req.appDir, parent));
      const found = fromGit ? await gitEntriesUnder(req, rel) : await walkTree(req.appDir, req.exclude, rel);
      for (const e of found) byRel.set(e.rel, e);
    }
  };
  await add("build.include", req.include, req.gitFiles !== undefined);
  await add("build.include_ignored", req.includeIgnored ?? [], false);
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

/**
 * The entries under `rel` that git lists (gitFiles), with their parent dirs, minus excluded
 * ones (an excluded dir excludes everything below it, as in walkTree). A listed dir is a
 * submodule: it is walked.
 */
async function gitEntriesUnder(req: StageRequest, rel: string): Promise<TreeEntry[]> {
  const out = new Map<string, TreeEntry>();
  const under = (p: string) => rel === "" || p === rel || p.startsWith(`${rel}/`);
  const excluded = (p: string) => [...parentsOf(p), p].some((x) => req.exclude(x));
  for (const file of req.gitFiles ?? []) {
    if (!under(file) || excluded(file)) continue;
    const entry = await entryAt(req.appDir, file).catch(() => undefined); // (deleted in the work tree)
    if (!entry) continue;
    for (const parent of parentsOf(file)) if (under(parent) && !out.has(parent)) out.set(parent, await dirEntry(req.appDir, parent));
    if (entry.type === "directory") for (const e of await walkTree(req.appDir, req.exclude, file)) out.set(e.rel, e);
    else out.set(file, entry);
  }
  return [...out.values()];
}

async function dirEntry(appDir: string, rel: string): Promise<TreeEntry> {
  const e = await entryAt(appDir, rel).catch(() => undefined);
  return e?.type === "directory" ? e : { rel, type: "directory", mode: 0o755, size: 0 };
}

function parentsOf(rel: string): string[] {
  const parts = rel.split("/").slice(0, -1);
  return parts.map((_, i) => parts.slice(0, i + 1).join("/"));
}
