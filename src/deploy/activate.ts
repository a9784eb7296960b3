import { randomBytes } from "node:crypto";
import type { HealthConfig, RestartConfig, RoleConfig, TargetConfig } from "../config/schema.js";
import { SlipwayError } from "../errors.js";
import type { Emit, HostStep } from "../events.js";
import { describeCheck, describeOutcome, healthCommand, parseHealth, type HealthOutcome } from "../health/check.js";
import type { ExecResult } from "../transport/types.js";
import type { Balancer } from "../lb/balancers.js";
import { drainAgain, drainHost, restoreHost, type Hold } from "../lb/drain.js";
import { restartCommand, restartFailed, restartVerifyCommand } from "../procman/restart.js";
import { layout } from "./layout.js";
import { clearDrained, markDrained } from "./drained.js";
import { RemoteStepError, type HostSession } from "./session.js";
import { parseSwitched, SWITCHED, switchCurrent, switchThenRun, undoPrevious, type PreviousMode } from "./switch.js";
import { ChainReader, switchThenChain, type ChainItem } from "./switch-chain.js";

/** Everything one host's activation needs (SPEC §5 steps 7–10). */
export interface Activation {
  session: HostSession;
  root: string;
  target: TargetConfig;
  balancers: readonly Balancer[];
  env: Record<string, string>;
  emit: Emit;
  /**
   * The host's other roles in this run (roles.ts), after the one whose restart and health are
   * `target`'s: switched once, each of their restarts and health checks runs after the first.
   */
  otherRoles?: readonly RoleConfig[];
  /** Servers a killed earlier run drained for this host and never put back (the preflight read them: drained.ts). */
  drainedBefore?: readonly string[];
  /**
   * Switch, restart and health-check in one round trip (switch-chain.ts), each still its own
   * step: a rollback's. A deploy runs them as separate round trips.
   */
  oneTrip?: boolean;
}

/** Where a host was before its switch: what switching it back restores, `previous` included. */
export interface Before {
  /** The build id `current` pointed at, if any. */
  current?: string;
  /** How a switch back to `current` sets `previous`: as it was before this switch. */
  previous: PreviousMode;
}

/** How an activation that failed left the host. */
export interface ActivationOutcome {
  /** current was never switched (the switch itself failed): the host is on the release it had. */
  notSwitched?: boolean;
  /** Switched back to this build id. */
  rolledBackTo?: string;
  /** A switch back to this build id was tried, and the switch itself failed (see rollbackProblem). */
  notRolledBackTo?: string;
  /** The switch back was tried and failed too. */
  rollbackProblem?: string;
  /** Putting the server back in HAProxy failed (it may still be drained). */
  rotationProblem?: string;
}

/** A host failed its switch, restart or health check; it was switched back (see `outcome`). */
export class ActivationError extends SlipwayError {
  constructor(
    readonly host: string,
    readonly reason: string,
    readonly outcome: ActivationOutcome,
  ) {
    const { notSwitched, rolledBackTo, notRolledBackTo, rollbackProblem, rotationProblem } = outcome;
    const back = rotationProblem ? `, but not back in rotation: ${rotationProblem}` : " and back in rotation";
    super(
      `${host}: ${reason}` +
        (notSwitched
          ? `\n${host}: current was not switched: still on the release it had${back}`
          : rolledBackTo
            ? rollbackProblem
              ? `\n${host}: switched back to ${rolledBackTo}, but it is not healthy either: ${rollbackProblem}`
              : `\n${host}: switched back to ${rolledBackTo}, restarted, healthy${back}`
            : notRolledBackTo
              ? `\n${host}: could not be switched back to ${notRolledBackTo}: ${rollbackProblem}`
              : `\n${host}: there is no previous release to switch back to`) +
        (rotationProblem && !notSwitched && !(rolledBackTo && !rollbackProblem) ? `\n${host}: not back in rotation: ${rotationProblem}` : ""),
      (notSwitched || (rolledBackTo && !rollbackProblem)) && !rotationProblem
        ? "fix the cause and deploy again"
        : "the host needs attention: check the app's logs on it and its state in HAProxy",
    );
  }
}

/**
 * Activate `buildId` on one host: drain it in HAProxy (wait for in-flight requests), switch
 * `current`, restart, health-check on the host, put it back in rotation. If the restart or the
 * check fails, switch back to the release that was current (and `previous` to what it was),
 * restart, check it. On every path the host's servers end as they were before the drain: a
 * server an operator had in MAINT or DRAIN is never touched. Throws an ActivationError saying
 * what was seen; returns where the host was before.
 */
