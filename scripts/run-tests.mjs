// Run the test suites with node's test runner (TypeScript through tsx).
// Usage: node scripts/run-tests.mjs [unit|integration|e2e|faults ...]   (default: all four)
// Files that measure timing under load (zero-downtime, crash-safety) run alone, after the rest,
// so another test's CPU use cannot turn a slow health check into a failed request; so do the
// fault-injection tests (test/faults), which time deadlines and count failed requests.
import { existsSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { spawn } from "node:child_process";

const tiers = process.argv.slice(2).length ? process.argv.slice(2) : ["unit", "integration", "e2e", "faults"];
const files = [];
const walk = (dir) => {
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p);
    else if (name.endsWith(".test.ts")) files.push(p);
  }
};
for (const tier of tiers) if (existsSync(join("test", tier))) walk(join("test", tier));
const ALONE = /(zero-downtime|crash-safety)\.test\.ts$|^test\/faults\//;
if (files.length === 0) {
  console.error(`no test files found in ${tiers.join(", ")}`);
  process.exit(1);
}
const groups = [
  { files: files.filter((f) => !ALONE.test(f)), concurrency: process.env.TEST_CONCURRENCY ?? "2" },
  { files: files.filter((f) => ALONE.test(f)), concurrency: "1" },
].filter((g) => g.files.length);

const totals = { pass: 0, fail: 0 };
let failed = false;
for (const g of groups) {
  const code = await new Promise((resolve) => {
    const child = spawn(process.execPath, ["--import", "tsx", "--test", `--test-concurrency=${g.concurrency}`, "--test-reporter=spec", ...g.files], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    let tail = "";
    child.stdout.on("data", (chunk) => {
      process.stdout.write(chunk);
      // The summary comes before the details of failing tests: keep enough to hold both.
      tail = (tail + chunk.toString()).slice(-1_000_000);
    });
    child.on("close", (c) => {
      totals.pass += Number(/ℹ pass (\d+)/.exec(tail)?.[1] ?? 0);
      totals.fail += Number(/ℹ fail (\d+)/.exec(tail)?.[1] ?? 0);
      resolve(c ?? 1);
    });
  });
  if (code !== 0) failed = true;
}
console.log(`${totals.pass} passed, ${totals.fail} failed`);
process.exit(failed || totals.fail > 0 ? 1 : 0);
