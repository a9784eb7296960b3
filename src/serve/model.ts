/**
 * The deploy server's domain types: what the store holds and what the API, the dashboard and
 * chat show. Plain data, no behaviour (serve/actions.ts acts on it).
 */

/** Token roles, ordered: each can do what the ones before it can. */
export const ROLES = ["viewer", "deployer", "admin"] as const;
export type Role = (typeof ROLES)[number];

export function roleAtLeast(have: Role, need: Role): boolean {
  return ROLES.indexOf(have) >= ROLES.indexOf(need);
}

/** How a request reached the server (history's "how"). */
export type Via = "api" | "dashboard" | "slack" | "mattermost" | "server";

/** Who asks: a token's name or a mapped chat user, with the role that applies to the app/target at hand. */
export interface Actor {
  user: string;
  via: Via;
  /** Token id when the request carried a token (api, dashboard). */
  token_id?: number;
}

/**
 * Who an audit row names: a request's actor, an admin command run on the server's machine
 * (`cli`, the OS user), or the server itself at start-up (`restart`).
 */
export interface AuditActor {
  user: string;
  via: Via | "cli" | "restart";
}

/** A token's grant: a role for an app (or "*") and a target (or "*"). */
export interface Grant {
  role: Role;
  app: string;
  target: string;
}

export type DeployKind = "deploy" | "rollback";
export type DeployState = "queued" | "running" | "succeeded" | "failed" | "cancelled" | "interrupted";
export const FINISHED: readonly DeployState[] = ["succeeded", "failed", "cancelled", "interrupted"];

export interface DeployRow {
  id: number;
  app: string;
  target: string;
  kind: DeployKind;
  /** The build deployed, or for a rollback the one asked for (undefined: the previous release). */
  build_id?: string;
  roles?: string;
  batch?: string;
  state: DeployState;
  user: string;
  via: Via;
  /** Position in its target's queue (1 = next), while queued. */
  position?: number;
  created_at: string;
  started_at?: string;
  finished_at?: string;
  duration_ms?: number;
  /** The failure's text (error message and hint), when it failed or was interrupted. */
  error?: string;
  /** The library's result (DeployResult / RollbackResult) when it finished, as JSON. */
  result?: unknown;
  /** For an interrupted deploy: each host's `current` read back, and the lock left behind. */
  interrupted?: { hosts: Record<string, string | null>; lock?: string };
}

/** One stored event of a deploy: the library's SlipwayEvent, numbered from 1 per deploy. */
export interface DeployEvent {
  deploy_id: number;
  seq: number;
  at: string;
  /** A SlipwayEvent, or a server event ({type: "queued" | "state", ...}). */
  event: Record<string, unknown> & { type: string };
}

export interface ArtifactRow {
  app: string;
  build_id: string;
  commit?: string;
  dirty?: boolean;
  venv_key: string;
  size: number;
  signer?: string;
  uploaded_at: string;
  uploaded_by: string;
  sha256: string;
}

export interface LockRow {
  app: string;
  target: string;
  user: string;
  reason: string;
  at: string;
}

/** A target as the dashboard and chat show it. */
export interface TargetStatus {
  app: string;
  target: string;
  confirm: boolean;
  roles: { name: string; hosts: string[] }[];
  lock?: LockRow;
  running?: DeployRow;
  queue: DeployRow[];
  last?: DeployRow;
}
