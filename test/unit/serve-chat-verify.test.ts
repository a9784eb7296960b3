// Slack's v0 request signature and Mattermost's token: good, bad, replayed, stale, wrong length.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { ReplayGuard, SLACK_MAX_SKEW_S, slackSignature, verifyMattermost, verifySlack } from "../../src/serve/chat/verify.js";

const SECRET = "8f742231b10e8888abcd99yyyzzz85a5";
const BODY = "token=x&team_id=T1&user_id=U123&command=%2Fslipway&text=deploy+ledger+42+to+prod&response_url=https%3A%2F%2Fhooks.slack.com%2Fx";
const NOW = 1_764_500_000_000;
const TS = String(NOW / 1000);

describe("verifySlack", () => {
  test("the signature is HMAC-SHA256 of v0:timestamp:body, hex, prefixed v0= (computed independently)", () => {
    const want = `v0=${createHmac("sha256", SECRET).update(`v0:${TS}:${BODY}`).digest("hex")}`;
    assert.equal(slackSignature(SECRET, TS, BODY), want);
    assert.match(want, /^v0=[0-9a-f]{64}$/);
  });

  test("a good request verifies, also at the edge of the window either way", () => {
    assert.deepEqual(verifySlack(SECRET, { timestamp: TS, signature: slackSignature(SECRET, TS, BODY) }, BODY, NOW), { ok: true });
    for (const ts of [String(Number(TS) - SLACK_MAX_SKEW_S), String(Number(TS) + SLACK_MAX_SKEW_S)]) {
      assert.deepEqual(verifySlack(SECRET, { timestamp: ts, signature: slackSignature(SECRET, ts, BODY) }, BODY, NOW), { ok: true }, ts);
    }
  });

  test("a bad signature: another secret, a changed body, a changed timestamp", () => {
    const sig = slackSignature(SECRET, TS, BODY);
    const cases = [
      verifySlack(SECRET, { timestamp: TS, signature: slackSignature("another secret", TS, BODY) }, BODY, NOW),
      verifySlack(SECRET, { timestamp: TS, signature: sig }, BODY.replace("42", "43"), NOW),
      verifySlack(SECRET, { timestamp: String(Number(TS) - 1), signature: sig }, BODY, NOW),
    ];
    for (const v of cases) {
      assert.equal(v.ok, false);
      if (!v.ok) {
        assert.equal(v.reason, "bad");
        assert.match(v.error, /X-Slack-Signature does not match/);
        assert.match(v.hint, /signing_secret_env/);
      }
    }
  });

  test("a signature of the wrong length is refused (timingSafeEqual would throw on it)", () => {
    const sig = slackSignature(SECRET, TS, BODY);
    for (const bad of [sig.slice(0, -1), `${sig}0`, "v0=", "x", `v1=${sig.slice(3)}`, "v0=ÿÿ"]) {
      const v = verifySlack(SECRET, { timestamp: TS, signature: bad }, BODY, NOW);
      assert.equal(v.ok ? "ok" : v.reason, "bad", bad);
    }
  });

  test("a replayed request (the same body with its old timestamp, correctly signed) is stale and names the skew", () => {
    const old = String(Number(TS) - SLACK_MAX_SKEW_S - 1);
    const v = verifySlack(SECRET, { timestamp: old, signature: slackSignature(SECRET, old, BODY) }, BODY, NOW);
    assert.equal(v.ok, false);
    if (!v.ok) {
      assert.equal(v.reason, "stale");
      assert.equal(v.skew_s, SLACK_MAX_SKEW_S + 1);
      assert.match(v.error, /301 s old \(limit 300 s\): a replay, or clock skew/);
      assert.match(v.hint, /clock/);
    }
  });

  test("a timestamp from the future is stale too", () => {
    const ahead = String(Number(TS) + 3600);
    const v = verifySlack(SECRET, { timestamp: ahead, signature: slackSignature(SECRET, ahead, BODY) }, BODY, NOW);
    assert.equal(v.ok ? "ok" : v.reason, "stale");
    if (!v.ok) assert.match(v.error, /3600 s in the future/);
  });

  test("missing or malformed headers", () => {
    const sig = slackSignature(SECRET, TS, BODY);
    const v1 = verifySlack(SECRET, { signature: sig }, BODY, NOW);
    assert.equal(v1.ok ? "ok" : v1.error, "missing X-Slack-Request-Timestamp header");
    const v2 = verifySlack(SECRET, { timestamp: TS }, BODY, NOW);
    assert.equal(v2.ok ? "ok" : v2.error, "missing X-Slack-Signature header");
    for (const ts of ["1e9", "-1", " 1764500000", "1764500000.5"]) {
      const v = verifySlack(SECRET, { timestamp: ts, signature: sig }, BODY, NOW);
      assert.equal(v.ok ? "ok" : v.reason, "malformed", ts);
    }
  });
});

describe("verifyMattermost", () => {
  const TOKEN = "xr3j5x3p4pfjpfy6jecnnjs9da";
  test("the configured token verifies", () => {
    assert.deepEqual(verifyMattermost(TOKEN, TOKEN), { ok: true });
  });
  test("another token, of any length, does not", () => {
    for (const t of [TOKEN.slice(0, -1), `${TOKEN}x`, TOKEN.toUpperCase(), "a", "é".repeat(100)]) {
      const v = verifyMattermost(TOKEN, t);
      assert.equal(v.ok ? "ok" : v.reason, "bad", t);
    }
  });
  test("no token is missing, not bad", () => {
    for (const t of [undefined, ""]) {
      const v = verifyMattermost(TOKEN, t);
      assert.equal(v.ok ? "ok" : v.reason, "missing");
    }
  });
});

test("ReplayGuard accepts a key once within its window, and again after it", () => {
  const g = new ReplayGuard(1000);
  assert.equal(g.firstSeen("a", 0), true);
  assert.equal(g.firstSeen("a", 999), false);
  assert.equal(g.firstSeen("b", 999), true);
  assert.equal(g.firstSeen("a", 1000), true, "expired keys are forgotten");
  assert.equal(g.firstSeen("b", 1500), false);
});
