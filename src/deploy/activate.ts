import type { TargetConfig } from "../config/schema.js";
import { SlipwayError } from "../errors.js";
import type { Emit } from "../events.js";
import { describeCheck, describeOutcome, healthCommand, parseHealth } from "../health/check.js";
import { drainHost, readyHost, type Balancer } from "../lb/balancers.js";
import { restartCommand, restartFailed, restartVerifyCommand } from "../procman/restart.js";
import { layout } from "./layout.js";
import { RemoteStepError, type HostSession } from "./session.js";
import { SWITCHED, switchCurrent, switchThenRun } from "./switch.js";

/** Everything one host's activation needs (SPEC §5 steps 7–10). */
export interface Activation {
  session: HostSession;
  root: string;
  target: TargetConfig;
  balancers: readonly Balancer[];
  env: Record<string, string>;
  emit: Emit;
}

/** A host failed its restart or health check; it was switched back (see `rolledBackTo`). */
export class ActivationError extends SlipwayError {
  constructor(
    readonly host: string,
    readonly reason: string,
    readonly rolledBackTo: string | undefined,
    readonly rollbackProblem?: string,
  ) {
    super(
      `${host}: ${reason}` +
        (rolledBackTo
          ? rollbackProblem
            ? `\n${host}: switched back to ${rolledBackTo}, but it is not healthy either: ${rollbackProblem}`
            : `\n${host}: switched back to ${rolledBackTo}, restarted, healthy and back in rotation`
          : `\n${host}: there is no previous release to switch back to`),
      rolledBackTo && !rollbackProblem ? "fix the release and deploy a new build" : "the host needs attention: check the app's logs on it",
    );
  }
}

/**
 * Activate `buildId` on one host: drain it in HAProxy (wait for in-flight requests), switch
 * `current`, restart, health-check on the host, put it back in rotation. If the restart or the
 * check fails, switch back to the release that was current, restart, check it, put it back,
 * and throw an ActivationError saying what was seen. Returns the release that was current.
 */
export async function activate(a: Activation, buildId: string, opts: { rollbackOnFailure: boolean } = { rollbackOnFailure: true }): Promise<string | undefined> {
  const s = a.session;
  const drained = await s.step("drain", () => drainHost(a.balancers, s.host), (d) => (d.drained ? `waited ${d.ms} ms${d.remaining ? `, ${d.remaining} still in flight at drain_timeout` : ", none in flight"}` : "not behind HAProxy"));
  if (drained.remaining > 0) {
    a.emit({ type: "log", level: "warn", message: `${s.host}: ${drained.remaining} request(s) still in flight after drain_timeout; restarting anyway` });
  }
  const { old, restarted } = await switchAndRestart(a, buildId);
  try {
    await restarted();
    await healthCheck(a);
    await s.step("ready", () => readyHost(a.balancers, s.host), (r) => r.status);
  } catch (err) {
    const reason = (err as Error).message.replace(new RegExp(`^${escapeRe(s.host)}: `), "");
    if (!opts.rollbackOnFailure || !old || old === buildId) {
      await s.step("ready", () => readyHost(a.balancers, s.host)).catch(() => undefined);
      throw new ActivationError(s.host, reason, undefined);
    }
    let problem: string | undefined;
    await s.step("rollback", async () => {
      try {
        const back = await switchAndRestart(a, old);
        await back.restarted();
        await healthCheck(a);
      } catch (again) {
        problem = (again as Error).message;
      }
    }, () => `back to ${old}`);
    await s.step("ready", () => readyHost(a.balancers, s.host)).catch(() => undefined);
    throw new ActivationError(s.host, reason, old, problem);
  }
  return old;
}

const releaseOf = (stdout: string) => /releases\/([^/\n]+)/.exec(/^old=(.*)$/m.exec(stdout)?.[1] ?? "")?.[1];

/**
 * Switch `current` and restart in one round trip (switch.ts switchThenRun): the "switch" step
 * ends when the host reports the switch, then `restarted()` is the "restart" step, ending with
 * the restart command. Resolves with the release that was current. A failed switch throws here,
 * with nothing restarted.
 */
async function switchAndRestart(a: Activation, buildId: string): Promise<{ old: string | undefined; restarted: () => Promise<void> }> {
  const s = a.session;
  const restart = restartCommand(a.target.restart, layout(a.root).current, a.env);
  if (!restart) {
    const out = await s.step("switch", () => s.run("switch", switchCurrent(a.root, buildId)), () => `current → releases/${buildId}`);
    return { old: releaseOf(out.stdout), restarted: async () => {} };
  }
  const argv = switchThenRun(a.root, buildId, restart);
  let stdout = "";
  let reportSwitched!: () => void;
  const switched = new Promise<void>((r) => (reportSwitched = r));
  const marker = new RegExp(`(^|\n)${SWITCHED}\n`);
  const running = s.transport.exec(argv, { onStdout: (text) => { stdout += text; if (marker.test(stdout)) reportSwitched(); } });
  running.catch(() => {}); // awaited below; this only keeps an early rejection from counting as unhandled
  await s.step("switch", async () => {
    const ended = await Promise.race([switched.then(() => undefined), running]);
    if (ended && !marker.test(ended.stdout)) throw s.failure("switch", argv, ended.code === 0 ? { ...ended, code: 1 } : ended);
  }, () => `current → releases/${buildId}`);
  const old = releaseOf(stdout);
  const restarted = () => s.step("restart", async () => {
    const r = await running;
    const output = `${r.stdout.slice(r.stdout.search(marker)).replace(marker, "")}${r.stderr}`;
    if (restartFailed(a.target.restart.manager, r.code, output)) {
      throw new RemoteStepError(s.host, "restart", restart, r.code, output, "check the process manager's logs on the host");
    }
    const verify = restartVerifyCommand(a.target.restart);
    if (verify) await s.run("restart", verify, { hint: "a unit is not active after its restart: see `systemctl status` on the host" });
  }, () => a.target.restart.manager);
  return { old, restarted };
}

async function healthCheck(a: Activation): Promise<void> {
  const s = a.session;
  const check = healthCommand(a.target.health, layout(a.root).current);
  if (check) {
    await s.step("health", async () => {
      const r = await s.transport.exec(check);
      const outcome = parseHealth(r.stdout);
      if (r.code === 0 && outcome?.ok) return outcome;
      const saw = outcome ? describeOutcome(outcome) : `the poller failed (exit ${r.code}): ${r.stderr.trim().slice(-300)}`;
      throw new SlipwayError(`${s.host}: health check ${describeCheck(a.target.health)} failed: ${saw}`);
    }, (o) => `${describeCheck(a.target.health)} ok in ${o.ms} ms (${o.attempts} attempt${o.attempts === 1 ? "" : "s"})`);
  }
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
