import { createInterface } from "node:readline/promises";
import { UsageError } from "../errors.js";

/** Ask yes/no on the terminal; `yes` (from --yes) answers for the user. Without a terminal, --yes is required. */
export async function confirm(question: string, yes: boolean): Promise<boolean> {
  process.stderr.write(`${question}\n`);
  if (yes) return true;
  if (!process.stdin.isTTY) throw new UsageError("refusing to ask without a terminal", "pass --yes to confirm");
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return /^y(es)?$/i.test((await rl.question("[y/N] ")).trim());
  } finally {
    rl.close();
  }
}
