/**
 * The server's SQLite database: WAL mode, foreign keys on, schema migrations versioned in code
 * (PRAGMA user_version counts the ones applied; each runs once, in a transaction).
 */
import { chmodSync, existsSync } from "node:fs";
import Database from "better-sqlite3";

export type Db = Database.Database;

/** Append only: a released migration is never edited, a change is a new entry. */
const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE tokens (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    sha256 TEXT NOT NULL UNIQUE,
    grants TEXT NOT NULL,
    created_at TEXT NOT NULL,
    revoked_at TEXT
  );
  CREATE TABLE sessions (
    id_sha256 TEXT PRIMARY KEY,
    token_id INTEGER NOT NULL REFERENCES tokens(id),
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
  );
  CREATE TABLE artifacts (
    app TEXT NOT NULL,
    build_id TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    size INTEGER NOT NULL,
    venv_key TEXT NOT NULL,
    commit_sha TEXT,
    dirty INTEGER,
    signer TEXT,
    manifest TEXT NOT NULL,
    segments TEXT NOT NULL,
    uploaded_at TEXT NOT NULL,
    uploaded_by TEXT NOT NULL,
    PRIMARY KEY (app, build_id)
  );
  CREATE TABLE blobs (
    sha256 TEXT PRIMARY KEY,
    size INTEGER NOT NULL
  );
  CREATE TABLE deploys (
    id INTEGER PRIMARY KEY,
    app TEXT NOT NULL,
    target TEXT NOT NULL,
    kind TEXT NOT NULL,
    build_id TEXT,
    roles TEXT,
    batch TEXT,
    state TEXT NOT NULL,
    user TEXT NOT NULL,
    via TEXT NOT NULL,
    created_at TEXT NOT NULL,
    started_at TEXT,
    finished_at TEXT,
    duration_ms INTEGER,
    error TEXT,
    result TEXT,
    interrupted TEXT,
    runner TEXT
  );
  CREATE INDEX deploys_target ON deploys(app, target, id);
  CREATE INDEX deploys_state ON deploys(state);
  CREATE TABLE events (
    deploy_id INTEGER NOT NULL REFERENCES deploys(id),
    seq INTEGER NOT NULL,
    at TEXT NOT NULL,
    event TEXT NOT NULL,
    PRIMARY KEY (deploy_id, seq)
  );
  CREATE TABLE locks (
    app TEXT NOT NULL,
    target TEXT NOT NULL,
    user TEXT NOT NULL,
    reason TEXT NOT NULL,
    at TEXT NOT NULL,
    PRIMARY KEY (app, target)
  );
  CREATE TABLE audit (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    user TEXT NOT NULL,
    via TEXT NOT NULL,
    action TEXT NOT NULL,
    app TEXT,
    target TEXT,
    request TEXT NOT NULL,
    outcome TEXT NOT NULL
  );
  CREATE TRIGGER audit_append_only_update BEFORE UPDATE ON audit BEGIN SELECT RAISE(ABORT, 'audit rows are append-only'); END;
  CREATE TRIGGER audit_append_only_delete BEFORE DELETE ON audit BEGIN SELECT RAISE(ABORT, 'audit rows are append-only'); END;
  `,
];

export const SCHEMA_VERSION = MIGRATIONS.length;

export function openDb(file: string): Db {
  const db = new Database(file);
  db.pragma("journal_mode = WAL");
  db.pragma("synchronous = NORMAL");
  db.pragma("foreign_keys = ON");
  db.pragma("busy_timeout = 5000");
  migrate(db);
  // Token and session hashes, who did what: readable by the server's user only.
  for (const f of [file, `${file}-wal`, `${file}-shm`]) if (existsSync(f)) chmodSync(f, 0o600);
  return db;
}

function migrate(db: Db): void {
  const have = db.pragma("user_version", { simple: true }) as number;
  if (have > MIGRATIONS.length) {
    throw new Error(`the database is at schema ${have}, newer than this slipway (${MIGRATIONS.length}): run the newer slipway, or restore a backup`);
  }
  for (let v = have; v < MIGRATIONS.length; v++) {
    db.transaction(() => {
      db.exec(MIGRATIONS[v]!);
      db.pragma(`user_version = ${v + 1}`);
    })();
  }
}
