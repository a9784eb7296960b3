/**
 * The server core: the actions (deploy, rollback, cancel, lock, unlock) and reads behind the
 * API, the dashboard and chat. Requests queue per target (FIFO); a target runs one deploy at a
 * time, and none while it is locked. Deploys run in this process through the library
 * (src/index.ts) and every event is stored as it happens, so a client that disconnects stops
 * nothing. A deploy a stopped server left running is marked interrupted at start-up, with what
 * each host's `current` is now.
 */
import { readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { EventEmitter } from "node:events";
import { deploy, releases, rollback, SlipwayError, unlock, type Config, type SlipwayEvent } from "../index.js";
import { parseConfig } from "../config/load.js";
import { BUILD_ID } from "../config/patterns.js";
import type { DeployRequest, ServerActions, ServerReads } from "./context.js";
import type { LoadedServerConfig } from "./config.js";
import { ServeError } from "./errors.js";
import { roleAtLeast, type Actor, type AuditActor, type DeployEvent, type DeployRow, type Grant, type LockRow, type Role, type TargetStatus } from "./model.js";
import type { Store } from "./store.js";
import type { ArtifactStore } from "./artifact-store.js";
import type { SshPool } from "./ssh-pool.js";
import { roleFor } from "./tokens.js";
import { LiveEvents } from "./live-events.js";

/** Who asks, with the grants that decide what they may do. */
export interface Caller {
  actor: Actor;
  grants: readonly Grant[];
}

export interface CoreOptions {
  server: LoadedServerConfig;
  store: Store;
  artifacts: ArtifactStore;
  pool: SshPool;
  /** Called for every stored event (the webhook, tests). */
  onEvent?: (e: DeployEvent) => void;
}

/** The audit log's actor for what the server does by itself when it starts. */
const RESTART: AuditActor = { user: "server", via: "restart" };

/** Followers are woken at most this often per deploy (milliseconds). */
const NOTIFY_MS = 20;

export class Core {
  private readonly bus = new EventEmitter().setMaxListeners(0);
  private readonly active = new Map<string, Promise<void>>();
  private readonly notifying = new Map<number, NodeJS.Timeout>();
  /** Events of watched deploys, serialized once for every viewer. */
  readonly live: LiveEvents;
  private closing = false;
  /** Queues start once recover() has dealt with what a stopped server left. */
  private ready = false;

  constructor(private readonly o: CoreOptions) {
    this.live = new LiveEvents(o.store);
  }

  // --- configuration -------------------------------------------------------------------

  appNames(): string[] {
    return Object.keys(this.o.server.config.apps);
  }

  configFile(app: string): string {
    const file = this.o.server.appConfigs[app];
    if (!file) throw new ServeError(404, `app ${JSON.stringify(app)} not found`, `this server serves: ${this.appNames().join(", ") || "no app"}`);
    return file;
  }

  /** The app's config, read at each request (sync: a small file), so an edit applies without a restart. */
  appConfig(app: string): Config {
    const file = this.configFile(app);
    try {
      return parseConfig(readFileSync(file, "utf8"), file, path.basename(file) === "pyproject.toml");
    } catch (err) {
      throw new ServeError(
        500,
        `the config of app ${app} does not load: ${(err as Error).message}`,
        "fix it on the server; the server reads it at each request",
      );
    }
  }

  targetOf(app: string, target: string) {
    const config = this.appConfig(app);
    const t = config.targets[target];
    if (!t) throw new ServeError(404, `target ${JSON.stringify(target)} of app ${app} not found`, `targets: ${Object.keys(config.targets).join(", ")}`);
    return { config, target: t };
  }

  needsConfirm(app: string, target: string): boolean {
    return this.o.server.config.apps[app]?.targets[target]?.confirm ?? false;
  }

  /** The caller's role for app/target must be at least `need`: else 403 naming what is missing. */
  require(caller: Caller, app: string, target: string, need: Role): void {
    const have = roleFor(caller.grants, app, target);
    if (!have || !roleAtLeast(have, need)) {
      throw new ServeError(
        403,
        `${caller.actor.user} is ${have ? `a ${have}` : "not allowed"} on ${app}/${target}; this needs ${need}`,
        `ask an admin for a ${need} grant on ${app}/${target}`,
      );
    }
  }

  /** How the server reaches hosts: kept ssh masters. */
  get transport() {
    return this.o.pool.factory;
  }

  audit(actor: AuditActor, action: string, where: { app?: string; target?: string }, request: unknown, outcome: string): void {
    this.o.store.audit(actor, action, where, request, outcome);
  }

  // --- actions -------------------------------------------------------------------------

  deploy(caller: Caller, app: string, target: string, req: DeployRequest): DeployRow {
    this.require(caller, app, target, "deployer");
    this.targetOf(app, target);
    if (!BUILD_ID.test(req.build_id) || req.build_id.includes("..")) throw new ServeError(400, `build_id ${JSON.stringify(req.build_id)} is not a build id`);
    if (!this.o.store.artifact(app, req.build_id)) {
      throw new ServeError(404, `artifact ${app}/${req.build_id} not found`, `upload it first: slipway push ${app}-${req.build_id}.tar --server URL`);
    }
    return this.enqueue(caller.actor, { app, target, kind: "deploy", build_id: req.build_id, roles: req.roles, batch: req.batch }, req);
  }

  rollback(caller: Caller, app: string, target: string, req: { to?: string }): DeployRow {
    this.require(caller, app, target, "deployer");
    this.targetOf(app, target);
    if (req.to !== undefined && (!BUILD_ID.test(req.to) || req.to.includes(".."))) throw new ServeError(400, `to ${JSON.stringify(req.to)} is not a build id`);
    return this.enqueue(caller.actor, { app, target, kind: "rollback", build_id: req.to }, req);
  }

  private enqueue(actor: Actor, d: Parameters<Store["addDeploy"]>[0] extends infer P ? Omit<P, "actor"> : never, request: unknown): DeployRow {
    const row = this.o.store.addDeploy({ ...d, actor });
    this.o.store.audit(actor, d.kind, d, request, `queued #${row.id}`);
    this.record(row.id, { type: "queued", position: row.position ?? 1, user: actor.user, via: actor.via });
    this.kick(d.app, d.target);
    return this.o.store.deploy(row.id)!;
  }

  cancel(caller: Caller, id: number): DeployRow {
    const d = this.o.store.deploy(id);
    if (!d) throw new ServeError(404, `deploy ${id} not found`);
    this.require(caller, d.app, d.target, "deployer");
    if (d.state !== "queued")
      throw new ServeError(409, `deploy ${id} is ${d.state}; only a queued deploy can be cancelled`, "a running deploy finishes or fails on its own");
    if (this.o.store.finish(id, "cancelled", { error: `cancelled by ${caller.actor.user}` })) {
      this.record(id, { type: "state", state: "cancelled" });
      this.o.store.audit(caller.actor, "cancel", d, { id }, `cancelled #${id}`);
    }
    return this.o.store.deploy(id)!;
  }

  lock(caller: Caller, app: string, target: string, reason: string): LockRow {
    this.require(caller, app, target, "deployer");
    this.targetOf(app, target);
    if (!reason.trim()) throw new ServeError(400, "a lock needs a reason", 'send {"reason": "..."}');
    const held = this.o.store.lock(app, target);
    if (held) throw new ServeError(409, `${app}/${target} is already locked by ${held.user}: ${held.reason}`, "unlock it first");
    const row = this.o.store.setLock({ app, target, user: caller.actor.user, reason });
    this.o.store.audit(caller.actor, "lock", { app, target }, { reason }, "locked");
    return row;
  }

  unlock(caller: Caller, app: string, target: string, reason?: string): void {
    this.require(caller, app, target, "deployer");
    this.targetOf(app, target);
    const held = this.o.store.lock(app, target);
    if (!held) throw new ServeError(409, `${app}/${target} is not locked`);
    if (held.user !== caller.actor.user) {
      this.require(caller, app, target, "admin");
      if (!reason?.trim()) throw new ServeError(400, `the lock is ${held.user}'s: releasing it needs a reason`, 'send {"reason": "..."}');
    }
    this.o.store.clearLock(app, target);
    this.o.store.audit(caller.actor, "unlock", { app, target }, { reason }, `released ${held.user}'s lock`);
    this.kick(app, target);
  }

  // --- the runner ----------------------------------------------------------------------

  /** Start the target's next queued deploy when it is free and unlocked. */
  private kick(app: string, target: string): void {
    const key = `${app}\0${target}`;
    if (!this.ready || this.closing || this.active.has(key) || this.o.store.lock(app, target)) return;
    const next = this.o.store.queued(app, target)[0];
    if (!next) return;
    const run = this.run(next).finally(() => {
      this.active.delete(key);
      this.kick(app, target);
    });
    this.active.set(key, run);
  }

  private async run(d: DeployRow): Promise<void> {
    this.o.store.markRunning(d.id, { from: os.hostname(), pid: process.pid });
    this.record(d.id, { type: "state", state: "running" });
    const file = this.configFile(d.app);
    const emit = (e: SlipwayEvent) => this.record(d.id, e as unknown as DeployEvent["event"]);
    const common = { cwd: path.dirname(file), configPath: file, target: d.target, roles: d.roles, emit, transport: this.o.pool.factory };
    let work: string | undefined;
    try {
      let result: unknown;
      if (d.kind === "deploy") {
        work = await mkdtemp(path.join(this.o.server.dataDir, "tmp", `deploy-${d.id}-`));
        const artifact = await this.o.artifacts.materialize(d.app, d.build_id!, work);
        result = await deploy({ ...common, artifact, batch: d.batch });
      } else {
        const r = await rollback({ ...common, to: d.build_id });
        result = r;
        const failed = r.hosts.filter((h) => h.result === "failed");
        if (failed.length)
          throw Object.assign(new Error(`rollback failed on ${failed.map((h) => `${h.host}: ${h.error ?? "failed"}`).join("; ")}`), { result });
      }
      this.o.store.finish(d.id, "succeeded", { result });
      this.record(d.id, { type: "state", state: "succeeded" });
    } catch (err) {
      const e = err as Error & { hint?: string; result?: unknown };
      const text = e instanceof SlipwayError && e.hint ? `${e.message}\nhint: ${e.hint}` : e.message;
      this.o.store.finish(d.id, "failed", { error: text, result: e.result });
      this.record(d.id, { type: "state", state: "failed", error: text });
    } finally {
      if (work) await rm(work, { recursive: true, force: true });
    }
  }

  private record(id: number, event: DeployEvent["event"]): void {
    const stored = this.live.record(id, event);
    this.o.onEvent?.(stored);
    this.notify(id);
  }

  /**
   * Wake the deploy's followers (SSE viewers, chat) at most once per NOTIFY_MS: a deploy's
   * events come in bursts, and each wake costs every viewer a write. They read every event
   * stored meanwhile in one go.
   */
  private notify(id: number): void {
    if (this.notifying.has(id)) return;
    const timer = setTimeout(() => {
      this.notifying.delete(id);
      this.bus.emit(String(id));
    }, NOTIFY_MS);
    this.notifying.set(id, timer);
  }

  /**
   * At start-up: deploys a stopped server left running are interrupted — with what each host's
   * `current` is, read back, and the host locks they left — and the queues start again.
   */
  async recover(): Promise<void> {
    for (const d of this.o.store.inState("running")) {
      if (!this.o.store.finish(d.id, "interrupted", { error: "the server stopped while this deploy ran" })) continue;
      this.o.store.audit(RESTART, "interrupt", d, { id: d.id }, `interrupted #${d.id}: the server stopped while it ran`);
      this.record(d.id, { type: "state", state: "interrupted" });
      const file = this.o.server.appConfigs[d.app];
      if (!file) continue;
      const where = { cwd: path.dirname(file), configPath: file, target: d.target, transport: this.o.pool.factory };
      const interrupted: { hosts: Record<string, string | null>; lock?: string } = { hosts: {} };
      try {
        // The host locks the dead run took (this machine, its pid) are released: nothing else
        // can finish that run, and the next deploy must not find them. Others' locks stay.
        const runner = this.o.store.runnerOf(d.id);
        if (runner) {
          const u = await unlock({
            ...where,
            holder: (h) => h.from === runner.from && h.pid === runner.pid && h.target === d.target,
            confirm: async () => true,
          });
          const left = u.hosts.filter((h) => h.held_by && h.released).map((h) => h.host);
          if (left.length) {
            interrupted.lock = `left on ${left.join(", ")}; released at restart`;
            this.o.store.audit(RESTART, "host-unlock", d, { id: d.id, runner, hosts: left }, `released #${d.id}'s host locks on ${left.join(", ")}`);
          }
        }
        const r = await releases(where);
        interrupted.hosts = Object.fromEntries(r.hosts.map((h) => [h.host, h.current ?? null]));
      } catch (err) {
        interrupted.lock ??= `could not read the hosts: ${(err as Error).message}`;
      }
      this.o.store.setInterrupted(d.id, interrupted);
    }
    this.ready = true;
    for (const app of this.appNames()) {
      let targets: string[] = [];
      try {
        targets = Object.keys(this.appConfig(app).targets);
      } catch {}
      for (const t of targets) this.kick(app, t);
    }
  }

  /** Stop starting deploys; wait for the running ones. */
  async close(): Promise<void> {
    this.closing = true;
    await Promise.allSettled([...this.active.values()]);
  }

  // --- reads ---------------------------------------------------------------------------

  status(app: string, target: string): TargetStatus {
    const { target: t } = this.targetOf(app, target);
    const running = this.o.store.running(app, target);
    const last = this.o.store.lastFinished(app, target);
    const lock = this.o.store.lock(app, target);
    return {
      app,
      target,
      confirm: this.needsConfirm(app, target),
      roles: t.roles.map((r) => ({ name: r.name, hosts: r.hosts })),
      ...(lock ? { lock } : {}),
      ...(running ? { running } : {}),
      queue: this.o.store.queued(app, target),
      ...(last ? { last } : {}),
    };
  }

  readonly reads: Omit<ServerReads, "status" | "apps"> = {
    artifacts: (app) => {
      this.configFile(app);
      return this.o.store.artifacts(app);
    },
    deploy: (id) => this.o.store.deploy(id),
    events: (id, after) => this.live.after(id, after ?? 0).map(({ frame: _f, ...e }) => e),
    history: (f) => this.o.store.history(f),
    waitEvents: (id, afterSeq, signal) =>
      new Promise<void>((resolve) => {
        if (this.live.finished(id) || this.live.after(id, afterSeq).length) return resolve();
        const done = () => {
          this.bus.off(String(id), done);
          signal.removeEventListener("abort", done);
          resolve();
        };
        this.bus.on(String(id), done);
        signal.addEventListener("abort", done);
      }),
  };

  /** The actions as ServerContext names them, for one caller resolution rule. */
  actionsFor(grantsOf: (actor: Actor) => readonly Grant[]): ServerActions {
    const c = (actor: Actor): Caller => ({ actor, grants: grantsOf(actor) });
    return {
      deploy: (actor, app, target, req) => this.deploy(c(actor), app, target, req),
      rollback: (actor, app, target, req) => this.rollback(c(actor), app, target, req),
      cancel: (actor, id) => this.cancel(c(actor), id),
      lock: (actor, app, target, reason) => this.lock(c(actor), app, target, reason),
      unlock: (actor, app, target, reason) => this.unlock(c(actor), app, target, reason),
    };
  }
}
