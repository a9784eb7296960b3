/**
 * A bench's entry point: run `main`, exit 0, or 1 with the stack if the bench itself broke.
 * Ctrl-C / kill exit through process.exit too, so the exit hooks (fleets, temp dirs) clean up.
 */
export function runBench(main: () => Promise<void>): void {
  process.on("SIGINT", () => process.exit(130));
  process.on("SIGTERM", () => process.exit(143));
  main().then(
    () => process.exit(0),
    (err: Error) => {
      console.error(`bench failed: ${err.stack ?? err.message}`);
      process.exit(1);
    },
  );
}

/** Host steps in the order a deploy takes them (tables print them so). */
export const STEP_ORDER = [
  "connect",
  "preflight",
  "lock",
  "list",
  "clean",
  "venv",
  "stage",
  "send",
  "unpack",
  "migrate",
  "hooks",
  "drain",
  "switch",
  "restart",
  "health",
  "ready",
  "rollback",
  "after-hooks",
  "record",
  "prune",
  "unlock",
  "finish",
];
