/**
 * An in-memory ServerContext for the dashboard's tests: apps, tokens, artifacts and deploys in
 * plain arrays. Role checks use the server's real roleFor; a deploy can be made to "run" with
 * scripted events (the browser test's live page). Not a model of the core's queue.
 */
import { randomBytes } from "node:crypto";
import type { ServerContext } from "../../src/serve/context.js";
import { conflict, forbidden, notFound } from "../../src/serve/errors.js";
import {
  FINISHED,
  roleAtLeast,
  type Actor,
  type ArtifactRow,
  type DeployEvent,
  type DeployRow,
  type Grant,
  type LockRow,
  type Role,
} from "../../src/serve/model.js";
import { roleFor } from "../../src/serve/tokens.js";

export interface FakeApp {
  name: string;
  targets: { name: string; confirm?: boolean; roles: { name: string; hosts: string[] }[] }[];
}

export class FakeServer {
  readonly tokens = new Map<string, { user: string; grants: Grant[]; id: number }>();
  readonly sessionsById = new Map<string, string>();
  readonly artifacts: ArtifactRow[] = [];
  readonly deploys: DeployRow[] = [];
  readonly events = new Map<number, DeployEvent[]>();
  readonly locks = new Map<string, LockRow>();
  /** Every action call, for tests that check what a form did (or that it did nothing). */
  readonly calls: { action: string; actor: Actor; args: unknown[] }[] = [];
  private readonly waiters = new Set<() => void>();
  /** When set, a queued deploy runs through these steps on every host, `stepMs` apart. */
  run?: { stepMs: number; steps: string[] };

  constructor(readonly apps: FakeApp[]) {}

  addToken(token: string, user: string, grants: Grant[]): void {
    this.tokens.set(token, { user, grants, id: this.tokens.size + 1 });
  }

  addDeploy(row: Partial<DeployRow> & Pick<DeployRow, "app" | "target" | "state">, events: DeployEvent["event"][] = []): DeployRow {
    const full: DeployRow = { id: this.deploys.length + 1, kind: "deploy", user: "alice", via: "api", created_at: new Date().toISOString(), ...row };
    this.deploys.push(full);
    this.events.set(full.id, []);
    for (const e of events) this.emit(full.id, e);
    return full;
  }

  emit(id: number, event: DeployEvent["event"]): void {
    const list = this.events.get(id)!;
    list.push({ deploy_id: id, seq: list.length + 1, at: new Date().toISOString(), event });
    for (const w of [...this.waiters]) w();
  }

  private target(app: string, target: string) {
    const t = this.apps.find((a) => a.name === app)?.targets.find((x) => x.name === target);
    if (!t) throw notFound(`target ${app}/${target}`);
    return t;
  }

  private need(actor: Actor, app: string, target: string, role: Role): void {
    const grants = [...this.tokens.values()].find((t) => t.user === actor.user)?.grants ?? [];
    const have = roleFor(grants, app, target);
    if (!have || !roleAtLeast(have, role)) throw forbidden(`${actor.user} needs ${role} on ${app}/${target}`);
  }

  private queue(actor: Actor, app: string, target: string, row: Partial<DeployRow>): DeployRow {
    const d = this.addDeploy({ app, target, state: "queued", user: actor.user, via: actor.via, position: 1, ...row });
    this.emit(d.id, { type: "queued", position: 1 });
    if (this.run) void this.simulate(d);
    return d;
  }

  private async simulate(d: DeployRow): Promise<void> {
    const { stepMs, steps } = this.run!;
    const hosts = this.target(d.app, d.target).roles.flatMap((r) => r.hosts);
    const sleep = () => new Promise((r) => setTimeout(r, stepMs));
    await sleep();
    Object.assign(d, { state: "running", position: undefined, started_at: new Date().toISOString() });
    this.emit(d.id, { type: "state", state: "running" });
    this.emit(d.id, {
      type: "plan",
      plan: {
        action: d.kind,
        target: d.target,
        build_id: d.build_id ?? "previous",
        batches: [hosts],
        hosts: hosts.map((host) => ({ host, send: ["code"], bytes: 2048, release: "new" })),
        steps,
      },
    });
    for (const step of steps) {
      for (const host of hosts) this.emit(d.id, { type: "host", host, step, status: "start" });
      await sleep();
      for (const host of hosts) {
        if (step === "send") this.emit(d.id, { type: "transfer", host, layer: "code", sent: 2048, total: 2048 });
        this.emit(d.id, { type: "host", host, step, status: "done", ms: stepMs });
      }
    }
    const to = d.build_id ?? "previous";
    const result =
      d.kind === "rollback"
        ? { target: d.target, hosts: hosts.map((host) => ({ host, to, result: "ok" })) }
        : { app: d.app, target: d.target, build_id: d.build_id, hosts: hosts.map((host) => ({ host, result: "ok", bytes_sent: 2048, durations_ms: {} })) };
    Object.assign(d, { state: "succeeded", finished_at: new Date().toISOString(), duration_ms: stepMs * (steps.length + 1), result });
    this.emit(d.id, { type: "state", state: "succeeded" });
  }

