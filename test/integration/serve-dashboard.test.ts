// The dashboard in a real browser (Debian's chromium through playwright-core) against the real
// server (startServer) deploying over ssh to 2 namespace hosts: log in with a token through the
// form, see the apps and artifacts pages, deploy from the button through the confirmation, watch
// the live page stream the steps in and reach success, check the hosts, find and filter the
// history row, roll back from the button; a viewer sees no buttons and its POST is refused; a
// cross-origin POST is refused even with a valid session cookie.
// Screenshots: test-results/serve-dashboard/*.png.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync } from "node:fs";
import { appendFile, mkdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { chromium, type Browser, type Page } from "playwright-core";
import { fleetApp, type FleetApp } from "../support/fleet-app.js";
import { buildWith } from "../support/build-app.js";
import { startServer, type RunningServer } from "../../src/serve/server.js";
import { loadServerConfig } from "../../src/serve/config.js";
import { tokenCreate } from "../../src/serve/admin.js";
import { push } from "../../src/serve/push.js";

const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
const SHOTS = path.resolve("test-results/serve-dashboard");

let f: FleetApp;
let server: RunningServer;
let base: string;
let appName: string;
let browser: Browser;
const tokens = {} as Record<"ci" | "dan" | "vera", string>;

const deployState = (id: number) => (server.db.prepare("SELECT state FROM deploys WHERE id = ?").get(id) as { state: string } | undefined)?.state;
const deployCount = () => (server.db.prepare("SELECT count(*) AS n FROM deploys").get() as { n: number }).n;

async function until<T>(what: string, ms: number, probe: () => Promise<T | undefined>): Promise<T> {
  for (const deadline = Date.now() + ms; Date.now() < deadline; ) {
    const v = await probe();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out: ${what}`);
}

before(async () => {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: apt-get install chromium (scripts/setup.sh does)`);
  mkdirSync(SHOTS, { recursive: true });
  f = await fleetApp(2);
  const dir = path.join(f.ws.dir, "server");
  await mkdir(dir, { recursive: true });
  const b1 = (await buildWith(f.ws, "b1")).result.artifact;
  // b2: a code-only change (the same venv as b1).
  await appendFile(path.join(f.ws.app, "hello/app.py"), "\n# code-only change\n");
  const b2 = (await buildWith(f.ws, "b2")).result.artifact;
  const configFile = path.join(f.ws.app, "slipway.toml");
  appName = /^name\s*=\s*"([^"]+)"/m.exec(await readFile(configFile, "utf8"))![1]!;
  // A short pause before each switch: the deploy is surely still running when the live page
  // shows its first rows, so those rows came over SSE, not from a finished page.
  await appendFile(configFile, `\n[deploy.hooks]\nbefore_switch = ["sleep 2"]\n`);
  await writeFile(path.join(dir, "slipway-server.toml"), `[server]\nlisten = "127.0.0.1:0"\ndata = "data"\n\n[apps.${appName}]\nconfig = "${configFile}"\n`);
  const config = await loadServerConfig(path.join(dir, "slipway-server.toml"));
  tokens.ci = tokenCreate(config.dataDir, { name: "ci", role: "deployer", app: appName }).token;
  tokens.dan = tokenCreate(config.dataDir, { name: "dan", role: "deployer", app: appName }).token;
  tokens.vera = tokenCreate(config.dataDir, { name: "vera", role: "viewer", app: appName }).token;
  server = await startServer({ server: config, log: () => {} });
  base = server.url;
  for (const a of [b1, b2]) await push({ artifact: a, server: base, token: tokens.ci });
  // b1 runs on the hosts before the browser comes in (deployed by CI over the API).
  const res = await fetch(`${base}/api/apps/${appName}/targets/fleet/deploys`, {
    method: "POST",
    headers: { authorization: `Bearer ${tokens.ci}`, "content-type": "application/json" },
    body: JSON.stringify({ build_id: "b1" }),
  });
  assert.equal(res.status, 202, await res.clone().text());
  const id = ((await res.json()) as { id: number }).id;
  const state = await until("b1 deployed", 120_000, async () => {
    const s = deployState(id);
    return s === "queued" || s === "running" ? undefined : s;
  });
  assert.equal(state, "succeeded");
  for (const h of f.hosts) assert.equal((await f.health(h)).build_id, "b1");
  // --no-sandbox: the test may run as root in a container, where chromium's sandbox cannot start.
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ["--no-sandbox"] });
});

after(async () => {
  await browser?.close();
  await server?.close();
  await f?.stop();
});

