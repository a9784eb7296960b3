// The dashboard in a real browser (Debian's chromium through playwright-core): log in, deploy
// from the button through the confirmation, watch the live page reach success over SSE, find
// the history row, roll back; a viewer sees no Deploy button and its POST is refused.
// Skeleton: the server here is webRoutes around the in-memory context of the unit tests, with
// a stand-in for the API's SSE route (same wire format). It moves to the real core later.
// Screenshots: test-results/serve-dashboard/*.png.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync } from "node:fs";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { serve, type ServerType } from "@hono/node-server";
import { Hono } from "hono";
import { streamSSE } from "hono/streaming";
import { chromium, type Browser, type Page } from "playwright-core";
import { FINISHED } from "../../src/serve/model.js";
import { webRoutes } from "../../src/serve/web/routes.js";
import { FakeServer } from "../unit/serve-web-fake.js";

const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
const SHOTS = path.resolve("test-results/serve-dashboard");
const DEPLOYER = "tok-deployer-0123456789abcdef";
const VIEWER = "tok-viewer-0123456789abcdef";

let fake: FakeServer;
let http: ServerType;
let base: string;
let browser: Browser;

before(async () => {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: apt-get install chromium (scripts/setup.sh does)`);
  mkdirSync(SHOTS, { recursive: true });
  fake = new FakeServer([
    {
      name: "ledger",
      targets: [
        {
          name: "prod",
          confirm: true,
          roles: [
            { name: "web", hosts: ["web1", "web2"] },
            { name: "worker", hosts: ["work1"] },
          ],
        },
        { name: "staging", roles: [{ name: "web", hosts: ["stage1"] }] },
      ],
    },
  ]);
  fake.run = { stepMs: 250, steps: ["connect", "lock", "send", "unpack", "switch", "restart", "health"] };
  fake.addToken(DEPLOYER, "dan", [{ role: "deployer", app: "ledger", target: "*" }]);
  fake.addToken(VIEWER, "vera", [{ role: "viewer", app: "ledger", target: "*" }]);
  fake.artifacts.push(
    {
      app: "ledger",
      build_id: "41",
      commit: "a".repeat(40),
      venv_key: "venv-1",
      size: 52_000_000,
      uploaded_at: "2026-11-01T10:00:00Z",
      uploaded_by: "ci",
      sha256: "1",
    },
    {
      app: "ledger",
      build_id: "42",
      commit: "b".repeat(40),
      dirty: true,
      venv_key: "venv-2",
      size: 53_000_000,
      signer: "ci-key",
      uploaded_at: "2026-11-02T10:00:00Z",
      uploaded_by: "ci",
      sha256: "2",
    },
  );
  const ctx = fake.context();
  const app = new Hono();
  // Stand-in for the API's event stream (api/routes.ts): "event" per deploy event, "end" when finished.
  app.get("/api/deploys/:id/events", (c) => {
    const id = Number(c.req.param("id"));
    let seq = Number(c.req.header("last-event-id") ?? c.req.query("after") ?? 0) || 0;
    return streamSSE(c, async (stream) => {
      const abort = new AbortController();
      stream.onAbort(() => abort.abort());
      while (!abort.signal.aborted) {
        for (const e of ctx.reads.events(id, seq)) {
          await stream.writeSSE({ id: String(e.seq), event: "event", data: JSON.stringify({ seq: e.seq, at: e.at, ...e.event }) });
          seq = e.seq;
        }
        const row = ctx.reads.deploy(id)!;
        if (FINISHED.includes(row.state) && ctx.reads.events(id, seq).length === 0) {
          await stream.writeSSE({ event: "end", data: JSON.stringify(row) });
          break;
        }
        await ctx.reads.waitEvents(id, seq, abort.signal);
      }
    });
  });
  app.route("/", webRoutes(ctx));
  http = await new Promise<ServerType>((resolve) => {
    const s = serve({ fetch: app.fetch, hostname: "127.0.0.1", port: 0 }, () => resolve(s));
  });
  base = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
  // --no-sandbox: the test may run as root in a container, where chromium's sandbox cannot start.
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ["--no-sandbox"] });
});

after(async () => {
  await browser?.close();
  (http as { closeAllConnections?: () => void } | undefined)?.closeAllConnections?.();
  await new Promise<void>((r) => (http ? http.close(() => r()) : r()));
});

async function loggedIn(token: string): Promise<Page> {
  const page = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
  await page.goto(`${base}/`);
  assert.equal(new URL(page.url()).pathname, "/login", "without a session / sends the browser to the login form");
  await page.fill('input[name="token"]', token);
  await Promise.all([page.waitForURL(`${base}/`), page.click('button[type="submit"]:has-text("Log in")')]);
  assert.ok(!page.url().includes(token), "the token never appears in a URL");
  return page;
}

const shot = (page: Page, name: string) => page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });

test("deployer: log in, deploy from the button, watch it live, find it in history, roll back", async () => {
  const page = await loggedIn(DEPLOYER);
  await page.waitForSelector("text=Apps and targets");
  assert.match((await page.textContent("main")) ?? "", /ledger[\s\S]*prod[\s\S]*web1[\s\S]*work1/);
  await shot(page, "01-apps");

  await page.click("a:has-text('artifacts')");
  await page.waitForSelector("table.artifacts");
  await shot(page, "02-artifacts");

  // Build 42's Deploy button for prod: a confirmation first, naming the target and its hosts.
  await page.click("tr:has(code:text-is('42')) button:has-text('Deploy to prod')");
  await page.waitForSelector("text=Deploy 42 to ledger / prod?");
  const confirm = (await page.textContent("main"))!;
  assert.match(confirm, /web1, web2/);
  assert.match(confirm, /work1/);
  assert.match(confirm, /3 hosts/);
  assert.equal(fake.deploys.length, 0, "the confirmation changed nothing");
  await shot(page, "03-confirm");

  await page.click("form.confirm button.primary");
  await page.waitForURL(/\/deploys\/\d+$/);
  const id = Number(page.url().split("/").pop());
  // While it runs, rows stream in through SSE into the same document: a mark set on it survives.
  await page.evaluate(() => {
    (globalThis as { liveMark?: boolean }).liveMark = true;
  });
  await page.locator("#summary", { hasText: "running" }).waitFor({ timeout: 10_000 });
  await page.locator("#log tr[data-seq]").nth(5).waitFor({ timeout: 10_000 });
  assert.equal(await page.evaluate(() => (globalThis as { liveMark?: boolean }).liveMark), true, "rows arrived without a reload");
  assert.equal(await page.locator("#actions button:has-text('Cancel')").count(), 0, "no Cancel once it runs");
  await shot(page, "04-deploy-live");
  // At the end the page reloads into its final form: succeeded, every host's health step done, a Rollback button.
  await page.waitForSelector("#live[data-state='succeeded']", { timeout: 15_000 });
  const final = (await page.textContent("main"))!;
  assert.match(final, /succeeded/);
  assert.equal(await page.locator("#hosts tbody tr").count(), 3);
  assert.equal(await page.locator("#hosts td.step-done").count(), 3 * fake.run!.steps.length);
  assert.match(final, /health done/);
  await shot(page, "05-deploy-done");

  await page.click("a:has-text('History')");
  await page.waitForSelector("table.history");
  const row = page.locator(`table.history tr:has(a:text-is('${id}'))`);
  assert.match((await row.textContent())!, /dan[\s\S]*dashboard[\s\S]*deploy[\s\S]*42[\s\S]*succeeded/);
  await page.selectOption("select[name='state']", "failed");
  await page.click("button:has-text('Filter')");
  await page.waitForSelector("text=No deploys match.");
  assert.match(page.url(), /state=failed/);
  await page.goBack();
  await shot(page, "06-history");

  await page.goto(`${base}/deploys/${id}`);
  await page.click("button:has-text('Rollback prod')");
  await page.waitForSelector("text=Roll back ledger / prod to the previous release?");
  await page.click("form.confirm button.primary");
  await page.waitForURL(/\/deploys\/\d+$/);
  assert.notEqual(Number(page.url().split("/").pop()), id);
  await page.waitForSelector("#live[data-state='succeeded']", { timeout: 15_000 });
  assert.equal(fake.deploys.at(-1)!.kind, "rollback");
  assert.equal(fake.deploys.at(-1)!.via, "dashboard");
  await shot(page, "07-rollback-done");
});

test("viewer: no Deploy, Rollback or Lock buttons, and a POST made anyway is refused", async () => {
  const page = await loggedIn(VIEWER);
  assert.equal(await page.locator("form[action$='/lock']").count(), 0);
  await page.goto(`${base}/apps/ledger/artifacts`);
  await page.waitForSelector("table.artifacts");
  assert.equal(await page.locator("button:has-text('Deploy to')").count(), 0);
  await shot(page, "08-viewer-artifacts");
  const before = fake.calls.length;
  // A same-origin POST from the viewer's own page: it passes the Origin check and fails the role check.
  const refused = await page.evaluate(async () => {
    const res = await fetch("/apps/ledger/targets/prod/deploys", { method: "POST", body: new URLSearchParams({ build_id: "42", confirmed: "1" }) });
    return { status: res.status, text: await res.text() };
  });
  assert.equal(refused.status, 403);
  assert.match(refused.text, /needs the deployer role/, "refused for its role, not by the Origin check");
  assert.equal(fake.calls.length, before, "no action was called");
  const done = fake.addDeploy({ app: "ledger", target: "prod", state: "succeeded", build_id: "41" });
  await page.goto(`${base}/deploys/${done.id}`);
  await page.waitForSelector("#live[data-state='succeeded']");
  assert.equal(await page.locator("button:has-text('Rollback')").count(), 0);
});