export async function activate(a: Activation, buildId: string, opts: { rollbackOnFailure?: boolean; previous?: PreviousMode } = {}): Promise<Before> {
  const s = a.session;
  const warn = (message: string) => a.emit({ type: "log", level: "warn", message });
  // The host records what is drained for it before the first drain, so that a run killed
  // before its ready leaves the next run a way to tell its own DRAIN from an operator's.
  const record = (servers: string[]) => s.run("drain", markDrained(a.root, servers)).then(() => undefined);
  const hold = await s.step("drain", () => drainHost(a.balancers, s.host, warn, { ours: a.drainedBefore, beforeDrain: record }), describeHold);
  for (const k of hold.drained.filter((d) => a.drainedBefore?.includes(`${d.b.config.backend}/${d.server}`))) {
    warn(`${s.host}: HAProxy server ${k.b.config.backend}/${k.server} was left in DRAIN by an earlier run that was killed: this run puts it back in rotation`);
  }
  for (const k of hold.kept) {
    warn(
      `${s.host}: HAProxy server ${k.server} (${k.where}) was in ${k.state.toUpperCase()} before this run: ` +
        `it gets the release but stays in ${k.state.toUpperCase()}, out of rotation (\`set server ${k.server} state ready\` puts it in)`,
    );
  }
  if (hold.remaining > 0) warn(`${s.host}: ${hold.remaining} request(s) still in flight after drain_timeout; restarting anyway`);
  let before: Before | undefined;
  let readied = false;
  try {
    if (a.oneTrip) {
      const trip = await switchAndCheck(a, buildId, opts.previous ?? "shift");
      before = trip.before;
      await trip.rest();
    } else {
      const sw = await switchAndRestart(a, buildId, opts.previous ?? "shift");
      before = sw.before;
      await sw.restarted();
      await restartOtherRoles(a);
      await healthCheck(a, buildId);
    }
    readied = true;
    await s.step(
      "ready",
      () => restoreAndClear(a, hold),
      (r) => r.status,
    );
    return before;
  } catch (err) {
    const reason = (err as Error).message.replace(new RegExp(`^${escapeRe(s.host)}: `), "");
    const outcome: ActivationOutcome = { notSwitched: before === undefined };
    // Put back in rotation but never seen UP: out again while it is switched back.
    if (readied) await drainAgain(hold).catch(() => undefined);
    const old = before?.current;
    if (before && old && old !== buildId && (opts.rollbackOnFailure ?? true)) {
      const previous = before.previous;
      await s.step(
        "rollback",
        async () => {
          try {
            const back = await switchAndRestart(a, old, previous);
            outcome.rolledBackTo = old;
            await back.restarted();
            await restartOtherRoles(a);
            await healthCheck(a, old);
          } catch (again) {
            outcome.rollbackProblem = (again as Error).message;
            if (!outcome.rolledBackTo) outcome.notRolledBackTo = old;
          }
        },
        () => `back to ${old}`,
      );
    }
    outcome.rotationProblem = await s
      .step(
        "ready",
        () => restoreAndClear(a, hold),
        (r) => r.status,
      )
      .then(
        () => undefined,
        (e: Error) => e.message,
      );
    throw new ActivationError(s.host, reason, outcome);
  }
}

/** Put the host's servers back; once they all are, the host forgets them (drained.ts). */
async function restoreAndClear(a: Activation, hold: Hold): Promise<{ ms: number; status: string }> {
  const r = await restoreHost(hold);
  if (hold.drained.length) await a.session.run("ready", clearDrained(a.root));
  return r;
}

function describeHold(h: Hold): string {
  if (!h.behind) return "not behind HAProxy";
  const parts = [
    h.drained.length ? `waited ${h.ms} ms${h.remaining ? `, ${h.remaining} still in flight at drain_timeout` : ", none in flight"}` : "not drained",
  ];
  if (h.kept.length) parts.push(h.kept.map((k) => `${k.server} left in ${k.state.toUpperCase()}`).join(", "));
  if (h.waited.servers.length) parts.push(`first waited ${h.waited.ms} ms for ${h.waited.servers.join(", ")} to be UP`);
  return parts.join("; ");
}

const releaseOf = (link: string | undefined) => /releases\/([^/\n]+)/.exec(link ?? "")?.[1];

function beforeOf(stdout: string): Before {
  return { current: releaseOf(parseSwitched(stdout).current), previous: undoPrevious(stdout) };
}

/**
 * Switch `current` and restart in one round trip (switch.ts switchThenRun): the "switch" step
 * ends when the host reports the switch, then `restarted()` is the "restart" step, ending with
 * the restart command. Resolves with where the host was. A failed switch throws here, with
 * nothing restarted and neither link changed.
 */