async function loggedIn(token: string): Promise<Page> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  await page.goto(`${base}/`);
  assert.equal(new URL(page.url()).pathname, "/login", "without a session / sends the browser to the login form");
  await page.fill('input[name="token"]', token);
  await Promise.all([page.waitForURL(`${base}/`), page.click('button[type="submit"]:has-text("Log in")')]);
  assert.ok(!page.url().includes(token), "the token never appears in a URL");
  const cookie = (await context.cookies(base)).find((c) => c.name === "slipway_session");
  assert.ok(cookie, "a session cookie is set");
  assert.equal(cookie.httpOnly, true, "the session cookie is HttpOnly");
  assert.equal(cookie.sameSite, "Lax", "the session cookie is SameSite=Lax");
  assert.ok(!cookie.value.includes(token), "the cookie is a session id, not the token");
  return page;
}

const shot = (page: Page, name: string) => page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });

test("deployer: log in, deploy from the button, watch it live, check the hosts, find it in history, roll back", { timeout: 300_000 }, async () => {
  const page = await loggedIn(tokens.dan);
  await page.waitForSelector("text=Apps and targets");
  const hosts = f.hosts.map((h) => h.dest);
  const apps = (await page.textContent("main")) ?? "";
  assert.ok(apps.includes(appName) && apps.includes("fleet"), apps);
  for (const h of hosts) assert.ok(apps.includes(h), `the apps page names host ${h}`);
  await shot(page, "01-deployer-apps");

  await page.click("a:has-text('artifacts')");
  await page.waitForSelector("table.artifacts");
  const b2Row = page.locator("table.artifacts tr:has(code:text-is('b2'))");
  assert.match((await b2Row.textContent())!, /same venv/, "b2 is a code-only change from the running b1");
  assert.match((await page.locator("table.artifacts tr:has(code:text-is('b1'))").textContent())!, /deployed/);
  await shot(page, "02-deployer-artifacts");

  // Deploy b2: a confirmation first, naming the target and its hosts, that changes nothing.
  const before = deployCount();
  await b2Row.locator("button:has-text('Deploy to fleet')").click();
  await page.waitForSelector(`text=Deploy b2 to ${appName} / fleet?`);
  const confirm = (await page.textContent("main"))!;
  for (const h of hosts) assert.ok(confirm.includes(h), `the confirmation names host ${h}`);
  assert.equal(deployCount(), before, "the confirmation changed nothing");
  await shot(page, "03-deployer-confirm");

  await page.click("form.confirm button.primary");
  await page.waitForURL(/\/deploys\/\d+$/);
  const id = Number(page.url().split("/").pop());
  const shown = await page.locator("#log tr[data-seq]").count();
  // Rows stream into the same document while the deploy runs: a mark set on it survives, and the
  // deploy was still running when a row the page did not have at load appeared.
  await page.evaluate(() => {
    (globalThis as { liveMark?: boolean }).liveMark = true;
  });
  await page.locator("#log tr[data-seq]").nth(shown).waitFor({ timeout: 60_000 });
  const stateThen = deployState(id);
  assert.ok(stateThen === "running" || stateThen === "queued", `a row arrived while the deploy ran (state then: ${stateThen})`);
  assert.equal(await page.evaluate(() => (globalThis as { liveMark?: boolean }).liveMark), true, "rows arrived without a reload");
  await page.locator("#hosts tbody tr", { hasText: hosts[0]! }).waitFor({ timeout: 60_000 });
  assert.equal(deployState(id), "running", "the steps per host show while it runs");
  await shot(page, "04-deployer-deploy-live");

  // At the end the page reloads into its final form: succeeded, both hosts, a Rollback button.
  await page.waitForSelector("#live[data-state='succeeded']", { timeout: 120_000 });
  const final = (await page.textContent("main"))!;
  assert.match(final, /succeeded/);
  assert.equal(await page.locator("#hosts tbody tr").count(), hosts.length);
  assert.ok((await page.locator("#hosts td.step-done").count()) >= hosts.length * 3, "steps done on every host");
  assert.equal(await page.locator("#hosts td.step-failed").count(), 0);
  await shot(page, "05-deployer-deploy-succeeded");
  for (const h of f.hosts) assert.equal((await f.health(h)).build_id, "b2", `${h.dest} runs b2`);

  await page.click("a:has-text('History')");
  await page.waitForSelector("table.history");
  const row = page.locator(`table.history tr:has(a:text-is('${id}'))`);
  const rowText = (await row.textContent())!;
  assert.match(rowText, /dan[\s\S]*dashboard[\s\S]*deploy[\s\S]*b2[\s\S]*fleet[\s\S]*succeeded/);
  assert.match((await row.locator("td").last().textContent())!, /\d/, "a duration");
  await shot(page, "06-deployer-history");
  await page.selectOption("select[name='via']", "dashboard");
  await page.click("button:has-text('Filter')");
  await page.waitForURL(/via=dashboard/);
  assert.equal(await page.locator(`table.history tr:has(a:text-is('${id}'))`).count(), 1);
  assert.equal(await page.locator("table.history tr:has(td:text-is('ci'))").count(), 0, "CI's API deploy is filtered out");
  await shot(page, "07-deployer-history-filtered-dashboard");
  await page.selectOption("select[name='state']", "failed");
  await page.click("button:has-text('Filter')");
  await page.waitForSelector("text=No deploys match.");
  assert.match(page.url(), /state=failed/);

  await page.goto(`${base}/deploys/${id}`);
  await page.click("button:has-text('Rollback fleet')");
  await page.waitForSelector(`text=Roll back ${appName} / fleet to the previous release?`);
  await shot(page, "08-deployer-rollback-confirm");
  await page.click("form.confirm button.primary");
  await page.waitForURL(/\/deploys\/\d+$/);
  const rid = Number(page.url().split("/").pop());
  assert.notEqual(rid, id);
  await page.waitForSelector("#live[data-state='succeeded']", { timeout: 120_000 });
  assert.match((await page.textContent("#summary"))!, /dan via dashboard/);
  await shot(page, "09-deployer-rollback-succeeded");
  for (const h of f.hosts) assert.equal((await f.health(h)).build_id, "b1", `${h.dest} is back on b1`);
  const kind = (server.db.prepare("SELECT kind, via FROM deploys WHERE id = ?").get(rid) as { kind: string; via: string }) ?? {};
  assert.deepEqual({ ...kind }, { kind: "rollback", via: "dashboard" });

  // A cross-origin POST carrying this valid session cookie: refused, nothing queued.
  const n = deployCount();
  const evil = await page.request.post(`${base}/apps/${appName}/targets/fleet/deploys`, {
    headers: { origin: "http://evil.example" },
    form: { build_id: "b2", confirmed: "1" },
    maxRedirects: 0,
  });
  assert.equal(evil.status(), 403, await evil.text());
  assert.match(await evil.text(), /not sent from a page of this server/);
  const same = await page.request.get(`${base}/history`);
  assert.equal(same.status(), 200, "the same cookie is a valid session");
  assert.match(await same.text(), /<table class="history"/);
  assert.equal(deployCount(), n, "the cross-origin POST changed nothing");

  // Failures: a dashboard page answers with an HTML page, the API with JSON.
  const page404 = await page.request.get(`${base}/deploys/999999`);
  assert.equal(page404.status(), 404);
  assert.match(page404.headers()["content-type"] ?? "", /text\/html/);
  const api404 = await page.request.get(`${base}/api/deploys/999999`);
  assert.equal(api404.status(), 404);
  assert.match(api404.headers()["content-type"] ?? "", /application\/json/);

  const ms = (d: number) => (server.db.prepare("SELECT duration_ms FROM deploys WHERE id = ?").get(d) as { duration_ms: number }).duration_ms;
  console.log(`dashboard: ${shown} log rows at load, first live row while ${stateThen}; deploy b2 ${ms(id)} ms, rollback ${ms(rid)} ms`);
});

