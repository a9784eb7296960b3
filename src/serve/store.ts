/**
 * Reads and writes of deploys, their events, locks, artifacts and the audit log. Synchronous
 * (better-sqlite3): each call is one statement or one transaction.
 */
import type { Db } from "./db.js";
import type { Actor, AuditActor, ArtifactRow, DeployEvent, DeployKind, DeployRow, DeployState, LockRow } from "./model.js";

type Row = Record<string, unknown>;

const now = () => new Date().toISOString();

function deployFrom(r: Row): DeployRow {
  const d: DeployRow = {
    id: r.id as number,
    app: r.app as string,
    target: r.target as string,
    kind: r.kind as DeployKind,
    state: r.state as DeployState,
    user: r.user as string,
    via: r.via as DeployRow["via"],
    created_at: r.created_at as string,
  };
  if (r.build_id != null) d.build_id = r.build_id as string;
  if (r.roles != null) d.roles = r.roles as string;
  if (r.batch != null) d.batch = r.batch as string;
  if (r.started_at != null) d.started_at = r.started_at as string;
  if (r.finished_at != null) d.finished_at = r.finished_at as string;
  if (r.duration_ms != null) d.duration_ms = r.duration_ms as number;
  if (r.error != null) d.error = r.error as string;
  if (r.result != null) d.result = JSON.parse(r.result as string);
  if (r.interrupted != null) d.interrupted = JSON.parse(r.interrupted as string);
  return d;
}

export interface StoredArtifact extends ArtifactRow {
  manifest: string;
  segments: string;
}

export class Store {
  constructor(readonly db: Db) {}

  // --- deploys -------------------------------------------------------------------------

  addDeploy(d: { app: string; target: string; kind: DeployKind; build_id?: string; roles?: string; batch?: string; actor: Actor }): DeployRow {
    const info = this.db
      .prepare(
        `INSERT INTO deploys (app, target, kind, build_id, roles, batch, state, user, via, created_at)
         VALUES (?, ?, ?, ?, ?, ?, 'queued', ?, ?, ?)`,
      )
      .run(d.app, d.target, d.kind, d.build_id ?? null, d.roles ?? null, d.batch ?? null, d.actor.user, d.actor.via, now());
    return this.deploy(Number(info.lastInsertRowid))!;
  }

  deploy(id: number): DeployRow | undefined {
    const r = this.db.prepare("SELECT * FROM deploys WHERE id = ?").get(id) as Row | undefined;
    if (!r) return undefined;
    const d = deployFrom(r);
    if (d.state === "queued") d.position = this.positionOf(d);
    return d;
  }

  private positionOf(d: DeployRow): number {
    const r = this.db.prepare("SELECT count(*) AS n FROM deploys WHERE app = ? AND target = ? AND state = 'queued' AND id <= ?").get(d.app, d.target, d.id) as {
      n: number;
    };
    return r.n;
  }

  queued(app: string, target: string): DeployRow[] {
    const rows = this.db.prepare("SELECT * FROM deploys WHERE app = ? AND target = ? AND state = 'queued' ORDER BY id").all(app, target) as Row[];
    return rows.map((r, i) => ({ ...deployFrom(r), position: i + 1 }));
  }

  running(app: string, target: string): DeployRow | undefined {
    const r = this.db.prepare("SELECT * FROM deploys WHERE app = ? AND target = ? AND state = 'running' ORDER BY id LIMIT 1").get(app, target) as
      | Row
      | undefined;
    return r ? deployFrom(r) : undefined;
  }

  /** Every deploy in a state, oldest first (at start-up: the ones a stopped server left running). */
  inState(state: DeployState): DeployRow[] {
    return (this.db.prepare("SELECT * FROM deploys WHERE state = ? ORDER BY id").all(state) as Row[]).map(deployFrom);
  }

  lastFinished(app: string, target: string): DeployRow | undefined {
    const r = this.db
      .prepare("SELECT * FROM deploys WHERE app = ? AND target = ? AND state NOT IN ('queued', 'running') ORDER BY id DESC LIMIT 1")
      .get(app, target) as Row | undefined;
    return r ? deployFrom(r) : undefined;
  }

  lastSucceeded(app: string, target: string): DeployRow | undefined {
    const r = this.db.prepare("SELECT * FROM deploys WHERE app = ? AND target = ? AND state = 'succeeded' ORDER BY id DESC LIMIT 1").get(app, target) as
      | Row
      | undefined;
    return r ? deployFrom(r) : undefined;
  }

  /** `runner` names the process running it (host and pid): the owner of the host locks it takes. */
  markRunning(id: number, runner: { from: string; pid: number }): void {
    this.db
      .prepare("UPDATE deploys SET state = 'running', started_at = ?, runner = ? WHERE id = ? AND state = 'queued'")
      .run(now(), JSON.stringify(runner), id);
  }

  runnerOf(id: number): { from: string; pid: number } | undefined {
    const r = this.db.prepare("SELECT runner FROM deploys WHERE id = ?").get(id) as { runner: string | null } | undefined;
    return r?.runner ? JSON.parse(r.runner) : undefined;
  }

  /** Moves a queued or running deploy to a final state; false when it had already left those. */
  finish(id: number, state: DeployState, fields: { error?: string; result?: unknown; interrupted?: unknown } = {}): boolean {
    const r = this.db.prepare("SELECT started_at, created_at FROM deploys WHERE id = ?").get(id) as { started_at?: string; created_at: string } | undefined;
    if (!r) return false;
    const end = now();
    const start = r.started_at ?? r.created_at;
    const info = this.db
      .prepare(
        `UPDATE deploys SET state = ?, finished_at = ?, duration_ms = ?, error = ?, result = ?, interrupted = ?
         WHERE id = ? AND state IN ('queued', 'running')`,
      )
      .run(
        state,
        end,
        Date.parse(end) - Date.parse(start),
        fields.error ?? null,
        fields.result === undefined ? null : JSON.stringify(fields.result),
        fields.interrupted === undefined ? null : JSON.stringify(fields.interrupted),
        id,
      );
    return info.changes === 1;
  }