async function switchAndRestart(a: Activation, buildId: string, previous: PreviousMode): Promise<{ before: Before; restarted: () => Promise<void> }> {
  const s = a.session;
  const restart = restartCommand(a.target.restart, layout(a.root).current, a.env);
  if (!restart) {
    const out = await s.step(
      "switch",
      () => s.run("switch", switchCurrent(a.root, buildId, previous)),
      () => `current → releases/${buildId}`,
    );
    return { before: beforeOf(out.stdout), restarted: async () => {} };
  }
  const argv = switchThenRun(a.root, buildId, restart, previous);
  let stdout = "";
  let reportSwitched!: () => void;
  const switched = new Promise<void>((r) => (reportSwitched = r));
  const marker = new RegExp(`(^|\n)${SWITCHED}\n`);
  const running = s.transport.exec(argv, {
    onStdout: (text) => {
      stdout += text;
      if (marker.test(stdout)) reportSwitched();
    },
  });
  running.catch(() => {}); // awaited below; this only keeps an early rejection from counting as unhandled
  await s.step(
    "switch",
    async () => {
      const ended = await Promise.race([switched.then(() => undefined), running]);
      if (ended && !marker.test(ended.stdout)) throw s.failure("switch", argv, ended.code === 0 ? { ...ended, code: 1 } : ended);
    },
    () => `current → releases/${buildId}`,
  );
  const before = beforeOf(stdout.slice(0, stdout.search(marker) + 1));
  const restarted = () =>
    s.step(
      "restart",
      async () => {
        const r = await running;
        await judgeRestart(s, a.target.restart, restart, r.code, `${r.stdout.slice(r.stdout.search(marker)).replace(marker, "")}${r.stderr}`);
      },
      () => a.target.restart.manager,
    );
  return { before, restarted };
}

/** The restarts of the host's other roles (a role whose restart is the first's is not restarted twice). */
async function restartOtherRoles(a: Activation): Promise<void> {
  const s = a.session;
  const done = [a.target.restart];
  for (const role of a.otherRoles ?? []) {
    if (done.some((r) => sameTable(r, role.restart))) continue;
    done.push(role.restart);
    const argv = restartCommand(role.restart, layout(a.root).current, a.env);
    if (!argv) continue;
    await s.step(
      "restart",
      async () => {
        const r = await s.transport.exec(argv);
        await judgeRestart(s, role.restart, argv, r.code, `${r.stdout}${r.stderr}`, `role ${role.name}: `);
      },
      () => `${role.restart.manager} (role ${role.name})`,
    );
  }
}

/** A restart that ran: failed (by its exit and output, restart.ts), or, for systemd, verified active. */
async function judgeRestart(s: HostSession, restart: RestartConfig, argv: readonly string[], code: number, output: string, role = ""): Promise<void> {
  throwIfRestartFailed(s, restart, argv, code, output, role);
  const verify = restartVerifyCommand(restart);
  if (verify) await s.run("restart", verify, { hint: VERIFY_HINT });
}

const VERIFY_HINT = "a unit is not active after its restart: see `systemctl status` on the host";

function throwIfRestartFailed(s: HostSession, restart: RestartConfig, argv: readonly string[], code: number, output: string, role = ""): void {
  if (restartFailed(restart.manager, code, output)) {
    throw new RemoteStepError(s.host, "restart", argv, code, output, `${role}check the process manager's logs on the host`);
  }
}

/** Two roles' tables with the same settings: restarted or checked once. */
const sameTable = (x: object, y: object) => JSON.stringify(x) === JSON.stringify(y);

/** Every role's health check on the host: the first role's, then the others' (each different one once). */
async function healthCheck(a: Activation, build: string): Promise<void> {
  for (const health of healthChecks(a)) await healthCheckOne(a, health, build);
}

function healthChecks(a: Activation): HealthConfig[] {
  const checks = [a.target.health];
  for (const role of a.otherRoles ?? []) if (!checks.some((h) => sameTable(h, role.health))) checks.push(role.health);
  return checks;
}

/** Poll the host until `build` answers healthy (health.expect_build: an old process answering fails it). */
async function healthCheckOne(a: Activation, health: HealthConfig, build: string): Promise<void> {
  const s = a.session;
  const check = healthCommand(health, layout(a.root).current, { build, dir: layout(a.root).release(build) });
  if (check) {
    await s.step(
      "health",
      async () => judgeHealth(s, health, build, await s.transport.exec(check)),
      (o) => describeHealthy(health, o),
    );
  }
}

