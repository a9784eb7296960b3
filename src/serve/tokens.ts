/**
 * API tokens and dashboard sessions. A token is shown once when created; only its SHA-256 is
 * stored, and a session cookie likewise. Grants scope a role to an app and a target.
 */
import { randomBytes } from "node:crypto";
import { sha256 } from "../util/hash.js";
import type { ChatUsers, ServerAuth, ServerSessions, SessionRequest } from "./context.js";
import type { Db } from "./db.js";
import { parseGrant, type ServerConfig } from "./config.js";
import { ROLES, type Actor, type Grant, type Role } from "./model.js";
import type { Store } from "./store.js";

/** Tokens look like `slw_` + 43 base64url characters (256 random bits). */
export const TOKEN_SHAPE = /^slw_[A-Za-z0-9_-]{43}$/;

const SESSION_HOURS = 12;

export function createToken(db: Db, name: string, grants: Grant[]): { id: number; token: string } {
  const token = `slw_${randomBytes(32).toString("base64url")}`;
  const info = db
    .prepare("INSERT INTO tokens (name, sha256, grants, created_at) VALUES (?, ?, ?, ?)")
    .run(name, sha256(token), JSON.stringify(grants), new Date().toISOString());
  return { id: Number(info.lastInsertRowid), token };
}

export function listTokens(db: Db): { id: number; name: string; grants: Grant[]; created_at: string; revoked_at?: string }[] {
  return (db.prepare("SELECT id, name, grants, created_at, revoked_at FROM tokens ORDER BY id").all() as Record<string, unknown>[]).map((r) => ({
    id: r.id as number,
    name: r.name as string,
    grants: JSON.parse(r.grants as string),
    created_at: r.created_at as string,
    ...(r.revoked_at ? { revoked_at: r.revoked_at as string } : {}),
  }));
}

export function revokeToken(db: Db, name: string): number {
  const now = new Date().toISOString();
  const ids = db.prepare("SELECT id FROM tokens WHERE name = ? AND revoked_at IS NULL").all(name) as { id: number }[];
  db.transaction(() => {
    for (const { id } of ids) {
      db.prepare("UPDATE tokens SET revoked_at = ? WHERE id = ?").run(now, id);
      db.prepare("DELETE FROM sessions WHERE token_id = ?").run(id);
    }
  })();
  return ids.length;
}

/** The most specific grant wins: app+target, then app, then target, then neither. */
export function roleFor(grants: readonly Grant[], app: string, target: string): Role | undefined {
  let best: { role: Role; score: number } | undefined;
  for (const g of grants) {
    if ((g.app !== "*" && g.app !== app) || (g.target !== "*" && g.target !== target)) continue;
    const score = (g.app === app ? 2 : 0) + (g.target === target ? 1 : 0);
    if (!best || score > best.score || (score === best.score && ROLES.indexOf(g.role) > ROLES.indexOf(best.role))) best = { role: g.role, score };
  }
  return best?.role;
}

export class TokenAuth implements ServerAuth, ServerSessions {
  /** `audit`: where logins and logouts are recorded (the server's audit log). */
  constructor(
    private readonly db: Db,
    private readonly audit: Pick<Store, "audit">,
  ) {}

  byToken(token: string): { actor: Actor; grants: Grant[] } | undefined {
    if (!TOKEN_SHAPE.test(token)) return undefined;
    const r = this.db.prepare("SELECT id, name, grants FROM tokens WHERE sha256 = ? AND revoked_at IS NULL").get(sha256(token)) as
      | { id: number; name: string; grants: string }
      | undefined;
    if (!r) return undefined;
    return { actor: { user: r.name, via: "api", token_id: r.id }, grants: JSON.parse(r.grants) };
  }

  roleFor(grants: readonly Grant[], app: string, target: string): Role | undefined {
    return roleFor(grants, app, target);
  }

  create(token: string, request: SessionRequest): { id: string; actor: Actor } | undefined {
    const who = this.byToken(token);
    if (!who) return undefined;
    const id = randomBytes(32).toString("base64url");
    const created = new Date();
    const expires = new Date(created.getTime() + SESSION_HOURS * 3600_000);
    const actor: Actor = { ...who.actor, via: "dashboard" };
    this.db.transaction(() => {
      this.db.prepare("DELETE FROM sessions WHERE expires_at < ?").run(created.toISOString());
      this.db
        .prepare("INSERT INTO sessions (id_sha256, token_id, created_at, expires_at) VALUES (?, ?, ?, ?)")
        .run(sha256(id), who.actor.token_id, created.toISOString(), expires.toISOString());
      // The token's id names the credential; neither the token nor the session id is recorded.
      this.audit.audit(actor, "login", {}, { token_id: who.actor.token_id, ip: request.ip }, `session until ${expires.toISOString()}`);
    })();
    return { id, actor };
  }

  get(id: string): { actor: Actor; grants: Grant[] } | undefined {
    if (!/^[A-Za-z0-9_-]{43}$/.test(id)) return undefined;
    const r = this.db
      .prepare(
        `SELECT t.id, t.name, t.grants FROM sessions s JOIN tokens t ON t.id = s.token_id
         WHERE s.id_sha256 = ? AND s.expires_at > ? AND t.revoked_at IS NULL`,
      )
      .get(sha256(id), new Date().toISOString()) as { id: number; name: string; grants: string } | undefined;
    if (!r) return undefined;
    return { actor: { user: r.name, via: "dashboard", token_id: r.id }, grants: JSON.parse(r.grants) };
  }

  /** End the session (a logout); one already gone or expired changes nothing and is not recorded. */
  destroy(id: string, request: SessionRequest): void {
    const who = this.get(id);
    this.db.transaction(() => {
      const gone = this.db.prepare("DELETE FROM sessions WHERE id_sha256 = ?").run(sha256(id)).changes;
      if (gone && who) this.audit.audit(who.actor, "logout", {}, { token_id: who.actor.token_id, ip: request.ip }, "session ended");
    })();
  }
}

/** Chat users from the server config's [users] table. */
export function chatUsers(config: ServerConfig): ChatUsers {
  const entries = Object.entries(config.users).map(([user, u]) => ({ user, u, grants: u.grants.map((g) => parseGrant(g)!) }));
  return {
    bySlackId: (id) => {
      const e = entries.find((x) => x.u.slack !== undefined && x.u.slack === id);
      return e && { user: e.user, grants: e.grants };
    },
    byMattermost: (idOrName) => {
      const e = entries.find((x) => x.u.mattermost !== undefined && x.u.mattermost === idOrName);
      return e && { user: e.user, grants: e.grants };
    },
  };
}
