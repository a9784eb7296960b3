// The dashboard's routes through Hono's request(): login and the session cookie, redirects
// without a session, the Origin check on every POST, role checks on POSTs, the confirm step.
import { test } from "node:test";
import assert from "node:assert/strict";
import { FailureLimiter } from "../../src/serve/rate-limit.js";
import { webRoutes } from "../../src/serve/web/routes.js";
import { FakeServer } from "./serve-web-fake.js";

const BASE = "http://dash.test:8780";
const SAME = { origin: BASE, host: "dash.test:8780" };

function setup(opts: Parameters<typeof webRoutes>[1] = {}) {
  const fake = new FakeServer([
    {
      name: "ledger",
      targets: [
        { name: "prod", roles: [{ name: "web", hosts: ["web1", "web2"] }] },
        { name: "staging", roles: [{ name: "web", hosts: ["s1"] }] },
      ],
    },
    { name: "secret-app", targets: [{ name: "prod", roles: [{ name: "web", hosts: ["x1"] }] }] },
  ]);
  fake.addToken("tok-viewer-0123456789", "vera", [{ role: "viewer", app: "ledger", target: "*" }]);
  fake.addToken("tok-deployer-0123456789", "dan", [{ role: "deployer", app: "ledger", target: "*" }]);
  fake.artifacts.push({ app: "ledger", build_id: "b42", venv_key: "k", size: 1, uploaded_at: "2026-01-01T00:00:00Z", uploaded_by: "ci", sha256: "0" });
  const web = webRoutes(fake.context(), opts);
  const req = (path: string, init: RequestInit & { headers?: Record<string, string> } = {}) => web.request(`${BASE}${path}`, init);
  const form = (fields: Record<string, string>) => new URLSearchParams(fields).toString();
  const post = (path: string, fields: Record<string, string>, headers: Record<string, string> = SAME) =>
    req(path, { method: "POST", body: form(fields), headers: { "content-type": "application/x-www-form-urlencoded", ...headers } });
  const login = async (token: string) => {
    const res = await post("/login", { token });
    const cookie = res.headers.get("set-cookie") ?? "";
    return { res, cookie: cookie.split(";")[0]! };
  };
  return { fake, web, req, post, login };
}

