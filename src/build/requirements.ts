import { readFile, readdir, lstat, stat } from "node:fs/promises";
import { existsSync } from "node:fs";
import path from "node:path";
import { ConfigError } from "../errors.js";
import { sha256, sha256File } from "../util/hash.js";

/** One input of the venv key: a file or directory and the hash of its content. */
export interface KeyInput {
  /** Relative to the app dir (posix), or absolute when outside it; directories end in `/`. */
  path: string;
  sha256: string;
}

const INCLUDE = /^(?:-r|--requirement|-c|--constraint)(?:\s*=\s*|\s+|(?=[^-\s]))(\S+)/;
const EDITABLE = /^(?:-e|--editable)(?:\s*=\s*|\s+)(\S+)/;
const DIRECT_URL = /^[A-Za-z0-9._\-[\], ]+@\s*(file:\S+)/;
const LOCAL_PATH = /^(\.{1,2}\/|\/|file:)\S*/;

/** Logical lines of a requirements file: continuations joined, comments dropped. */
export function requirementLines(text: string): string[] {
  const joined = text.replace(/\\\r?\n/g, "");
  return joined
    .split(/\r?\n/)
    .map((l) => l.replace(/(^|\s)#.*$/, "").trim())
    .filter((l) => l.length > 0);
}

export interface LineRefs {
  includes: string[];
  localPaths: string[];
}

/** What a requirements file points at that also changes the venv: -r/-c files and local paths. */
export function referencesOf(text: string): LineRefs {
  const refs: LineRefs = { includes: [], localPaths: [] };
  for (const line of requirementLines(text)) {
    const inc = INCLUDE.exec(line);
    if (inc?.[1]) {
      refs.includes.push(inc[1]);
      continue;
    }
    const target = EDITABLE.exec(line)?.[1] ?? DIRECT_URL.exec(line)?.[1] ?? (LOCAL_PATH.test(line) ? line.split(/[\s;]/)[0] : undefined);
    if (target && LOCAL_PATH.test(target)) refs.localPaths.push(stripExtras(fileUrlToPath(target)));
  }
  return refs;
}

function fileUrlToPath(target: string): string {
  return target.startsWith("file:") ? decodeURIComponent(target.replace(/^file:(\/\/)?/, "")) : target;
}

function stripExtras(p: string): string {
  return p.replace(/\[[^\]]*\]$/, "").replace(/#.*$/, "");
}

/**
 * Every file whose bytes decide what pip installs: the configured inputs, the files they
 * include (-r/-c, relative to the including file) and local packages they name (relative to
 * the app dir, where pip runs). Sorted, so the key does not depend on discovery order.
 */
export async function collectInputs(appDir: string, requirements: readonly string[], configFile: string): Promise<KeyInput[]> {
  const seen = new Map<string, KeyInput>();
  const visit = async (abs: string, from: string): Promise<void> => {
    const key = displayPath(appDir, abs);
    if (seen.has(key)) return;
    if (!existsSync(abs)) {
      throw new ConfigError(
        [{ file: configFile, path: "build.requirements", message: `${key} (named by ${from}) does not exist` }],
        "fix the path, or remove it from build.requirements",
      );
    }
    const text = await readFile(abs, "utf8");
    seen.set(key, { path: key, sha256: sha256(text) });
    if (isLockOrProject(abs)) return;
    const refs = referencesOf(text);
    for (const inc of refs.includes) await visit(path.resolve(path.dirname(abs), inc), key);
    for (const local of refs.localPaths) {
      const target = path.resolve(appDir, local);
      const tkey = displayPath(appDir, target);
      if (seen.has(tkey) || seen.has(`${tkey}/`) || !existsSync(target)) continue;
      const isDir = (await stat(target)).isDirectory();
      const display = isDir ? `${tkey}/` : tkey;
      seen.set(display, { path: display, sha256: await hashLocal(target) });
    }
  };
  for (const req of requirements) await visit(path.resolve(appDir, req), "build.requirements");
  return [...seen.values()].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

function isLockOrProject(file: string): boolean {
  return /\.(toml|lock)$/.test(file);
}

function displayPath(appDir: string, abs: string): string {
  const rel = path.relative(appDir, abs);
  return rel.startsWith("..") || path.isAbsolute(rel) ? abs : rel.split(path.sep).join("/");
}

/** Build products pip leaves in a local package; they are outputs, not inputs. */
const SKIP_IN_PACKAGES = new Set(["__pycache__", ".git", "build", "dist", ".eggs", ".tox", ".venv", "node_modules"]);

async function hashLocal(target: string): Promise<string> {
  const st = await stat(target);
  if (!st.isDirectory()) return sha256File(target);
  const lines: string[] = [];
  const walk = async (dir: string, rel: string): Promise<void> => {
    const names = (await readdir(dir)).sort();
    for (const name of names) {
      if (SKIP_IN_PACKAGES.has(name) || name.endsWith(".egg-info") || name.endsWith(".pyc")) continue;
      const abs = path.join(dir, name);
      const s = await lstat(abs);
      const r = rel ? `${rel}/${name}` : name;
      if (s.isDirectory()) await walk(abs, r);
      else if (s.isFile()) lines.push(`${r} ${s.mode & 0o111 ? "x" : "-"} ${await sha256File(abs)}`);
    }
  };
  await walk(target, "");
  return sha256(lines.join("\n"));
}
