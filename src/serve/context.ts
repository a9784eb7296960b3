/**
 * What the HTTP layers (api/, web/, chat/) get from the server core: the actions that change
 * state and the reads. Each action checks the actor's role itself and throws a ServeError
 * (errors.ts) with an HTTP status; each records an audit row.
 */
import type { Actor, ArtifactRow, DeployEvent, DeployRow, Grant, LockRow, Role, TargetStatus } from "./model.js";

export interface DeployRequest {
  build_id: string;
  roles?: string;
  batch?: string;
}

export interface ServerActions {
  /** Queue a deploy (202): it runs when the target is free and unlocked, FIFO. */
  deploy(actor: Actor, app: string, target: string, req: DeployRequest): DeployRow;
  /** Queue a rollback, to `to` or to the previous release. */
  rollback(actor: Actor, app: string, target: string, req: { to?: string }): DeployRow;
  /** Cancel a deploy still queued (409 once it runs). */
  cancel(actor: Actor, id: number): DeployRow;
  lock(actor: Actor, app: string, target: string, reason: string): LockRow;
  /** Release a lock; someone else's needs admin and a reason. */
  unlock(actor: Actor, app: string, target: string, reason?: string): void;
}

export interface ServerReads {
  apps(): { name: string; targets: string[] }[];
  status(app: string, target: string): TargetStatus;
  artifacts(app: string): ArtifactRow[];
  deploy(id: number): DeployRow | undefined;
  /** Events after `afterSeq` (0: from the start). */
  events(id: number, afterSeq?: number): DeployEvent[];
  /** Newest first; filters are exact matches. */
  history(filter: { app?: string; target?: string; user?: string; via?: string; state?: string; limit?: number }): DeployRow[];
  /** Wait for a deploy's next events or its end; resolves at once when there are some after `afterSeq`. */
  waitEvents(id: number, afterSeq: number, signal: AbortSignal): Promise<void>;
}

export interface ServerAuth {
  /** The token's actor and grants, or undefined when unknown (the caller rate-limits and answers 401). */
  byToken(token: string): { actor: Actor; grants: Grant[] } | undefined;
  /** The role a set of grants gives for an app and target (undefined: none). */
  roleFor(grants: readonly Grant[], app: string, target: string): Role | undefined;
}

/** What the audit row of a login or logout records about the request (never the token or cookie). */
export interface SessionRequest {
  ip: string;
}

/**
 * Dashboard sessions: a login with a token gives an opaque session id (the cookie's value).
 * Starting and ending one are state changes: each records an audit row.
 */
export interface ServerSessions {
  /** A new session for the token's holder; returns the id to set as the cookie. */
  create(token: string, request: SessionRequest): { id: string; actor: Actor } | undefined;
  get(id: string): { actor: Actor; grants: Grant[] } | undefined;
  destroy(id: string, request: SessionRequest): void;
}

/** Where a chat user maps to: a slipway user and their grants (server config [users]). */
export interface ChatUsers {
  bySlackId(id: string): { user: string; grants: Grant[] } | undefined;
  byMattermost(idOrName: string): { user: string; grants: Grant[] } | undefined;
}

export interface ServerContext {
  actions: ServerActions;
  reads: ServerReads;
  auth: ServerAuth;
  sessions: ServerSessions;
  chatUsers: ChatUsers;
  /** Targets marked confirm = true in the server config. */
  needsConfirm(app: string, target: string): boolean;
  /** The server's URL as users reach it (links in chat), when configured. */
  publicUrl?: string;
}
