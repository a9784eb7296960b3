import { lstatSync, readdirSync, readlinkSync } from "node:fs";
import path from "node:path";
import picomatch from "picomatch";

/** One entry of a layer, as it will be written to tar. Paths are posix, relative to the layer's dir. */
export interface TreeEntry {
  rel: string;
  type: "file" | "directory" | "symlink";
  mode: number;
  size: number;
  linkname?: string;
}

export type Matcher = (rel: string) => boolean;

/**
 * Exclude patterns, read like .gitignore: a pattern without `/` matches a name at any depth;
 * one with a `/` (a leading `/` anchors it) matches the path from the layer's top.
 */
export function excludeMatcher(patterns: readonly string[]): Matcher {
  const cleaned = patterns.map((p) => p.replace(/\/+$/, "").replace(/^\.\//, ""));
  const names = cleaned.filter((p) => !p.includes("/"));
  const paths = cleaned.filter((p) => p.includes("/")).map((p) => p.replace(/^\/+/, ""));
  const byName = names.length ? picomatch(names, { dot: true, basename: true }) : () => false;
  const byPath = paths.length ? picomatch(paths, { dot: true }) : () => false;
  return (rel) => byName(rel) || byPath(rel);
}

/**
 * Walk `dir` depth-first with names in byte order (so the walk, and the tar made from it, is
 * the same on every run), skipping excluded entries and everything below an excluded dir.
 * The file system calls are synchronous: one awaited lstat per entry cost about 130 µs (a
 * thread-pool round trip each), 5.3 s for a 38,000-entry venv, against 0.4 s this way.
 */
export async function walkTree(dir: string, exclude: Matcher, start = ""): Promise<TreeEntry[]> {
  const out: TreeEntry[] = [];
  const visit = (rel: string): void => {
    const names = readdirSync(path.join(dir, rel)).sort(byteOrder);
    for (const name of names) {
      const r = rel ? `${rel}/${name}` : name;
      if (exclude(r)) continue;
      const entry = entryAtSync(dir, r);
      if (!entry) continue;
      out.push(entry);
      if (entry.type === "directory") visit(r);
    }
  };
  if (start) {
    const entry = entryAtSync(dir, start);
    if (entry && !exclude(start)) {
      out.push(entry);
      if (entry.type === "directory") visit(start);
    }
  } else visit("");
  return out;
}

export async function entryAt(dir: string, rel: string): Promise<TreeEntry | undefined> {
  return entryAtSync(dir, rel);
}

function entryAtSync(dir: string, rel: string): TreeEntry | undefined {
  const abs = path.join(dir, rel);
  const st = lstatSync(abs);
  const mode = st.mode & 0o777;
  if (st.isDirectory()) return { rel, type: "directory", mode, size: 0 };
  if (st.isFile()) return { rel, type: "file", mode, size: st.size };
  if (st.isSymbolicLink()) return { rel, type: "symlink", mode, size: 0, linkname: readlinkSync(abs) };
  return undefined; // sockets, FIFOs, devices never belong in a release
}

export function byteOrder(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

/** True when a symlink at `rel` points inside the tree rooted at its layer dir. */
export function linkStaysInside(rel: string, linkname: string): boolean {
  if (path.posix.isAbsolute(linkname)) return false;
  const resolved = path.posix.normalize(path.posix.join(path.posix.dirname(rel), linkname));
  return resolved !== ".." && !resolved.startsWith("../");
}
