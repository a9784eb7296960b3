// Small helpers every bench shares: the median of a sample, and the --json lines of a CLI run.

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Every non-empty line of a `--json` run's stdout, parsed (one event per line); a line that is not JSON throws, naming it. */
export function jsonLines(stdout: string, what = "slipway"): Record<string, any>[] {
  return stdout
    .split("\n")
    .filter((l) => l.trim())
    .map((l) => {
      try {
        return JSON.parse(l) as Record<string, any>;
      } catch {
        throw new Error(`${what}: stdout line is not JSON: ${l.slice(0, 300)}`);
      }
    });
}
