// Temporary directories and copies of the bundled example apps for tests.
import { rmSync } from "node:fs";
import { cp, mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
const created: string[] = [];
let cleanupRegistered = false;

/** mkdtemp under os.tmpdir(); removed when the process exits unless KEEP_TMP=1. */
export async function tmpDir(prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix.endsWith("-") ? prefix : `${prefix}-`));
  created.push(dir);
  if (!cleanupRegistered) {
    cleanupRegistered = true;
    process.on("exit", () => {
      if (process.env.KEEP_TMP === "1") return;
      for (const d of created) rmSync(d, { recursive: true, force: true });
    });
  }
  return dir;
}

// Build leftovers and local state that must not leak from examples/ into a test.
function keep(src: string, top: string): boolean {
  const rel = relative(top, src);
  const name = basename(src);
  if (rel === "dist" || rel === ".slipway" || rel === "data" || rel === "staticfiles") return false;
  // A developer's local secrets and databases (django-shop's .gitignore lists them).
  if (name === ".env" || name === ".venv" || name.endsWith(".sqlite3")) return false;
  return name !== "build" && name !== "__pycache__" && !name.endsWith(".egg-info");
}

/**
 * Copy examples/<name> to dest and point its slipway.toml at `root` (and
 * `pipArgs`, if given). Returns dest as an absolute path.
 */
export async function copyExampleApp(name: "hello" | "django-shop", dest: string, opts: { root?: string; pipArgs?: string[] } = {}): Promise<string> {
  const src = join(REPO_ROOT, "examples", name);
  const out = resolve(dest);
  await cp(src, out, { recursive: true, filter: (p) => keep(p, src) });
  if (opts.root !== undefined || opts.pipArgs !== undefined) {
    const configPath = join(out, "slipway.toml");
    const text = await readFile(configPath, "utf8");
    await writeFile(configPath, rewriteConfig(text, opts));
  }
  return out;
}

/** Line-based rewrite of `[app] root` and `[build] pip_args`; values are JSON-quoted (valid TOML). */
function rewriteConfig(text: string, opts: { root?: string; pipArgs?: string[] }): string {
  let section = "";
  const done = { root: opts.root === undefined, pipArgs: opts.pipArgs === undefined };
  const lines = text.split("\n").map((line) => {
    const header = /^\s*\[([^\]]+)\]/.exec(line);
    if (header) section = header[1]!.trim();
    if (section === "app" && opts.root !== undefined && /^\s*root\s*=/.test(line)) {
      done.root = true;
      return `root   = ${JSON.stringify(opts.root)}`;
    }
    if (section === "build" && opts.pipArgs !== undefined && /^\s*pip_args\s*=/.test(line)) {
      if (!/\]\s*(#.*)?$/.test(line)) throw new Error("copyExampleApp: pip_args must fit on one line");
      done.pipArgs = true;
      return `pip_args = ${JSON.stringify(opts.pipArgs)}`;
    }
    return line;
  });
  if (!done.root || !done.pipArgs) throw new Error("copyExampleApp: slipway.toml has no root/pip_args line to rewrite");
  return lines.join("\n");
}
