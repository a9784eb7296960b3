// Chat end to end: the real server (startServer: SQLite store, deploy runner, ssh pool) deploying
// to 2 namespace hosts, driven by requests signed exactly as Slack signs them (v0 HMAC over
// `v0:ts:body`) and sent as Mattermost sends them (the slash command's token), with a local
// node:http server playing response_url. Asserts the immediate answers, what reaches
// response_url, what the hosts really run, what the server queued, and that no secret, signature
// or response_url reaches the server's log.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { appendFile, mkdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { fleetApp, targetToml, type FleetApp } from "../support/fleet-app.js";
import { buildWith } from "../support/build-app.js";
import { startServer, type RunningServer } from "../../src/serve/server.js";
import { loadServerConfig } from "../../src/serve/config.js";
import { tokenCreate } from "../../src/serve/admin.js";
import { push } from "../../src/serve/push.js";
import { slackSignature } from "../../src/serve/chat/verify.js";

const SLACK_SECRET = "e2e-slack-signing-secret-8f3a1c9b7d";
const MM_TOKEN = "e2emattermosttoken9x7k2p4q";
const DEPLOYER = "U0DEPLOY";
const VIEWER = "U0VIEW";
const MM_USER_ID = "mmdeployer0id4k2";

let f: FleetApp;
let server: RunningServer;
let appName: string;
let admin: string;
const logLines: string[] = [];
const signaturesSent: string[] = [];
const responseUrls: string[] = [];

type Post = Record<string, unknown>;

