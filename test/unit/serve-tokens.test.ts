// Token grants: the most specific grant for an app and target decides the role, and a token
// created for one app and target (serve token create --app A --target staging) reaches no other.
import { test } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import { tokenCreate } from "../../src/serve/admin.js";
import { openDb } from "../../src/serve/db.js";
import type { Grant } from "../../src/serve/model.js";
import { Store } from "../../src/serve/store.js";
import { roleFor, TokenAuth } from "../../src/serve/tokens.js";
import { tmpDir } from "../support/tmp.js";

const g = (role: Grant["role"], app: string, target: string): Grant => ({ role, app, target });

test("most specific grant wins: app+target, then app, then target, then neither", () => {
  const grants = [g("admin", "*", "*"), g("viewer", "*", "prod"), g("deployer", "ledger", "*"), g("viewer", "ledger", "prod")];
  assert.equal(roleFor(grants, "ledger", "prod"), "viewer", "app+target beats app, target and neither — even when lower");
  assert.equal(roleFor(grants, "ledger", "staging"), "deployer", "app beats neither");
  assert.equal(roleFor(grants, "shop", "prod"), "viewer", "target beats neither");
  assert.equal(roleFor(grants, "shop", "staging"), "admin", "neither: the catch-all");
  assert.equal(roleFor([g("viewer", "*", "prod"), g("admin", "ledger", "*")], "ledger", "prod"), "admin", "app (score 2) beats target (score 1)");
  assert.equal(roleFor([g("viewer", "ledger", "prod"), g("deployer", "ledger", "prod")], "ledger", "prod"), "deployer", "a tie: the higher role");
});

test("a grant for one app and target gives nothing elsewhere", () => {
  const grants = [g("deployer", "ledger", "staging")];
  assert.equal(roleFor(grants, "ledger", "staging"), "deployer");
  assert.equal(roleFor(grants, "ledger", "prod"), undefined);
  assert.equal(roleFor(grants, "shop", "staging"), undefined);
  assert.equal(roleFor([], "ledger", "staging"), undefined);
});

test("token create --app A --target staging: deployer on A/staging, nothing on A/prod", async () => {
  const data = await tmpDir("slipway-serve-tokens");
  const created = tokenCreate(data, { name: "ci", role: "deployer", app: "ledger", target: "staging" });
  assert.deepEqual(created.grants, [g("deployer", "ledger", "staging")]);
  const db = openDb(path.join(data, "slipway.db"));
  try {
    const who = new TokenAuth(db, new Store(db)).byToken(created.token);
    assert.ok(who, "the token authenticates");
    assert.equal(roleFor(who.grants, "ledger", "staging"), "deployer");
    assert.equal(roleFor(who.grants, "ledger", "prod"), undefined);
  } finally {
    db.close();
  }
});
