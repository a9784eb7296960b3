/** `slipway serve token …`: manage the server's API tokens in its database (run on the server). */
import { mkdirSync } from "node:fs";
import path from "node:path";
import { UsageError } from "../errors.js";
import { openDb } from "./db.js";
import type { Grant } from "./model.js";
import { parseGrant } from "./config.js";
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
    const { id, token } = createToken(db, o.name, [g]);
    return { id, name: o.name, token, grants: [g] };
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
    return { revoked: revokeToken(db, name) };
  } finally {
    db.close();
  }
}