test("viewer: no Deploy, Rollback or Lock buttons, and a POST made anyway is refused", { timeout: 120_000 }, async () => {
  const page = await loggedIn(tokens.vera);
  await page.waitForSelector("text=Apps and targets");
  assert.equal(await page.locator("form[action$='/lock']").count(), 0, "no Lock form");
  assert.equal(await page.locator("button:has-text('Lock')").count(), 0, "no Lock button");
  await shot(page, "10-viewer-apps");
  await page.goto(`${base}/apps/${appName}/artifacts`);
  await page.waitForSelector("table.artifacts");
  assert.equal(await page.locator("button:has-text('Deploy to')").count(), 0);
  await shot(page, "11-viewer-artifacts");
  const last = (server.db.prepare("SELECT max(id) AS id FROM deploys").get() as { id: number }).id;
  await page.goto(`${base}/deploys/${last}`);
  await page.waitForSelector("#live[data-state='succeeded']");
  assert.equal(await page.locator("button:has-text('Rollback')").count(), 0);
  await shot(page, "12-viewer-deploy");
  const n = deployCount();
  // A same-origin POST from the viewer's own page: it passes the Origin check and fails the role check.
  const refused = await page.evaluate(async (app) => {
    const res = await fetch(`/apps/${app}/targets/fleet/deploys`, { method: "POST", body: new URLSearchParams({ build_id: "b2", confirmed: "1" }) });
    return { status: res.status, text: await res.text() };
  }, appName);
  assert.equal(refused.status, 403);
  assert.match(refused.text, /needs the deployer role/, "refused for its role, not by the Origin check");
  const rb = await page.evaluate(async (app) => {
    const res = await fetch(`/apps/${app}/targets/fleet/rollback`, { method: "POST", body: new URLSearchParams({ confirmed: "1" }) });
    return res.status;
  }, appName);
  assert.equal(rb, 403);
  assert.equal(deployCount(), n, "nothing was queued");
});
