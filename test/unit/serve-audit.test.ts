// Audit rows for what changes state outside the deploy actions: `serve token create` and
// `revoke` (as the OS user, via cli) and dashboard logins and logouts (as the token's name,
// via dashboard) — each with the request, never the token or the session id.
import { test } from "node:test";
import assert from "node:assert/strict";
import os from "node:os";
import path from "node:path";
import { tokenCreate, tokenRevoke } from "../../src/serve/admin.js";
import { openDb } from "../../src/serve/db.js";
import { Store } from "../../src/serve/store.js";
import { TokenAuth } from "../../src/serve/tokens.js";
import { tmpDir } from "../support/tmp.js";

type AuditRow = { user: string; via: string; action: string; app: string | null; target: string | null; request: string; outcome: string };

function auditOf(data: string): AuditRow[] {
  const db = openDb(path.join(data, "slipway.db"));
  try {
    return db.prepare("SELECT user, via, action, app, target, request, outcome FROM audit ORDER BY id").all() as AuditRow[];
  } finally {
    db.close();
  }
}

test("token create and revoke are audited as the OS user via cli, with the token's name and id, never the token", async () => {
  const data = await tmpDir("slipway-serve-audit");
  const a = tokenCreate(data, { name: "ci", role: "deployer", app: "ledger", target: "staging" });
  const b = tokenCreate(data, { name: "ops", role: "admin" });
  assert.deepEqual(tokenRevoke(data, "ci"), { revoked: 1 });
  assert.deepEqual(tokenRevoke(data, "nobody"), { revoked: 0 });
  const rows = auditOf(data);
  assert.deepEqual(
    rows.map((r) => [r.action, r.via, r.app, r.target]),
    [
      ["token-create", "cli", "ledger", "staging"],
      ["token-create", "cli", null, null],
      ["token-revoke", "cli", null, null],
      ["token-revoke", "cli", null, null],
    ],
  );
  for (const r of rows) assert.equal(r.user, os.userInfo().username);
  assert.deepEqual(JSON.parse(rows[0]!.request), { name: "ci", id: a.id, grants: [{ role: "deployer", app: "ledger", target: "staging" }] });
  assert.equal(rows[0]!.outcome, `created token #${a.id}`);
  assert.deepEqual(JSON.parse(rows[2]!.request), { name: "ci" });
  assert.match(rows[2]!.outcome, /revoked 1 token/);
  assert.equal(rows[3]!.outcome, "no such token");
  const all = JSON.stringify(rows);
  for (const t of [a.token, b.token]) assert.ok(!all.includes(t), "a token in the audit log");
});

test("a dashboard login and logout are audited via dashboard with the address; a failed login or a stale logout changes nothing and adds no row", async () => {
  const data = await tmpDir("slipway-serve-audit");
  const { id: tokenId, token } = tokenCreate(data, { name: "dan", role: "deployer", app: "ledger" });
  const db = openDb(path.join(data, "slipway.db"));
  let session: string;
  try {
    const auth = new TokenAuth(db, new Store(db));
    assert.equal(auth.create(`slw_${"x".repeat(43)}`, { ip: "10.0.0.7" }), undefined);
    const s = auth.create(token, { ip: "10.0.0.7" });
    assert.ok(s);
    session = s.id;
    assert.deepEqual(s.actor, { user: "dan", via: "dashboard", token_id: tokenId });
    auth.destroy(session, { ip: "10.0.0.8" });
    assert.equal(auth.get(session), undefined, "the session ended");
    auth.destroy(session, { ip: "10.0.0.8" });
  } finally {
    db.close();
  }
  const rows = auditOf(data).filter((r) => r.action !== "token-create");
  assert.deepEqual(
    rows.map((r) => [r.action, r.user, r.via, JSON.parse(r.request)]),
    [
      ["login", "dan", "dashboard", { token_id: tokenId, ip: "10.0.0.7" }],
      ["logout", "dan", "dashboard", { token_id: tokenId, ip: "10.0.0.8" }],
    ],
  );
  const all = JSON.stringify(rows);
  assert.ok(!all.includes(token) && !all.includes(session), "neither the token nor the session id is recorded");
});
