/**
 * `slipway serve token …`: manage the server's API tokens in its database (run on the server).
 * Creating and revoking are audited as the OS user who ran the command, via "cli".
 */
import { mkdirSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { UsageError } from "../errors.js";
import { openDb } from "./db.js";
import type { AuditActor, Grant } from "./model.js";
import { parseGrant } from "./config.js";
import { Store } from "./store.js";
import { createToken, listTokens, revokeToken } from "./tokens.js";

export function tokenCreate(
  dataDir: string,
  o: { name: string; role: string; app?: string; target?: string },
): { id: number; name: string; token: string; grants: Grant[] } {
  if (!/^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/.test(o.name)) throw new UsageError(`--name ${JSON.stringify(o.name)}: letters, digits, . _ @ -`);
  const g = parseGrant(`${o.role}:${o.app ?? "*"}${o.target ? `/${o.target}` : ""}`);
  if (!g)
    throw new UsageError(
      `--role ${o.role} --app ${o.app ?? "*"} --target ${o.target ?? "*"} is not a grant`,
      "role: viewer, deployer or admin; app and target: a name or *",
    );
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const db = openDb(path.join(dataDir, "slipway.db"));
  try {
    return db.transaction(() => {
      const { id, token } = createToken(db, o.name, [g]);
      // The token's name, id and grant: never the token.
      new Store(db).audit(cliActor(), "token-create", where(g), { name: o.name, id, grants: [g] }, `created token #${id}`);
      return { id, name: o.name, token, grants: [g] };
    })();
  } finally {
    db.close();
  }
}

export function tokenList(dataDir: string) {
  const db = openDb(path.join(dataDir, "slipway.db"));
  try {
    return listTokens(db);
  } finally {
    db.close();
  }
}

export function tokenRevoke(dataDir: string, name: string): { revoked: number } {
  const db = openDb(path.join(dataDir, "slipway.db"));
  try {
    return db.transaction(() => {
      const revoked = revokeToken(db, name);
      new Store(db).audit(
        cliActor(),
        "token-revoke",
        {},
        { name },
        revoked ? `revoked ${revoked} token(s) named ${name}, their sessions ended` : "no such token",
      );
      return { revoked };
    })();
  } finally {
    db.close();
  }
}

/** Who runs the command: the OS user (the audit log's "who" for what is done on the server's machine). */
function cliActor(): AuditActor {
  let user: string;
  try {
    user = os.userInfo().username;
  } catch {
    // No passwd entry (a container's arbitrary uid).
    user = `uid ${process.getuid?.() ?? "?"}`;
  }
  return { user, via: "cli" };
}

function where(g: Grant): { app?: string; target?: string } {
  return { ...(g.app !== "*" ? { app: g.app } : {}), ...(g.target !== "*" ? { target: g.target } : {}) };
}
