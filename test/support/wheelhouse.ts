// Offline wheels for tests, built by make_wheels.py and cached under the temp
// dir (or $SLIPWAY_FIXTURE_CACHE) by a hash of the generator and its inputs.
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { constants } from "node:fs";
import { chmod, copyFile, mkdir, mkdtemp, readdir, readFile, rename, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { PYTHON, pythonEnv } from "./env.js";

const run = promisify(execFile);
const SCRIPT = join(dirname(fileURLToPath(import.meta.url)), "make_wheels.py");
const DEBIAN_WHEELS = "/usr/share/python-wheels";
const DIST_PACKAGES = "/usr/lib/python3/dist-packages";

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

/** "name size mtime" of each matching entry: changes when Debian upgrades a package. */
async function listing(dir: string, match: (name: string) => boolean): Promise<string> {
  const names = (await readdir(dir).catch(() => [] as string[])).filter(match).sort();
  const rows = await Promise.all(
    names.map(async (n) => {
      const s = await stat(join(dir, n));
      return `${n} ${s.size} ${s.mtimeMs}`;
    }),
  );
  return rows.join("\n");
}

async function generate(args: string[]): Promise<void> {
  try {
    await run(PYTHON, [SCRIPT, ...args], { env: pythonEnv(), maxBuffer: 16 << 20 });
  } catch (err) {
    const e = err as Error & { stderr?: string };
    throw new Error(`make_wheels.py ${args[0]} failed: ${e.stderr?.trim() || e.message}`);
  }
}

/**
 * Return <cache>/slipway-<kind>-<hash>, building it first if needed. Builds go
 * to a private temp dir that is then renamed into place, so concurrent test
 * processes never see a partial directory; the loser of a race drops its copy.
 */
async function cached(kind: string, inputs: string[], build: (dir: string) => Promise<void>): Promise<string> {
  const hash = createHash("sha256").update(await readFile(SCRIPT));
  for (const input of inputs) hash.update("\0").update(input);
  const root = resolve(process.env.SLIPWAY_FIXTURE_CACHE || tmpdir());
  const final = join(root, `slipway-${kind}-${hash.digest("hex").slice(0, 16)}`);
  if (await exists(final)) return final;

  await mkdir(root, { recursive: true });
  const work = await mkdtemp(`${final}.tmp-`);
  try {
    await build(work);
    await chmod(work, 0o755);
    await rename(work, final);
  } catch (err) {
    await rm(work, { recursive: true, force: true });
    const code = (err as NodeJS.ErrnoException).code;
    if ((code === "ENOTEMPTY" || code === "EEXIST") && (await exists(final))) return final;
    throw err;
  }
  return final;
}

let wheelhouse: Promise<string> | undefined;

/**
 * A directory of wheels for offline installs: pip, setuptools and wheel (from
 * Debian), gunicorn repacked from python3-gunicorn, and slipfix 1.0.0 / 1.1.0.
 */
export function ensureWheelhouse(): Promise<string> {
  wheelhouse ??= (async () => {
    const inputs = [PYTHON, await listing(DEBIAN_WHEELS, (n) => n.endsWith(".whl")), await listing(DIST_PACKAGES, (n) => n.startsWith("gunicorn"))];
    return cached("wheelhouse", inputs, (dir) => generate(["wheelhouse", dir]));
  })();
  wheelhouse.catch(() => {
    wheelhouse = undefined;
  }); // let a later call retry
  return wheelhouse;
}

/** The distributions ensureDjangoWheelhouse repacks (with their dependency closure). */
export const DJANGO_DISTRIBUTIONS = ["django", "whitenoise", "psycopg2", "celery", "redis", "gunicorn", "flask"] as const;

let djangoWheelhouse: Promise<string> | undefined;

/**
 * A directory of wheels for the Django example: pip, setuptools and wheel (from Debian),
 * and DJANGO_DISTRIBUTIONS with everything they need, repacked from Debian's
 * python3-* packages (psycopg2, MarkupSafe, wrapt... as cp3XX platform wheels). Keyed by
 * the metadata dirs in dist-packages, so an apt upgrade rebuilds it.
 */
export function ensureDjangoWheelhouse(): Promise<string> {
  djangoWheelhouse ??= (async () => {
    const inputs = [
      PYTHON,
      DJANGO_DISTRIBUTIONS.join(" "),
      await listing(DEBIAN_WHEELS, (n) => n.endsWith(".whl")),
      await listing(DIST_PACKAGES, (n) => n.endsWith(".dist-info") || n.endsWith(".egg-info")),
    ];
    return cached("django-wheelhouse", inputs, (dir) => generate(["debian", dir, ...DJANGO_DISTRIBUTIONS]));
  })();
  djangoWheelhouse.catch(() => {
    djangoWheelhouse = undefined;
  });
  return djangoWheelhouse;
}

/**
 * Write `count` synthetic wheels bigpkg<N>-1.0.0-py3-none-any.whl (N = 1..count)
 * into dir, together installing at least totalMiB of .py modules and data that
 * compress about 2-4x. Deterministic for given arguments. Returns the package names.
 */
export async function makeBigWheels(dir: string, totalMiB: number, count = 6): Promise<string[]> {
  if (!(totalMiB > 0) || !Number.isInteger(count) || count < 1) {
    throw new Error(`makeBigWheels: bad arguments (${totalMiB} MiB, ${count} wheels)`);
  }
  const args = [String(totalMiB), String(count)];
  const cache = await cached("bigwheels", args, (d) => generate(["bigwheels", d, ...args]));
  await mkdir(dir, { recursive: true });
  const names = Array.from({ length: count }, (_, i) => `bigpkg${i + 1}`);
  for (const name of names) {
    const file = `${name}-1.0.0-py3-none-any.whl`;
    // A copy (a reflink where the file system can), never a hard link: a test
    // that damages its wheels must not damage the cache.
    await copyFile(join(cache, file), join(dir, file), constants.COPYFILE_FICLONE);
  }
  return names;
}
