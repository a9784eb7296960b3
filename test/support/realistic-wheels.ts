// Big wheels whose content compresses like a real venv (make_realistic_wheels.py): for benches
// that compare compression levels, where makeBigWheels' partly random data would say nothing.
import { execFile } from "node:child_process";
import { readdir } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { PYTHON, pythonEnv } from "./env.js";

const run = promisify(execFile);
const SCRIPT = join(dirname(fileURLToPath(import.meta.url)), "make_realistic_wheels.py");

/**
 * Write `count` wheels realpkg<N>-1.0.0 into `dir` (made if missing), installing at least
 * `totalMiB` of .py, .so and .pyc files taken from this machine. Returns the package names.
 * Not cached: hundreds of MB belong in the caller's temp dir, deleted with it.
 */
export async function makeRealisticWheels(dir: string, totalMiB: number, count: number): Promise<string[]> {
  if (!(totalMiB > 0) || !Number.isInteger(count) || count < 1) throw new Error(`makeRealisticWheels: bad arguments (${totalMiB} MiB, ${count} wheels)`);
  try {
    await run(PYTHON, [SCRIPT, dir, String(totalMiB), String(count)], { env: pythonEnv(), maxBuffer: 1 << 20 });
  } catch (err) {
    const e = err as Error & { stderr?: string };
    throw new Error(`make_realistic_wheels.py ${dir} failed: ${e.stderr?.trim() || e.message}`);
  }
  const names = (await readdir(dir)).filter((n) => /^realpkg\d+-1\.0\.0-py3-none-any\.whl$/.test(n)).map((n) => n.split("-")[0]!);
  if (names.length !== count) throw new Error(`makeRealisticWheels: expected ${count} wheels in ${dir}, found ${names.length}`);
  return names.sort((a, b) => Number(a.slice(7)) - Number(b.slice(7)));
}
