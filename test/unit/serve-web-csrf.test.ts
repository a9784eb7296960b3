// The dashboard's CSRF rule: a POST must come from a page of the host it was sent to.
import { test } from "node:test";
import assert from "node:assert/strict";
import { sameOrigin } from "../../src/serve/web/guard.js";

const url = "http://deploy.example:8780/apps/a/targets/b/deploys";
const host = "deploy.example:8780";

test("an Origin naming the request's host passes; http and https count as one host (TLS proxy)", () => {
  assert.equal(sameOrigin({ origin: "http://deploy.example:8780", host }, url), true);
  assert.equal(sameOrigin({ origin: "https://DEPLOY.example:8780", host }, url), true);
  assert.equal(sameOrigin({ origin: "https://deploy.example", host: "deploy.example:443" }, "http://deploy.example:443/x"), true);
});

test("another host, another port, a look-alike suffix or an opaque origin is refused", () => {
  assert.equal(sameOrigin({ origin: "http://evil.example", host }, url), false);
  assert.equal(sameOrigin({ origin: "http://deploy.example:8781", host }, url), false);
  assert.equal(sameOrigin({ origin: "http://deploy.example:8780.evil.example", host }, url), false);
  assert.equal(sameOrigin({ origin: "null", host }, url), false);
  assert.equal(sameOrigin({ origin: "", host }, url), false);
  assert.equal(sameOrigin({ origin: "not a url", host }, url), false);
  assert.equal(sameOrigin({ origin: "file://deploy.example:8780", host }, url), false);
});

test("without Origin the Referer decides; with neither the request is refused", () => {
  assert.equal(sameOrigin({ referer: "http://deploy.example:8780/apps/a/artifacts", host }, url), true);
  assert.equal(sameOrigin({ referer: "http://evil.example/deploy.example:8780/", host }, url), false);
  assert.equal(sameOrigin({ host }, url), false);
});

test("Origin wins over Referer: a foreign Origin is refused whatever the Referer says", () => {
  assert.equal(sameOrigin({ origin: "http://evil.example", referer: "http://deploy.example:8780/", host }, url), false);
});

test("without a Host header the request URL's host is the reference", () => {
  assert.equal(sameOrigin({ origin: "http://deploy.example:8780" }, url), true);
  assert.equal(sameOrigin({ origin: "http://evil.example:8780" }, url), false);
});