/** Plays Slack's and Mattermost's response_url: every POST's JSON, by path. */
class Receiver {
  readonly got = new Map<string, Post[]>();
  private server!: Server;
  private base = "";

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      let body = "";
      req.on("data", (c) => (body += c));
      req.on("end", () => {
        const list = this.got.get(req.url!) ?? [];
        list.push({ ...JSON.parse(body), _type: req.headers["content-type"] });
        this.got.set(req.url!, list);
        res.end("ok");
      });
    });
    await new Promise<void>((r) => this.server.listen(0, "127.0.0.1", r));
    this.base = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** A fresh response_url; its path is a bearer secret, as Slack's is. */
  url(): string {
    const u = `${this.base}/hooks/T0E2E/${Math.random().toString(36).slice(2)}${Math.random().toString(36).slice(2)}`;
    responseUrls.push(u);
    return u;
  }

  posts(url: string): Post[] {
    return this.got.get(new URL(url).pathname) ?? [];
  }

  /** The posts to one URL once `until` holds for them. */
  async waitFor(url: string, until: (posts: Post[]) => boolean, ms = 120_000): Promise<Post[]> {
    for (const deadline = Date.now() + ms; ; ) {
      const posts = this.posts(url);
      if (until(posts)) return posts;
      if (Date.now() > deadline) assert.fail(`response_url got ${JSON.stringify(posts)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  close(): Promise<void> {
    return new Promise((r) => this.server.close(() => r()));
  }
}

const receiver = new Receiver();
const ended = (posts: Post[]) => posts.some((p) => /^(✅|❌|⚠️|⏹️)/.test(String(p.text)));
const texts = (posts: Post[]) => posts.map((p) => String(p.text ?? "")).join("\n");

interface Answer {
  status: number;
  json: Post;
  ms: number;
}

async function post(url: string, body: string, headers: Record<string, string>): Promise<Answer> {
  const t0 = Date.now();
  const res = await fetch(`${server.url}${url}`, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded", ...headers }, body });
  const text = await res.text();
  return { status: res.status, json: text ? (JSON.parse(text) as Post) : {}, ms: Date.now() - t0 };
}

/** Headers as Slack signs a request: X-Slack-Request-Timestamp and v0=HMAC-SHA256(secret, "v0:ts:body"). */
function slackHeaders(body: string, opts: { ts?: number; secret?: string } = {}): Record<string, string> {
  const ts = String(opts.ts ?? Math.floor(Date.now() / 1000));
  const signature = slackSignature(opts.secret ?? SLACK_SECRET, ts, body);
  signaturesSent.push(signature);
  return { "x-slack-request-timestamp": ts, "x-slack-signature": signature };
}

/** A slash command's form as Slack sends it. */
function slackForm(user: string, text: string, responseUrl: string): string {
  return new URLSearchParams({
    token: "legacy-verification-token",
    team_id: "T0E2E",
    team_domain: "e2e",
    channel_id: "C0E2E",
    channel_name: "deploys",
    user_id: user,
    user_name: user.toLowerCase(),
    command: "/slipway",
    text,
    api_app_id: "A0E2E",
    response_url: responseUrl,
    trigger_id: "1.2.3",
  }).toString();
}

async function slack(user: string, text: string) {
  const responseUrl = receiver.url();
  const body = slackForm(user, text, responseUrl);
  const headers = slackHeaders(body);
  return { responseUrl, body, headers, answer: await post("/chat/slack/commands", body, headers) };
}

async function mattermost(text: string, opts: { token?: string; userId?: string } = {}) {
  const responseUrl = receiver.url();
  const body = new URLSearchParams({
    channel_id: "mmchannel01",
    channel_name: "deploys",
    command: "/slipway",
    response_url: responseUrl,
    team_domain: "e2e",
    team_id: "mmteam01",
    text,
    token: opts.token ?? MM_TOKEN,
    trigger_id: "mmtrigger01",
    user_id: opts.userId ?? MM_USER_ID,
    user_name: "dora",
  }).toString();
  return { responseUrl, answer: await post("/chat/mattermost/commands", body, {}) };
}

/** Every deploy the server holds, newest first, read over the API as an admin. */
async function deploys(): Promise<{ id: number; build_id?: string; state: string; via: string; user: string; target: string; kind: string }[]> {
  const res = await fetch(`${server.url}/api/history?app=${appName}`, { headers: { authorization: `Bearer ${admin}` } });
  assert.equal(res.status, 200);
  return ((await res.json()) as { deploys: [] }).deploys;
}

async function hostBuilds(): Promise<unknown[]> {
  return Promise.all(f.hosts.map(async (h) => (await f.health(h)).build_id));
}

before(async () => {
  f = await fleetApp(2);
  const dir = path.join(f.ws.dir, "server");
  await mkdir(dir, { recursive: true });
  const builds: Record<string, string> = {};
  builds.b1 = (await buildWith(f.ws, "b1")).result.artifact;
  await appendFile(path.join(f.ws.app, "hello/app.py"), "\n# code-only change\n");
  builds.b2 = (await buildWith(f.ws, "b2")).result.artifact;
  await appendFile(path.join(f.ws.app, "hello/app.py"), "\n# another\n");
  builds.b3 = (await buildWith(f.ws, "b3")).result.artifact;
  const appToml = path.join(f.ws.app, "slipway.toml");
  appName = /^name\s*=\s*"([^"]+)"/m.exec(await readFile(appToml, "utf8"))![1]!;
  // A second target on the same hosts, which the server asks to confirm.
  await appendFile(appToml, targetToml("prod", f.fleet));
  await receiver.start();
  process.env.SLW_E2E_SLACK_SECRET = SLACK_SECRET;
  process.env.SLW_E2E_MM_TOKEN = MM_TOKEN;
  await writeFile(
    path.join(dir, "slipway-server.toml"),
    `[server]
listen = "127.0.0.1:0"
data = "data"

[apps.${appName}]
config = "${appToml}"
[apps.${appName}.targets.prod]
confirm = true

[chat.slack]
signing_secret_env = "SLW_E2E_SLACK_SECRET"
[chat.mattermost]
token_env = "SLW_E2E_MM_TOKEN"

[users.dee]
slack = "${DEPLOYER}"
grants = ["deployer:${appName}"]
[users.vic]
slack = "${VIEWER}"
grants = ["viewer:${appName}"]
[users.dora]
mattermost = "${MM_USER_ID}"
grants = ["deployer:${appName}/fleet"]
`,
  );
  const config = await loadServerConfig(path.join(dir, "slipway-server.toml"));
  admin = tokenCreate(config.dataDir, { name: "admin", role: "admin", app: appName }).token;
  server = await startServer({ server: config, log: (l) => logLines.push(l) });
  for (const b of ["b1", "b2", "b3"]) await push({ artifact: builds[b]!, server: server.url, token: admin });
});

after(async () => {
  await server?.close();
  await receiver?.close();
  await f?.stop();
  delete process.env.SLW_E2E_SLACK_SECRET;
  delete process.env.SLW_E2E_MM_TOKEN;
});

test("chat e2e: Slack deploys for real, refuses the viewer and forged, stale or replayed requests; confirm buttons; Mattermost; no secret logged", {
  timeout: 480_000,
}, async () => {
  // A deployer's deploy: acknowledged in the channel at once, followed on response_url to its end.
  const d1 = await slack(DEPLOYER, `deploy ${appName} b1 to fleet`);
  assert.equal(d1.answer.status, 200, JSON.stringify(d1.answer.json));
  assert.ok(d1.answer.ms < 3000, `acknowledged in ${d1.answer.ms} ms (Slack waits 3 s)`);
  assert.equal(d1.answer.json.response_type, "in_channel");
  assert.match(String(d1.answer.json.text), new RegExp(`dee started #\\d+: deploy of \`b1\` to \`${appName}/fleet\``));
  const p1 = await receiver.waitFor(d1.responseUrl, ended);
  assert.match(texts(p1), /^▶️ #\d+ deploy of `b1` .* started(: 2 hosts)?$/m, texts(p1));
  assert.match(String(p1.at(-1)!.text), new RegExp(`^✅ #\\d+ deploy of \`b1\` to \`${appName}/fleet\` succeeded in .* \\(2 hosts\\)$`));
  assert.ok(p1.length <= 5, "at most 5 posts per response_url");
  assert.ok(p1.every((p) => p.response_type === "in_channel" && p._type === "application/json"));
  assert.deepEqual(await hostBuilds(), ["b1", "b1"]);
  let rows = await deploys();
  assert.equal(rows.length, 1);
  assert.deepEqual([rows[0]!.state, rows[0]!.via, rows[0]!.user, rows[0]!.build_id], ["succeeded", "slack", "dee", "b1"]);

  // The viewer: refused, only to them, nothing queued, nothing posted later.
  const v = await slack(VIEWER, `deploy ${appName} b2 to fleet`);
  assert.equal(v.answer.status, 200);
  assert.equal(v.answer.json.response_type, "ephemeral");
  assert.match(String(v.answer.json.text), /^Refused: deploy on `.*\/fleet` needs the deployer role; vic has only viewer there/);
  // Forged, stale and replayed requests: 401 before anything runs.
  const forged = slackForm(DEPLOYER, `deploy ${appName} b2 to fleet`, receiver.url());
  const bad = await post("/chat/slack/commands", forged, slackHeaders(forged, { secret: "not-the-signing-secret" }));
  assert.equal(bad.status, 401);
  assert.match(String(bad.json.error), /X-Slack-Signature does not match/);
  const tampered = await post("/chat/slack/commands", forged.replace("b2", "b3"), slackHeaders(forged));
  assert.equal(tampered.status, 401, "a signature over another body");
  const stale = await post("/chat/slack/commands", forged, slackHeaders(forged, { ts: Math.floor(Date.now() / 1000) - 301 }));
  assert.equal(stale.status, 401);
  assert.match(String(stale.json.error), /timestamp is 30\d s old/);
  const unsigned = await post("/chat/slack/commands", forged, {});
  assert.equal(unsigned.status, 401);
  const replay = await post("/chat/slack/commands", d1.body, d1.headers);
  assert.equal(replay.status, 401, "the first deploy's request, sent again");
  assert.match(String(replay.json.error), /already received/);
  await new Promise((r) => setTimeout(r, 1000));
  assert.equal((await deploys()).length, 1, "nothing queued by the viewer or the refused requests");
  assert.deepEqual(receiver.posts(v.responseUrl), [], "the viewer's response_url got nothing");

  // A target that asks for a confirmation: buttons first, the deploy when Confirm is pressed.
  const c = await slack(DEPLOYER, `deploy ${appName} b2 to prod`);
  assert.equal(c.answer.status, 200);
  assert.equal(c.answer.json.response_type, "ephemeral");
  assert.match(String(c.answer.json.text), /Deploy `b2` to `.*\/prod`\? This target asks for a confirmation/);
  const buttons = (c.answer.json.blocks as { type: string; elements?: { action_id: string; value: string }[] }[]).find((b) => b.type === "actions")!;
  const confirm = buttons.elements!.find((e) => e.action_id === "slipway_confirm")!;
  assert.ok(buttons.elements!.some((e) => e.action_id === "slipway_cancel"));
  assert.equal((await deploys()).length, 1, "nothing queued before the click");
  const actionUrl = receiver.url();
  const payload = {
    type: "block_actions",
    user: { id: DEPLOYER, username: "dee", team_id: "T0E2E" },
    api_app_id: "A0E2E",
    team: { id: "T0E2E", domain: "e2e" },
    channel: { id: "C0E2E", name: "deploys" },
    container: { type: "message", message_ts: "1700000000.000100", channel_id: "C0E2E", is_ephemeral: true },
    trigger_id: "4.5.6",
    response_url: actionUrl,
    actions: [{ action_id: confirm.action_id, block_id: "slipway_confirm", value: confirm.value, type: "button", action_ts: "1700000001.000200" }],
  };
  const actionBody = new URLSearchParams({ payload: JSON.stringify(payload) }).toString();
  const actionHeaders = slackHeaders(actionBody);
  const clicked = await post("/chat/slack/actions", actionBody, actionHeaders);
  assert.equal(clicked.status, 200);
  assert.ok(clicked.ms < 3000, `click acknowledged in ${clicked.ms} ms`);
  const pc = await receiver.waitFor(actionUrl, ended);
  assert.deepEqual(pc[0], { delete_original: true, _type: "application/json" }, "the ephemeral question is removed");
  assert.match(String(pc[1]!.text), /dee started #\d+: deploy of `b2` to `.*\/prod`/);
  assert.match(String(pc.at(-1)!.text), /^✅ #\d+ deploy of `b2` to `.*\/prod` succeeded/);
  assert.deepEqual(await hostBuilds(), ["b2", "b2"]);
  // The same click again (a replay) is refused; a fresh signature on it finds the confirmation used.
  assert.equal((await post("/chat/slack/actions", actionBody, actionHeaders)).status, 401);
  const again = receiver.url();
  const againBody = new URLSearchParams({ payload: JSON.stringify({ ...payload, response_url: again }) }).toString();
  assert.equal((await post("/chat/slack/actions", againBody, slackHeaders(againBody))).status, 200);
  assert.match(texts(await receiver.waitFor(again, (p) => p.length > 0)), /expired or was already answered/);
  rows = await deploys();
  assert.equal(rows.length, 2, "one deploy per confirmation");

  // Mattermost: deploy, status, rollback; response_type on every answer and post.
  const m1 = await mattermost(`deploy ${appName} b3 to fleet`);
  assert.equal(m1.answer.status, 200, JSON.stringify(m1.answer.json));
  assert.ok(m1.answer.ms < 3000);
  assert.equal(m1.answer.json.response_type, "in_channel");
  assert.match(String(m1.answer.json.text), /dora started #\d+: deploy of `b3`/);
  const pm1 = await receiver.waitFor(m1.responseUrl, ended);
  assert.match(String(pm1.at(-1)!.text), /^✅ #\d+ deploy of `b3` to `.*\/fleet` succeeded/);
  assert.ok(pm1.every((p) => p.response_type === "in_channel"));
  assert.deepEqual(await hostBuilds(), ["b3", "b3"]);
  const ms = await mattermost(`status ${appName} fleet`);
  assert.equal(ms.answer.json.response_type, "ephemeral");
  assert.match(String(ms.answer.json.text), /^\*\*.*\/fleet\*\*/);
  assert.match(String(ms.answer.json.text), /last: #\d+ deploy of `b3` to `.*\/fleet` succeeded .* by dora via mattermost/);
  const mp = await mattermost(`deploy ${appName} b1 to prod`);
  assert.equal(mp.answer.json.response_type, "ephemeral");
  assert.match(String(mp.answer.json.text), /needs the deployer role; dora has none there/);
  const rb = await mattermost(`rollback ${appName} fleet`);
  assert.equal(rb.answer.status, 200);
  assert.equal(rb.answer.json.response_type, "in_channel");
  assert.match(String(rb.answer.json.text), /dora started #\d+: rollback of `.*\/fleet`/);
  const prb = await receiver.waitFor(rb.responseUrl, ended);
  assert.match(String(prb.at(-1)!.text), /^✅ #\d+ rollback of `.*\/fleet`.* succeeded/, texts(prb));
  assert.ok(prb.every((p) => p.response_type === "in_channel"));
  assert.deepEqual(await hostBuilds(), ["b2", "b2"], "back to the release before b3");
  const before = (await deploys()).length;
  const forgedMm = await mattermost(`deploy ${appName} b1 to fleet`, { token: "wrong-token-0000000000" });
  assert.equal(forgedMm.answer.status, 401);
  assert.equal(forgedMm.answer.json.response_type, "ephemeral");
  assert.match(String(forgedMm.answer.json.text), /token does not match/);
  const noToken = await post("/chat/mattermost/commands", new URLSearchParams({ text: `deploy ${appName} b1 to fleet`, user_id: MM_USER_ID }).toString(), {});
  assert.equal(noToken.status, 401);
  const unmapped = await mattermost("status", { userId: "somebodyelse01" });
  assert.equal(unmapped.answer.json.response_type, "ephemeral");
  assert.match(String(unmapped.answer.json.text), /is not mapped to a slipway user/);
  assert.equal((await deploys()).length, before, "nothing queued by refused Mattermost requests");
  assert.deepEqual(receiver.posts(forgedMm.responseUrl), []);

  // lock, status, unlock, help.
  const lock = await slack(DEPLOYER, `lock ${appName} fleet db <!channel> maintenance`);
  assert.equal(lock.answer.json.response_type, "in_channel");
  assert.equal(lock.answer.json.text, `🔒 dee locked \`${appName}/fleet\`: db &lt;!channel&gt; maintenance`);
  const st = await slack(VIEWER, "status");
  assert.equal(st.answer.json.response_type, "ephemeral");
  assert.match(String(st.answer.json.text), /• locked by dee since .*: db &lt;!channel&gt; maintenance/);
  assert.match(String(st.answer.json.text), new RegExp(`\\*${appName}/prod\\* \\(asks for confirmation\\)`));
  const lockRes = await fetch(`${server.url}/api/apps/${appName}/targets/fleet`, { headers: { authorization: `Bearer ${admin}` } });
  assert.equal(((await lockRes.json()) as { lock?: { user: string } }).lock?.user, "dee", "the core holds the lock");
  const unlock = await slack(DEPLOYER, `unlock ${appName} fleet done`);
  assert.equal(unlock.answer.json.response_type, "in_channel");
  assert.equal(unlock.answer.json.text, `🔓 dee unlocked \`${appName}/fleet\`: done`);
  const unlockRes = await fetch(`${server.url}/api/apps/${appName}/targets/fleet`, { headers: { authorization: `Bearer ${admin}` } });
  assert.equal(((await unlockRes.json()) as { lock?: unknown }).lock, undefined);
  const help = await slack(VIEWER, "help");
  assert.equal(help.answer.json.response_type, "ephemeral");
  assert.match(String(help.answer.json.text), /^\/slipway deploy APP BUILD to TARGET/);
  const audit = server.db.prepare("SELECT action, user, via FROM audit WHERE via IN ('slack', 'mattermost') ORDER BY id").all() as {
    action: string;
    user: string;
    via: string;
  }[];
  for (const a of ["deploy", "rollback", "lock", "unlock"])
    assert.ok(
      audit.some((r) => r.action === a),
      `audit has ${a} from chat`,
    );

  // Failed verifications are counted per address with the API's limiter (8 so far): from the 10th in a
  // minute, 429 even for a rightly signed request or the right token.
  const statuses: number[] = [];
  for (let i = 0; i < 5; i++) {
    const b = slackForm(DEPLOYER, `deploy ${appName} b1 to fleet`, receiver.url());
    statuses.push((await post("/chat/slack/commands", b, slackHeaders(b, { secret: "not-the-signing-secret" }))).status);
  }
  assert.deepEqual(statuses, [401, 401, 429, 429, 429]);
  const blocked = await slack(DEPLOYER, `deploy ${appName} b1 to fleet`);
  assert.equal(blocked.answer.status, 429);
  assert.match(String(blocked.answer.json.hint), /wait \d+ s/);
  const blockedMm = await mattermost(`deploy ${appName} b1 to fleet`);
  assert.equal(blockedMm.answer.status, 429);
  assert.equal(blockedMm.answer.json.response_type, "ephemeral");
  const api = await fetch(`${server.url}/api/history`, { headers: { authorization: `Bearer ${admin}` } });
  assert.equal(api.status, 429, "the API shares the count");
  assert.equal((server.db.prepare("SELECT count(*) AS n FROM deploys").get() as { n: number }).n, before, "nothing queued while blocked");

  // The log: requests and chat lines, never a secret, a signature or a response_url.
  const log = logLines.join("\n");
  assert.match(log, /POST \/chat\/slack\/commands 200/);
  assert.match(log, /chat slack: refused a request from .*: replayed/);
  assert.match(log, /chat mattermost: refused a request from .*: bad token/);
  // A response_url's path alone is enough to post to it; a signature's hex alone, to replay.
  const secrets = [SLACK_SECRET, MM_TOKEN, "not-the-signing-secret", "wrong-token-0000000000"];
  const leaks = [...secrets, ...signaturesSent.map((s) => s.slice(3)), ...responseUrls.map((u) => new URL(u).pathname)].filter((s) => log.includes(s));
  assert.deepEqual(leaks, [], "secrets in the server's log");
  console.log(
    `chat e2e: acks slack ${d1.answer.ms} ms, click ${clicked.ms} ms, mattermost ${m1.answer.ms} ms; posts ${p1.length}/${pc.length}/${pm1.length}/${prb.length}`,
  );
});