test("login with a token sets an HttpOnly, SameSite=Lax session cookie and redirects to /; the token is nowhere in the answer", async () => {
  const { login } = setup();
  const { res, cookie } = await login("tok-deployer-0123456789");
  assert.equal(res.status, 303);
  assert.equal(res.headers.get("location"), "/");
  const set = res.headers.get("set-cookie")!;
  assert.match(set, /^slipway_session=[A-Za-z0-9_-]{43};/);
  assert.match(set, /HttpOnly/);
  assert.match(set, /SameSite=Lax/);
  assert.match(set, /Path=\//);
  assert.doesNotMatch(set, /Secure/, "not over plain http");
  assert.ok(cookie.startsWith("slipway_session="));
  for (const [, v] of res.headers) assert.ok(!v.includes("tok-deployer"), "the token in a header");
  assert.ok(!(await res.text()).includes("tok-deployer"));
});

test("over https (or behind a proxy that says so) the cookie is Secure", async () => {
  const { web } = setup();
  const res = await web.request("https://dash.test/login", {
    method: "POST",
    body: "token=tok-viewer-0123456789",
    headers: { "content-type": "application/x-www-form-urlencoded", origin: "https://dash.test", host: "dash.test" },
  });
  assert.match(res.headers.get("set-cookie")!, /; Secure/);
});

test("a wrong token gets 401 and the login form, no cookie; failures are rate-limited", async () => {
  const limiter = new FailureLimiter(2, 60_000);
  const { login } = setup({ limiter, clientIp: () => "10.0.0.9" });
  const first = await login("tok-wrong");
  assert.equal(first.res.status, 401);
  assert.equal(first.res.headers.get("set-cookie"), null);
  assert.match(await first.res.text(), /not valid/);
  await login("tok-wrong-2");
  const third = await login("tok-deployer-0123456789");
  assert.equal(third.res.status, 429, "blocked for this address even with a right token");
  assert.equal(third.res.headers.get("set-cookie"), null);
});

test("pages redirect to /login without a valid session; /login and static files do not need one", async () => {
  const { req } = setup();
  for (const path of ["/", "/history", "/apps/ledger/artifacts", "/deploys/1"]) {
    const res = await req(path);
    assert.equal(res.status, 303, path);
    assert.equal(res.headers.get("location"), "/login");
  }
  const bogus = await req("/", { headers: { cookie: "slipway_session=nope" } });
  assert.equal(bogus.status, 303);
  assert.equal((await req("/login")).status, 200);
  const js = await req("/static/app.js");
  assert.equal(js.status, 200);
  assert.match(js.headers.get("content-type")!, /javascript/);
  assert.match(await js.text(), /new EventSource\("\/api\/deploys\//);
  assert.equal((await req("/static/app.css")).status, 200);
});

test("pages carry a CSP allowing only this server's scripts, and refuse framing", async () => {
  const { req } = setup();
  const res = await req("/login");
  assert.match(res.headers.get("content-security-policy")!, /script-src 'self'/);
  assert.match(res.headers.get("content-security-policy")!, /frame-ancestors 'none'/);
  assert.equal(res.headers.get("x-frame-options"), "DENY");
});

test("every POST checks Origin (or Referer): foreign or missing → 403, nothing done", async () => {
  const { fake, post, login } = setup();
  const { cookie } = await login("tok-deployer-0123456789");
  const body = { build_id: "b42", confirmed: "1" };
  const path = "/apps/ledger/targets/prod/deploys";
  const foreign = await post(path, body, { origin: "http://evil.test", host: "dash.test:8780", cookie });
  assert.equal(foreign.status, 403);
  assert.match(await foreign.text(), /not sent from a page of this server/);
  assert.equal((await post(path, body, { host: "dash.test:8780", cookie })).status, 403, "neither Origin nor Referer");
  assert.equal((await post(path, body, { referer: "http://evil.test/", host: "dash.test:8780", cookie })).status, 403);
  assert.equal((await post("/login", { token: "tok-deployer-0123456789" }, { origin: "http://evil.test", host: "dash.test:8780" })).status, 403, "login too");
  assert.equal((await post("/logout", {}, { origin: "http://evil.test", host: "dash.test:8780", cookie })).status, 403);
  assert.equal(fake.calls.length, 0);
  const viaReferer = await post(path, body, { referer: `${BASE}/apps/ledger/artifacts`, host: "dash.test:8780", cookie });
  assert.equal(viaReferer.status, 303, "a same-host Referer is enough without Origin");
});

test("a deployer's Deploy button: first a confirmation naming target and hosts, then the deploy, via dashboard", async () => {
  const { fake, post, req, login } = setup();
  const { cookie } = await login("tok-deployer-0123456789");
  const confirm = await post("/apps/ledger/targets/prod/deploys", { build_id: "b42" }, { ...SAME, cookie });
  assert.equal(confirm.status, 200);
  const page = await confirm.text();
  assert.match(page, /Deploy <code>b42<\/code> to ledger \/ prod\?/);
  assert.match(page, /web1, web2/);
  assert.equal(fake.calls.length, 0, "the confirmation changes nothing");
  const done = await post("/apps/ledger/targets/prod/deploys", { build_id: "b42", confirmed: "1", roles: "web" }, { ...SAME, cookie });
  assert.equal(done.status, 303);
  const id = fake.deploys.at(-1)!.id;
  assert.equal(done.headers.get("location"), `/deploys/${id}`);
  assert.deepEqual(fake.calls[0]!.args, ["ledger", "prod", { build_id: "b42", roles: "web", batch: undefined }]);
  assert.equal(fake.calls[0]!.actor.via, "dashboard");
  assert.equal(fake.calls[0]!.actor.user, "dan");
  const live = await req(`/deploys/${id}`, { headers: { cookie } });
  assert.equal(live.status, 200);
  assert.match(await live.text(), /data-state="queued"/);
});

test("a viewer's POSTs are refused with a 403 page and reach no action; the pages show no buttons", async () => {
  const { fake, post, req, login } = setup();
  const { cookie } = await login("tok-viewer-0123456789");
  const arts = await (await req("/apps/ledger/artifacts", { headers: { cookie } })).text();
  assert.match(arts, /b42/);
  assert.doesNotMatch(arts, /Deploy to/);
  for (const [path, body] of [
    ["/apps/ledger/targets/prod/deploys", { build_id: "b42" }],
    ["/apps/ledger/targets/prod/deploys", { build_id: "b42", confirmed: "1" }],
    ["/apps/ledger/targets/prod/rollback", { confirmed: "1" }],
    ["/apps/ledger/targets/prod/lock", { reason: "x" }],
    ["/apps/ledger/targets/prod/unlock", {}],
  ] as const) {
    const res = await post(path, body, { ...SAME, cookie });
    assert.equal(res.status, 403, path);
    assert.match(await res.text(), /403 Forbidden[\s\S]*needs the deployer role/);
  }
  assert.equal(fake.calls.length, 0);
});

test("apps and deploys outside the viewer's grants are 404, and hidden from / and /history", async () => {
  const { fake, req, login, post } = setup();
  const hidden = fake.addDeploy({ app: "secret-app", target: "prod", state: "succeeded", build_id: "s1" });
  const { cookie } = await login("tok-deployer-0123456789");
  assert.equal((await req("/apps/secret-app/artifacts", { headers: { cookie } })).status, 404);
  assert.equal((await req(`/deploys/${hidden.id}`, { headers: { cookie } })).status, 404);
  assert.equal((await req("/deploys/..%2F1", { headers: { cookie } })).status, 404);
  assert.equal((await post("/apps/secret-app/targets/prod/deploys", { build_id: "s1", confirmed: "1" }, { ...SAME, cookie })).status, 404);
  const home = await (await req("/", { headers: { cookie } })).text();
  assert.doesNotMatch(home, /secret-app/);
  assert.match(home, /staging/);
  assert.doesNotMatch(await (await req("/history", { headers: { cookie } })).text(), /secret-app/);
});

test("bad form input gets a 400 page naming the field", async () => {
  const { fake, post, login } = setup();
  const { cookie } = await login("tok-deployer-0123456789");
  const bad = await post("/apps/ledger/targets/prod/deploys", { build_id: "../etc", confirmed: "1" }, { ...SAME, cookie });
  assert.equal(bad.status, 400);
  assert.match(await bad.text(), /build_id/);
  const batch = await post("/apps/ledger/targets/prod/deploys", { build_id: "b42", batch: "lots" }, { ...SAME, cookie });
  assert.equal(batch.status, 400);
  const unknown = await post("/apps/ledger/targets/prod/deploys", { build_id: "nope" }, { ...SAME, cookie });
  assert.equal(unknown.status, 404, "the confirmation needs an uploaded artifact");
  assert.equal((await post("/apps/ledger/targets/prod/lock", {}, { ...SAME, cookie })).status, 400, "a lock needs a reason");
  assert.equal(fake.calls.length, 0);
});

test("history filters by query; lock and logout work and logout ends the session", async () => {
  const { fake, req, post, login } = setup();
  fake.addDeploy({ app: "ledger", target: "prod", state: "succeeded", build_id: "b1", user: "alice", via: "api" });
  fake.addDeploy({ app: "ledger", target: "staging", state: "failed", build_id: "b2", user: "bob", via: "slack" });
  const { cookie } = await login("tok-deployer-0123456789");
  const h = await (await req("/history?via=slack", { headers: { cookie } })).text();
  assert.match(h, /b2/);
  assert.doesNotMatch(h, /<code>b1<\/code>/);
  assert.match(h, /<option value="slack" selected>/);
  const locked = await post("/apps/ledger/targets/prod/lock", { reason: "db work" }, { ...SAME, cookie });
  assert.equal(locked.status, 303);
  assert.match(await (await req("/", { headers: { cookie } })).text(), /Locked by dan[\s\S]*db work/);
  const out = await post("/logout", {}, { ...SAME, cookie });
  assert.equal(out.headers.get("location"), "/login");
  assert.match(out.headers.get("set-cookie")!, /slipway_session=;/);
  assert.equal((await req("/", { headers: { cookie } })).status, 303, "the old cookie no longer works");
});
