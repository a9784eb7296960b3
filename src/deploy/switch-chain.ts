import { shJoin } from "../transport/quote.js";
import type { ExecResult } from "../transport/types.js";
import { sh } from "./layout.js";
import { mode, SWITCH_FN, SWITCHED, type PreviousMode } from "./switch.js";

/**
 * One command of a chain: its argv, and how the host tells that it failed (and stops there):
 * by its exit status, or also by an ERROR line in its output, as a supervisorctl that exits 0
 * reports one (procman/restart.ts restartFailed).
 */
export interface ChainItem {
  argv: readonly string[];
  check: "exit" | "supervisord";
}

/**
 * Switch, then run each command in turn, all in one round trip (a rollback's switch, restarts
 * and health checks: ≤ 3 round trips per host). Prints SWITCHED once `current` is switched, as
 * switchThenRun does, then each command's output (stderr merged into stdout, so it stays with
 * its command), each followed by `slipway-step-<nonce> <index> <status>`. The first failure
 * ends the chain: what comes after it does not run, as when each was a round trip of its own.
 * Each command runs in a subshell, as the session driver runs one. A supervisord restart's
 * output is read into the script to be checked; it leaves no process behind holding it.
 */
const CHAIN = `${SWITCH_FN}
switch_to "$1" "$2" "$3" || exit $?
nonce=$4; shift 4
echo ${SWITCHED}
i=0
while [ $# -ge 2 ]; do
  check=$1 cmd=$2 failed=""; shift 2
  if [ "$check" = supervisord ]; then
    out=$( (eval "$cmd") 2>&1 < /dev/null ); rc=$?
    [ -z "$out" ] || printf '%s\\n' "$out"
    [ "$rc" = 0 ] && printf '%s\\n' "$out" | grep -v 'ERROR (not running)' | grep -qw ERROR && failed=1
  else
    (eval "$cmd") 2>&1 < /dev/null; rc=$?
  fi
  printf 'slipway-step-%s %s %s\\n' "$nonce" "$i" "$rc"
  [ "$rc" = 0 ] || exit "$rc"
  [ -z "$failed" ] || exit 1
  i=$((i + 1))
done`;

/** The nonce must be hex (it is matched in a RegExp and printed by printf as is). */
export function switchThenChain(root: string, buildId: string, previous: PreviousMode, nonce: string, items: readonly ChainItem[]): string[] {
  if (!/^[0-9a-f]{8,}$/.test(nonce)) throw new Error(`bad chain nonce ${nonce}`);
  return sh(CHAIN, root, buildId, mode(previous), nonce, ...items.flatMap((i) => [i.check, shJoin(i.argv)]));
}

/** One command's end, as the host reported it: its status and its output (stdout and stderr). */
export interface ChainStep {
  code: number;
  output: string;
}

/** What a chain's stdout says so far (pure): the text before SWITCHED (the switch's), and each command that ended. */
export function parseChain(stdout: string, nonce: string): { switched: boolean; before: string; steps: ChainStep[] } {
  const at = new RegExp(`(^|\n)${SWITCHED}\n`).exec(stdout);
  if (!at) return { switched: false, before: stdout, steps: [] };
  const before = stdout.slice(0, at.index + at[1]!.length);
  let rest = stdout.slice(at.index + at[0].length);
  const steps: ChainStep[] = [];
  const marker = new RegExp(`slipway-step-${nonce} (\\d+) (\\d+)\n`);
  for (let m = marker.exec(rest); m && Number(m[1]) === steps.length; m = marker.exec(rest)) {
    steps.push({ code: Number(m[2]), output: rest.slice(0, m.index) });
    rest = rest.slice(m.index + m[0].length);
  }
  return { switched: true, before, steps };
}

/**
 * Follows a running chain: `until(n)` settles once the host reported n commands done (n = 0:
 * the switch), or the round trip ended first (then with its result, for the error). Rejects
 * only when the host could not be reached.
 */
export class ChainReader {
  private stdout = "";
  private parsed: ReturnType<typeof parseChain>;
  private ended?: ExecResult;
  private lost?: Error;
  private waiters: (() => void)[] = [];

  constructor(private readonly nonce: string) {
    this.parsed = parseChain("", nonce);
  }

  push(text: string): void {
    this.stdout += text;
    this.parsed = parseChain(this.stdout, this.nonce);
    this.wake();
  }

  end(r: ExecResult): void {
    this.ended = r;
    this.parsed = parseChain(r.stdout, this.nonce);
    this.wake();
  }

  fail(err: Error): void {
    this.lost = err;
    this.wake();
  }

  /** The switch (n = 0) or the n-th command done; `ended` when the round trip ended without it. */
  async until(n: number): Promise<{ parsed: ReturnType<typeof parseChain>; ended?: ExecResult }> {
    for (;;) {
      const p = this.parsed;
      if (p.switched && p.steps.length >= n) return { parsed: p };
      if (this.ended) return { parsed: p, ended: this.ended };
      if (this.lost) throw this.lost;
      await new Promise<void>((r) => this.waiters.push(r));
    }
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const r of w) r();
  }
}