  context(): ServerContext {
    return {
      actions: {
        deploy: (actor, app, target, req) => {
          this.calls.push({ action: "deploy", actor, args: [app, target, req] });
          this.need(actor, app, target, "deployer");
          return this.queue(actor, app, target, { kind: "deploy", ...req });
        },
        rollback: (actor, app, target, req) => {
          this.calls.push({ action: "rollback", actor, args: [app, target, req] });
          this.need(actor, app, target, "deployer");
          return this.queue(actor, app, target, { kind: "rollback", build_id: req.to });
        },
        cancel: (actor, id) => {
          this.calls.push({ action: "cancel", actor, args: [id] });
          const d = this.deploys.find((x) => x.id === id);
          if (!d) throw notFound(`deploy ${id}`);
          this.need(actor, d.app, d.target, "deployer");
          if (d.state !== "queued") throw conflict(`deploy ${id} is ${d.state}`);
          d.state = "cancelled";
          return d;
        },
        lock: (actor, app, target, reason) => {
          this.calls.push({ action: "lock", actor, args: [app, target, reason] });
          this.need(actor, app, target, "deployer");
          const row = { app, target, user: actor.user, reason, at: new Date().toISOString() };
          this.locks.set(`${app}/${target}`, row);
          return row;
        },
        unlock: (actor, app, target, reason) => {
          this.calls.push({ action: "unlock", actor, args: [app, target, reason] });
          this.need(actor, app, target, "deployer");
          this.locks.delete(`${app}/${target}`);
        },
      },
      reads: {
        apps: () => this.apps.map((a) => ({ name: a.name, targets: a.targets.map((t) => t.name) })),
        status: (app, target) => {
          const t = this.target(app, target);
          const rows = this.deploys.filter((d) => d.app === app && d.target === target);
          return {
            app,
            target,
            confirm: t.confirm ?? false,
            roles: t.roles,
            lock: this.locks.get(`${app}/${target}`),
            running: rows.find((d) => d.state === "running"),
            queue: rows.filter((d) => d.state === "queued"),
            last: rows.filter((d) => FINISHED.includes(d.state)).at(-1),
          };
        },
        artifacts: (app) => this.artifacts.filter((a) => a.app === app),
        deploy: (id) => this.deploys.find((d) => d.id === id),
        events: (id, afterSeq = 0) => (this.events.get(id) ?? []).filter((e) => e.seq > afterSeq),
        history: (f) =>
          this.deploys
            .filter(
              (d) =>
                (!f.app || d.app === f.app) &&
                (!f.target || d.target === f.target) &&
                (!f.user || d.user === f.user) &&
                (!f.via || d.via === f.via) &&
                (!f.state || d.state === f.state),
            )
            .reverse()
            .slice(0, f.limit ?? 100),
        waitEvents: (id, afterSeq, signal) =>
          new Promise<void>((resolve) => {
            const done = () => {
              this.waiters.delete(check);
              resolve();
            };
            const check = () => {
              const d = this.deploys.find((x) => x.id === id);
              if ((this.events.get(id)?.length ?? 0) > afterSeq || !d || FINISHED.includes(d.state)) done();
            };
            this.waiters.add(check);
            signal.addEventListener("abort", done, { once: true });
            check();
          }),
      },
      auth: {
        byToken: (token) => {
          const t = this.tokens.get(token);
          return t ? { actor: { user: t.user, via: "api", token_id: t.id }, grants: t.grants } : undefined;
        },
        roleFor,
      },
      sessions: {
        create: (token) => {
          const t = this.tokens.get(token);
          if (!t) return undefined;
          const id = randomBytes(32).toString("base64url");
          this.sessionsById.set(id, token);
          return { id, actor: { user: t.user, via: "dashboard", token_id: t.id } };
        },
        get: (id) => {
          const t = this.tokens.get(this.sessionsById.get(id) ?? "");
          return t ? { actor: { user: t.user, via: "dashboard", token_id: t.id }, grants: t.grants } : undefined;
        },
        destroy: (id) => void this.sessionsById.delete(id),
      },
      chatUsers: { bySlackId: () => undefined, byMattermost: () => undefined },
      needsConfirm: (app, target) => this.target(app, target).confirm ?? false,
    };
  }
}