/** A health poll that ended: its outcome when healthy, else the error saying what it saw. */
function judgeHealth(s: HostSession, health: HealthConfig, build: string, r: ExecResult): HealthOutcome {
  const outcome = parseHealth(r.stdout);
  if (r.code === 0 && outcome?.ok) return outcome;
  const saw = outcome ? describeOutcome(outcome, build) : `the poller failed (exit ${r.code}): ${r.stderr.trim().slice(-300)}`;
  throw new SlipwayError(`${s.host}: health check ${describeCheck(health)} failed: ${saw}`);
}

const describeHealthy = (health: HealthConfig, o: HealthOutcome) =>
  `${describeCheck(health)} ok in ${o.ms} ms (${o.attempts} attempt${o.attempts === 1 ? "" : "s"})`;

/**
 * switchAndRestart, restartOtherRoles and healthCheck in ONE round trip (switch-chain.ts): the
 * host switches, restarts every role's programs, verifies systemd units and polls every health
 * check in turn, stopping at the first failure. Each is reported as its own step as the host
 * reports it done, and judged as there (the same errors). Resolves with where the host was once
 * the switch is reported; `rest()` is the restart and health steps, and settles only after the
 * round trip ended, so nothing else runs on the host meanwhile.
 */
async function switchAndCheck(a: Activation, buildId: string, previous: PreviousMode): Promise<{ before: Before; rest: () => Promise<void> }> {
  const s = a.session;
  const current = layout(a.root).current;
  const items: ChainItem[] = [];
  const add = (argv: readonly string[], check: ChainItem["check"] = "exit") => items.push({ argv, check });
  const restarts: { restart: RestartConfig; argv: readonly string[]; verify?: readonly string[]; role?: RoleConfig }[] = [];
  const queue = (restart: RestartConfig, role?: RoleConfig) => {
    const argv = restartCommand(restart, current, a.env);
    if (!argv) return;
    const verify = restartVerifyCommand(restart);
    add(argv, restart.manager === "supervisord" ? "supervisord" : "exit");
    if (verify) add(verify);
    restarts.push({ restart, argv, verify, role });
  };
  // Which restarts and checks, in which order: as switchAndRestart, restartOtherRoles and healthCheck.
  queue(a.target.restart);
  const done = [a.target.restart];
  for (const role of a.otherRoles ?? []) {
    if (done.some((r) => sameTable(r, role.restart))) continue;
    done.push(role.restart);
    queue(role.restart, role);
  }
  const checks = healthChecks(a).flatMap((health) => {
    const argv = healthCommand(health, current, { build: buildId, dir: layout(a.root).release(buildId) });
    return argv ? [{ health, argv }] : [];
  });
  for (const c of checks) add(c.argv);

  const nonce = randomBytes(8).toString("hex");
  const argv = switchThenChain(a.root, buildId, previous, nonce, items);
  const reader = new ChainReader(nonce);
  const running = s.transport.exec(argv, { onStdout: (text) => reader.push(text) });
  running.then(
    (r) => reader.end(r),
    (e: Error) => reader.fail(e),
  );
  /** The n-th command's end; a round trip that ended before it is that command's failure. */
  const step = async (n: number, what: readonly string[], stepName: HostStep): Promise<ExecResult> => {
    const { parsed, ended } = await reader.until(n + 1);
    const r = parsed.steps[n];
    if (r) return { code: r.code, stdout: r.output, stderr: "" };
    throw s.failure(stepName, what, ended!.code === 0 ? { ...ended!, code: 1 } : ended!);
  };
  let before!: Before;
  await s.step(
    "switch",
    async () => {
      const { parsed, ended } = await reader.until(0);
      if (!parsed.switched) throw s.failure("switch", argv, ended!.code === 0 ? { ...ended!, code: 1 } : ended!);
      before = beforeOf(parsed.before);
    },
    () => `current → releases/${buildId}`,
  );
  const rest = async () => {
    try {
      let n = 0;
      for (const r of restarts) {
        const role = r.role ? `role ${r.role.name}: ` : "";
        await s.step(
          "restart",
          async () => {
            const out = await step(n++, r.argv, "restart");
            throwIfRestartFailed(s, r.restart, r.argv, out.code, out.stdout, role);
            if (r.verify) {
              const v = await step(n++, r.verify, "restart");
              if (v.code !== 0) throw s.failure("restart", r.verify, v, VERIFY_HINT);
            }
          },
          () => (r.role ? `${r.restart.manager} (role ${r.role.name})` : r.restart.manager),
        );
      }
      for (const c of checks) {
        await s.step(
          "health",
          async () => {
            const out = await step(n++, c.argv, "health");
            return judgeHealth(s, c.health, buildId, { ...out, stderr: out.stdout });
          },
          (o) => describeHealthy(c.health, o),
        );
      }
    } finally {
      await running.catch(() => undefined); // the round trip ends before anything else runs on the host
    }
  };
  return { before, rest };
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
