// The failure limiter behind the API's and the dashboard's authentication: limits per client
// address and per presented token hold independently, only failures count, and the window ends.
import { test } from "node:test";
import assert from "node:assert/strict";
import { attempt, authKeys, FailureLimiter } from "../../src/serve/rate-limit.js";

const T0 = 1_000_000;
const good = "slw_good-token";
/** A fake authenticator (pure logic under test is the limiter): only `good` is a valid token. */
const check = (token: string) => () => (token === good ? { user: "ci" } : undefined);
const tryAuth = (l: FailureLimiter, ip: string, token: string, now = T0) => attempt(l, authKeys(ip, token), check(token), now);

test("authKeys: the address, and the token only by its sha256", () => {
  const keys = authKeys("10.0.0.1", good);
  assert.equal(keys.length, 2);
  assert.equal(keys[0], "ip:10.0.0.1");
  assert.match(keys[1]!, /^token:[0-9a-f]{64}$/);
  assert.ok(!keys.join(" ").includes(good), "the token itself is not a key");
  assert.notEqual(authKeys("10.0.0.1", "slw_a")[1], authKeys("10.0.0.1", "slw_b")[1]);
});

test("one token tried from many addresses is limited per token; other tokens from those addresses are not", () => {
  const l = new FailureLimiter(5, 60_000);
  const stolen = "slw_guessed-one";
  for (let i = 0; i < 5; i++) assert.deepEqual(tryAuth(l, `10.0.1.${i}`, stolen), { failed: true });
  const again = tryAuth(l, "10.0.1.200", stolen);
  assert.ok("blockedFor" in again && again.blockedFor > 0, `a fresh address with that token: ${JSON.stringify(again)}`);
  // Each address failed once only: a good token from one of them goes through.
  assert.deepEqual(tryAuth(l, "10.0.1.0", good), { ok: { user: "ci" } });
});

test("one address trying many tokens is limited per address, even with a right token; other addresses are not", () => {
  const l = new FailureLimiter(5, 60_000);
  for (let i = 0; i < 5; i++) assert.deepEqual(tryAuth(l, "10.0.2.9", `slw_guess-${i}`), { failed: true });
  const blocked = tryAuth(l, "10.0.2.9", good);
  assert.ok("blockedFor" in blocked && blocked.blockedFor > 0, "the address is blocked for a right token too");
  assert.deepEqual(tryAuth(l, "10.0.2.10", good), { ok: { user: "ci" } }, "another address is not");
  assert.deepEqual(tryAuth(l, "10.0.2.10", "slw_guess-0"), { failed: true }, "nor a token that failed once");
});

test("success does not count: many good attempts, then failures up to the limit still pass", () => {
  const l = new FailureLimiter(3, 60_000);
  for (let i = 0; i < 50; i++) assert.deepEqual(tryAuth(l, "10.0.3.1", good), { ok: { user: "ci" } });
  assert.equal(l.blockedFor(authKeys("10.0.3.1", good), T0), 0);
  for (let i = 0; i < 2; i++) assert.deepEqual(tryAuth(l, "10.0.3.1", `slw_bad-${i}`), { failed: true });
  assert.deepEqual(tryAuth(l, "10.0.3.1", good), { ok: { user: "ci" } }, "2 failures of 3 allowed: not blocked");
  assert.deepEqual(tryAuth(l, "10.0.3.1", "slw_bad-2"), { failed: true });
  assert.ok("blockedFor" in tryAuth(l, "10.0.3.1", good), "the third failure blocks");
});

test("a blocked attempt is not tried and does not extend the block; the window ends", () => {
  const l = new FailureLimiter(2, 60_000);
  let calls = 0;
  const counted = () => {
    calls++;
    return undefined;
  };
  attempt(l, authKeys("10.0.4.1", "slw_x"), counted, T0);
  attempt(l, authKeys("10.0.4.1", "slw_x"), counted, T0 + 1_000);
  const r = attempt(l, authKeys("10.0.4.1", "slw_x"), counted, T0 + 2_000);
  assert.deepEqual(r, { blockedFor: 58 }, "until the first failure is a minute old");
  assert.equal(calls, 2, "not authenticated while blocked");
  assert.deepEqual(attempt(l, authKeys("10.0.4.1", good), check(good), T0 + 60_000), { ok: { user: "ci" } }, "the window has passed");
});