  /** Fill in what an interrupted deploy left (read from the hosts after the fact). */
  setInterrupted(id: number, interrupted: unknown): void {
    this.db.prepare("UPDATE deploys SET interrupted = ? WHERE id = ?").run(JSON.stringify(interrupted), id);
  }

  history(f: { app?: string; target?: string; user?: string; via?: string; state?: string; limit?: number }): DeployRow[] {
    const where: string[] = [];
    const args: unknown[] = [];
    for (const k of ["app", "target", "user", "via", "state"] as const) {
      if (f[k]) {
        where.push(`${k} = ?`);
        args.push(f[k]);
      }
    }
    const sql = `SELECT * FROM deploys ${where.length ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY id DESC LIMIT ?`;
    return (this.db.prepare(sql).all(...args, Math.min(Math.max(f.limit ?? 100, 1), 1000)) as Row[]).map(deployFrom);
  }

  // --- events --------------------------------------------------------------------------

  addEvent(deployId: number, event: DeployEvent["event"]): DeployEvent {
    const at = now();
    const seq = (this.db.prepare("SELECT coalesce(max(seq), 0) + 1 AS s FROM events WHERE deploy_id = ?").get(deployId) as { s: number }).s;
    this.db.prepare("INSERT INTO events (deploy_id, seq, at, event) VALUES (?, ?, ?, ?)").run(deployId, seq, at, JSON.stringify(event));
    return { deploy_id: deployId, seq, at, event };
  }

  events(deployId: number, afterSeq = 0): DeployEvent[] {
    const rows = this.db.prepare("SELECT seq, at, event FROM events WHERE deploy_id = ? AND seq > ? ORDER BY seq").all(deployId, afterSeq) as {
      seq: number;
      at: string;
      event: string;
    }[];
    return rows.map((r) => ({ deploy_id: deployId, seq: r.seq, at: r.at, event: JSON.parse(r.event) }));
  }

  // --- locks ---------------------------------------------------------------------------

  lock(app: string, target: string): LockRow | undefined {
    return this.db.prepare("SELECT app, target, user, reason, at FROM locks WHERE app = ? AND target = ?").get(app, target) as LockRow | undefined;
  }

  setLock(l: Omit<LockRow, "at">): LockRow {
    const row = { ...l, at: now() };
    this.db.prepare("INSERT INTO locks (app, target, user, reason, at) VALUES (?, ?, ?, ?, ?)").run(row.app, row.target, row.user, row.reason, row.at);
    return row;
  }

  clearLock(app: string, target: string): void {
    this.db.prepare("DELETE FROM locks WHERE app = ? AND target = ?").run(app, target);
  }

  // --- artifacts -----------------------------------------------------------------------

  artifact(app: string, buildId: string): StoredArtifact | undefined {
    const r = this.db.prepare("SELECT * FROM artifacts WHERE app = ? AND build_id = ?").get(app, buildId) as Row | undefined;
    return r ? artifactFrom(r) : undefined;
  }

  artifacts(app: string): ArtifactRow[] {
    return (this.db.prepare("SELECT * FROM artifacts WHERE app = ? ORDER BY uploaded_at DESC, build_id DESC").all(app) as Row[]).map((r) => {
      const { manifest: _m, segments: _s, ...row } = artifactFrom(r);
      return row;
    });
  }

  addArtifact(a: StoredArtifact, blobs: { sha256: string; size: number }[]): void {
    this.db.transaction(() => {
      for (const b of blobs) this.db.prepare("INSERT OR IGNORE INTO blobs (sha256, size) VALUES (?, ?)").run(b.sha256, b.size);
      this.db
        .prepare(
          `INSERT INTO artifacts (app, build_id, sha256, size, venv_key, commit_sha, dirty, signer, manifest, segments, uploaded_at, uploaded_by)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(
          a.app,
          a.build_id,
          a.sha256,
          a.size,
          a.venv_key,
          a.commit ?? null,
          a.dirty === undefined ? null : a.dirty ? 1 : 0,
          a.signer ?? null,
          a.manifest,
          a.segments,
          a.uploaded_at,
          a.uploaded_by,
        );
    })();
  }

  // --- audit ---------------------------------------------------------------------------

  audit(actor: AuditActor, action: string, where: { app?: string; target?: string }, request: unknown, outcome: string): void {
    this.db
      .prepare("INSERT INTO audit (at, user, via, action, app, target, request, outcome) VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
      .run(now(), actor.user, actor.via, action, where.app ?? null, where.target ?? null, JSON.stringify(request ?? {}), outcome);
  }

  auditRows(limit = 100): Row[] {
    return this.db.prepare("SELECT * FROM audit ORDER BY id DESC LIMIT ?").all(limit) as Row[];
  }
}

function artifactFrom(r: Row): StoredArtifact {
  const a: StoredArtifact = {
    app: r.app as string,
    build_id: r.build_id as string,
    sha256: r.sha256 as string,
    size: r.size as number,
    venv_key: r.venv_key as string,
    uploaded_at: r.uploaded_at as string,
    uploaded_by: r.uploaded_by as string,
    manifest: r.manifest as string,
    segments: r.segments as string,
  };
  if (r.commit_sha != null) a.commit = r.commit_sha as string;
  if (r.dirty != null) a.dirty = r.dirty === 1;
  if (r.signer != null) a.signer = r.signer as string;
  return a;
}
