import type { Config } from "../config/schema.js";
import { SlipwayError } from "../errors.js";
import type { Emit } from "../events.js";
import type { HostSession } from "./session.js";
import { countPending, runUserCommand } from "./steps.js";

/** What the migrations check saw (SPEC §5 step 5). */
export interface MigrationsOutcome {
  host: string;
  pending: number;
  output: string;
}

/**
 * SPEC §5 step 5, on one host (the first of deploy.migrations.role): the check, shown; with
 * policy "block", pending ones stop the deploy; with "run", `run` applies them — once, before
 * any host switches.
 */
export async function runMigrations(
  config: Config,
  first: HostSession,
  release: string,
  env: Record<string, string>,
  emit: Emit,
): Promise<MigrationsOutcome | undefined> {
  const m = config.deploy.migrations;
  let outcome: MigrationsOutcome | undefined;
  if (m.check) {
    const r = await first.step(
      "migrate",
      () => runUserCommand(first, "migrate", release, m.check, env, "the migrations check failed: no host was switched"),
      (r) => `${countPending(r.stdout)} pending`,
    );
    outcome = { host: first.host, pending: countPending(r.stdout), output: r.stdout };
    emit({ type: "migrations", host: first.host, pending: outcome.pending, output: r.stdout });
    if (m.policy === "block" && outcome.pending > 0) {
      throw new SlipwayError(
        `${outcome.pending} migration(s) pending and deploy.migrations.policy = "block": no host was switched`,
        'apply them first (or set policy = "run" to have slipway run them before the switch)',
      );
    }
  }
  if (m.policy === "run" && m.run) {
    await first.step("migrate", () => runUserCommand(first, "migrate", release, m.run, env, "migrations failed: no host was switched"));
  }
  return outcome;
}
