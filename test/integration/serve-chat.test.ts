// Chat over real HTTP: a server (@hono/node-server) around chatRoutes receives requests signed
// as Slack and Mattermost sign them; a local node:http server plays response_url. Asserts the
// HTTP answers, what reaches response_url, and that no secret reaches the log.
//
// The ServerContext here is an in-memory fake of the core (roles, a deploy that runs on a timer,
// events, waitEvents): the lead's end-to-end test of the real server (SQLite store, deploy runner)
// replaces it as proof of the whole; this file proves the chat layer's HTTP behaviour.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { EventEmitter } from "node:events";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { Hono } from "hono";
import { serve } from "@hono/node-server";
import { chatRoutes } from "../../src/serve/chat/routes.js";
import { slackSignature } from "../../src/serve/chat/verify.js";
import type { ServerContext } from "../../src/serve/context.js";
import { ServeError, forbidden, notFound } from "../../src/serve/errors.js";
import { type Actor, type DeployEvent, type DeployRow, type Grant, type LockRow, ROLES, type Role, roleAtLeast } from "../../src/serve/model.js";

const SLACK_SECRET = "slack-signing-secret-0123456789abcdef";
const MM_TOKEN = "mattermost-token-xr3j5x3p4pfjpfy6";

// ---------- the fake core ----------

const USERS: Record<string, { slack?: string; mattermost?: string; grants: Grant[] }> = {
  alice: { slack: "UALICE", mattermost: "alice", grants: [{ role: "deployer", app: "ledger", target: "*" }] },
  vera: { slack: "UVERA", mattermost: "mmvera01", grants: [{ role: "viewer", app: "*", target: "*" }] },
  bob: { slack: "UBOB", grants: [{ role: "deployer", app: "ledger", target: "*" }] },
};
const TARGETS = ["staging", "prod"];

function roleFor(grants: readonly Grant[], app: string, target: string): Role | undefined {
  const roles = grants.filter((g) => (g.app === "*" || g.app === app) && (g.target === "*" || g.target === target)).map((g) => g.role);
  return roles.sort((a, b) => ROLES.indexOf(b) - ROLES.indexOf(a))[0];
}

class FakeCore {
  readonly rows = new Map<number, DeployRow>();
  readonly events = new Map<number, DeployEvent[]>();
  readonly locks = new Map<string, LockRow>();
  readonly calls: { action: string; actor: Actor; args: unknown[] }[] = [];
  private readonly changed = new EventEmitter();
  private nextId = 1;

  private check(actor: Actor, app: string, target: string, need: Role): void {
    if (app !== "ledger") throw notFound(`app ${app}`);
    if (!TARGETS.includes(target)) throw notFound(`target ${target} of ${app}`);
    const role = roleFor(USERS[actor.user]?.grants ?? [], app, target);
    if (!role || !roleAtLeast(role, need)) throw forbidden(`${actor.user} needs ${need} on ${app}/${target}`);
  }

  private push(id: number, event: DeployEvent["event"]): void {
    const list = this.events.get(id)!;
    list.push({ deploy_id: id, seq: list.length + 1, at: new Date().toISOString(), event });
    this.changed.emit("change");
  }

  private set(id: number, patch: Partial<DeployRow>): void {
    Object.assign(this.rows.get(id)!, patch);
    this.changed.emit("change");
  }

  /** Runs a queued deploy on timers: start, plan, two batches, then success ("bad" builds fail on web2). */
  private run(id: number): void {
    const row = this.rows.get(id)!;
    const t0 = Date.now();
    setTimeout(() => {
      this.set(id, { state: "running", started_at: new Date().toISOString() });
      this.push(id, { type: "plan", plan: { hosts: [{ host: "web1" }, { host: "web2" }], batches: [["web1"], ["web2"]] } });
      this.push(id, { type: "batch", index: 0, hosts: ["web1"] });
    }, 30);
    setTimeout(() => this.push(id, { type: "batch", index: 1, hosts: ["web2"] }), 60);
    setTimeout(() => {
      if (row.build_id === "bad") {
        this.push(id, { type: "host", host: "web2", step: "health", status: "failed", ms: 3, detail: "GET /health answered 500" });
        this.set(id, { state: "failed", error: "health check failed on web2", duration_ms: Date.now() - t0 });
      } else this.set(id, { state: "succeeded", duration_ms: Date.now() - t0 });
    }, 90);
  }

  private queue(actor: Actor, app: string, target: string, kind: DeployRow["kind"], build_id?: string): DeployRow {
    this.check(actor, app, target, "deployer");
    const id = this.nextId++;
    const row: DeployRow = {
      id,
      app,
      target,
      kind,
      build_id,
      state: "queued",
      position: 1,
      user: actor.user,
      via: actor.via,
      created_at: new Date().toISOString(),
    };
    this.rows.set(id, row);
    this.events.set(id, []);
    this.run(id);
    return { ...row };
  }

  readonly ctx: ServerContext = {
    actions: {
      deploy: (actor, app, target, req) => {
        this.calls.push({ action: "deploy", actor, args: [app, target, req] });
        return this.queue(actor, app, target, "deploy", req.build_id);
      },
      rollback: (actor, app, target, req) => {
        this.calls.push({ action: "rollback", actor, args: [app, target, req] });
        return this.queue(actor, app, target, "rollback", req.to);
      },
      cancel: () => assert.fail("chat does not cancel"),
      lock: (actor, app, target, reason) => {
        this.calls.push({ action: "lock", actor, args: [app, target, reason] });
        this.check(actor, app, target, "deployer");
        const lock = { app, target, user: actor.user, reason, at: new Date().toISOString() };
        this.locks.set(`${app}/${target}`, lock);
        return lock;
      },
      unlock: (actor, app, target, reason) => {
        this.calls.push({ action: "unlock", actor, args: [app, target, reason] });
        this.check(actor, app, target, "deployer");
        const lock = this.locks.get(`${app}/${target}`);
        if (lock && lock.user !== actor.user && !(roleAtLeast(roleFor(USERS[actor.user]!.grants, app, target) ?? "viewer", "admin") && reason)) {
          throw new ServeError(403, `${app}/${target} is locked by ${lock.user}; releasing someone else's lock needs admin and a reason`, "ask an admin");
        }
        this.locks.delete(`${app}/${target}`);
      },
    },
    reads: {
      apps: () => [{ name: "ledger", targets: TARGETS }],
      status: (app, target) => {
        if (app !== "ledger" || !TARGETS.includes(target)) throw notFound(`${app}/${target}`);
        const rows = [...this.rows.values()].filter((r) => r.app === app && r.target === target);
        return {
          app,
          target,
          confirm: target === "prod",
          roles: [{ name: "web", hosts: ["web1", "web2"] }],
          lock: this.locks.get(`${app}/${target}`),
          queue: rows.filter((r) => r.state === "queued"),
          running: rows.find((r) => r.state === "running"),
          last: rows.filter((r) => ["succeeded", "failed"].includes(r.state)).at(-1),
        };
      },
      artifacts: () => [],
      deploy: (id) => {
        const r = this.rows.get(id);
        return r && { ...r };
      },
      events: (id, afterSeq = 0) => (this.events.get(id) ?? []).filter((e) => e.seq > afterSeq),
      history: () => [...this.rows.values()],
      waitEvents: (id, afterSeq, signal) =>
        new Promise<void>((resolve) => {
          const state = this.rows.get(id)?.state;
          if ((this.events.get(id) ?? []).length > afterSeq) return resolve();
          const done = () => {
            this.changed.off("change", onChange);
            signal.removeEventListener("abort", done);
            resolve();
          };
          const onChange = () => {
            if ((this.events.get(id) ?? []).length > afterSeq || this.rows.get(id)?.state !== state) done();
          };
          this.changed.on("change", onChange);
          signal.addEventListener("abort", done);
        }),
    },
    auth: { byToken: () => undefined, roleFor },
    sessions: { create: () => undefined, get: () => undefined, destroy: () => {} },
    chatUsers: {
      bySlackId: (id) => {
        const e = Object.entries(USERS).find(([, u]) => u.slack === id);
        return e && { user: e[0], grants: e[1].grants };
      },
      byMattermost: (idOrName) => {
        const e = Object.entries(USERS).find(([, u]) => u.mattermost === idOrName);
        return e && { user: e[0], grants: e[1].grants };
      },
    },
    needsConfirm: (_app, target) => target === "prod",
  };
}

// ---------- response_url receiver ----------

class Receiver {
  readonly got = new Map<string, Record<string, unknown>[]>();
  private readonly arrived = new EventEmitter();
  private server!: Server;
  base = "";

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      let body = "";
      req.on("data", (c) => (body += c));
      req.on("end", () => {
        const list = this.got.get(req.url!) ?? [];
        list.push({ ...JSON.parse(body), _method: req.method, _type: req.headers["content-type"] });
        this.got.set(req.url!, list);
        res.end("ok");
        this.arrived.emit("post");
      });
    });
    await new Promise<void>((r) => this.server.listen(0, "127.0.0.1", r));
    this.base = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** A fresh response_url; its path is a secret like Slack's. */
  url(): string {
    return `${this.base}/hooks/T0001/${Math.random().toString(36).slice(2)}${Math.random().toString(36).slice(2)}`;
  }

  /** Posts to one URL until `until` holds for the list (5 s at most). */
  async waitFor(url: string, until: (posts: Record<string, unknown>[]) => boolean): Promise<Record<string, unknown>[]> {
    const path = new URL(url).pathname;
    const deadline = Date.now() + 5000;
    for (;;) {
      const posts = this.got.get(path) ?? [];
      if (until(posts)) return posts;
      if (Date.now() > deadline) assert.fail(`response_url got ${JSON.stringify(posts)}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  close(): Promise<void> {
    return new Promise((r) => this.server.close(() => r()));
  }
}

const finished = (posts: Record<string, unknown>[]) => posts.some((p) => /^(✅|❌)/.test(String(p.text)));

// ---------- the server under test ----------

const core = new FakeCore();
const receiver = new Receiver();
const logs: string[] = [];
const authFailures: string[] = [];
const signaturesSent: string[] = [];
const responseUrls: string[] = [];
let base = "";
let server: ReturnType<typeof serve>;

before(async () => {
  await receiver.start();
  const app = new Hono();
  const opts = { log: (m: string) => logs.push(m), onAuthFailure: (ip: string) => authFailures.push(ip), progressEveryMs: 0 };
  app.route("/chat", chatRoutes(core.ctx, { slackSigningSecret: SLACK_SECRET, mattermostToken: MM_TOKEN }, opts));
  app.route("/bare", chatRoutes(core.ctx, {}, opts));
  server = serve({ fetch: app.fetch, port: 0, hostname: "127.0.0.1" });
  await new Promise<void>((r) => server.once("listening", () => r()));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(async () => {
  await new Promise<void>((r) => server.close(() => r()));
  await receiver.close();
});

function slackForm(fields: Record<string, string>): string {
  return new URLSearchParams({ token: "legacy-verification-token", team_id: "T0001", channel_id: "C1", command: "/slipway", ...fields }).toString();
}

async function slackPost(path: string, body: string, opts: { ts?: number; secret?: string; signature?: string } = {}) {
  const ts = String(opts.ts ?? Math.floor(Date.now() / 1000));
  const signature = opts.signature ?? slackSignature(opts.secret ?? SLACK_SECRET, ts, body);
  signaturesSent.push(signature);
  const res = await fetch(`${base}${path}`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded", "x-slack-request-timestamp": ts, "x-slack-signature": signature },
    body,
  });
  const text = await res.text();
  return { status: res.status, text, json: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

function slashCommand(user: string, text: string, opts: { ts?: number; secret?: string } = {}) {
  const response_url = receiver.url();
  responseUrls.push(response_url);
  return { response_url, sent: slackPost("/chat/slack/commands", slackForm({ user_id: user, user_name: user.toLowerCase(), text, response_url }), opts) };
}

function blockAction(user: string, actionId: string, value: string) {
  const response_url = receiver.url();
  responseUrls.push(response_url);
  const payload = {
    type: "block_actions",
    user: { id: user },
    response_url,
    actions: [{ action_id: actionId, block_id: "slipway_confirm", value, type: "button" }],
  };
  return { response_url, sent: slackPost("/chat/slack/actions", new URLSearchParams({ payload: JSON.stringify(payload) }).toString()) };
}

async function mattermost(fields: Record<string, string>) {
  const response_url = receiver.url();
  responseUrls.push(response_url);
  const body = new URLSearchParams({ channel_id: "c1", command: "/slipway", team_domain: "team", response_url, ...fields }).toString();
  const res = await fetch(`${base}/chat/mattermost/commands`, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body });
  return { response_url, status: res.status, json: (await res.json()) as Record<string, unknown> };
}

const deploysSoFar = () => core.calls.filter((c) => c.action === "deploy" || c.action === "rollback").length;

// ---------- Slack ----------

describe("Slack slash command", () => {
  test("a signed deploy is acknowledged in the channel at once; start, progress and the result reach response_url", async () => {
    const t0 = Date.now();
    const { response_url, sent } = slashCommand("UALICE", "deploy ledger 42 to staging");
    const res = await sent;
    assert.ok(Date.now() - t0 < 3000, "acknowledged within Slack's 3 s");
    assert.equal(res.status, 200);
    assert.equal(res.json.response_type, "in_channel");
    assert.match(String(res.json.text), /^🚀 alice started #\d+: deploy of `42` to `ledger\/staging`, queued at position 1$/);
    const call = core.calls.at(-1)!;
    assert.deepEqual([call.action, call.actor, call.args], ["deploy", { user: "alice", via: "slack" }, ["ledger", "staging", { build_id: "42" }]]);

    const posts = await receiver.waitFor(response_url, finished);
    assert.deepEqual(
      posts.map((p) => [p._method, p._type, p.response_type, p.replace_original]),
      posts.map(() => ["POST", "application/json", "in_channel", false]),
    );
    const texts = posts.map((p) => String(p.text).replace(/in \d+ ms/, "in N ms"));
    assert.equal(texts.length, 3, texts.join("\n"));
    assert.match(texts[0]!, /^▶️ #\d+ deploy of `42` to `ledger\/staging` started: 2 hosts in 2 batches$/);
    assert.match(texts[1]!, /^⏩ #\d+ batch 2\/2: web2$/);
    assert.match(texts.at(-1)!, /^✅ #\d+ deploy of `42` to `ledger\/staging` succeeded in N ms \(2 hosts\)$/);
    assert.ok(posts.length <= 5, "at most 5 posts per response_url");
  });

  test("a failing deploy posts the failure with host and step", async () => {
    const { response_url, sent } = slashCommand("UALICE", "deploy ledger bad staging");
    assert.equal((await sent).status, 200);
    const posts = await receiver.waitFor(response_url, finished);
    assert.match(
      String(posts.at(-1)!.text),
      /^❌ #\d+ deploy of `bad` to `ledger\/staging` failed in \d+ ms: health check failed on web2\n• web2: health failed: GET \/health answered 500$/,
    );
  });

  test("a bad signature is 401 JSON {error, hint}, runs nothing, and is reported for rate limiting", async () => {
    const before = deploysSoFar();
    const failures = authFailures.length;
    for (const opts of [{ secret: "not-the-secret" }, { signature: "v0=deadbeef" }, { signature: "" }]) {
      const body = slackForm({ user_id: "UALICE", text: "deploy ledger 42 to staging", response_url: receiver.url() });
      const res = await slackPost("/chat/slack/commands", body, opts);
      assert.equal(res.status, 401, JSON.stringify(opts));
      assert.deepEqual(Object.keys(res.json).sort(), ["error", "hint"]);
      assert.match(String(res.json.error), /X-Slack-Signature/);
    }
    assert.equal(deploysSoFar(), before);
    assert.equal(authFailures.length, failures + 3);
    assert.match(authFailures.at(-1)!, /127\.0\.0\.1/);
  });

  test("a replay: the same signed request twice is refused the second time; with its old timestamp it is stale", async () => {
    const body = slackForm({ user_id: "UALICE", text: "lock ledger staging replay test", response_url: receiver.url() });
    const ts = Math.floor(Date.now() / 1000);
    const signature = slackSignature(SLACK_SECRET, String(ts), body);
    assert.equal((await slackPost("/chat/slack/commands", body, { ts, signature })).status, 200);
    const again = await slackPost("/chat/slack/commands", body, { ts, signature });
    assert.equal(again.status, 401);
    assert.match(String(again.json.error), /already received/);
    assert.equal(core.calls.filter((c) => c.action === "lock" && (c.args[2] as string) === "replay test").length, 1);
    core.locks.clear();

    const stale = await slackPost("/chat/slack/commands", body, { ts: ts - 301 });
    assert.equal(stale.status, 401);
    assert.match(String(stale.json.error), /30\d s old \(limit 300 s\): a replay, or clock skew/);
    assert.match(String(stale.json.hint), /clock/);
    const future = await slackPost("/chat/slack/commands", body, { ts: ts + 600 });
    assert.equal(future.status, 401);
    assert.match(String(future.json.error), /in the future/);
  });

  test("an unmapped user gets an ephemeral refusal naming their id; nothing runs", async () => {
    const before = core.calls.length;
    const res = await slashCommand("UNOBODY", "deploy ledger 42 to staging").sent;
    assert.equal(res.status, 200);
    assert.equal(res.json.response_type, "ephemeral");
    assert.match(String(res.json.text), /^Refused: Slack user `UNOBODY` is not mapped to a slipway user\.\nAsk an admin to add `slack = "UNOBODY"`/);
    assert.equal(core.calls.length, before);
  });

  test("a viewer trying to deploy gets an ephemeral refusal naming the role; nothing runs", async () => {
    const before = core.calls.length;
    const { response_url, sent } = slashCommand("UVERA", "deploy ledger 42 to staging");
    const res = await sent;
    assert.equal(res.json.response_type, "ephemeral");
    assert.equal(
      res.json.text,
      "Refused: deploy on `ledger/staging` needs the deployer role; vera has only viewer there.\nAsk an admin to add a grant to your [users] entry in slipway-server.toml.",
    );
    assert.equal(core.calls.length, before);
    await new Promise((r) => setTimeout(r, 150));
    assert.equal(receiver.got.get(new URL(response_url).pathname), undefined, "nothing posted later");
  });

  test("a 403 from the core's own check becomes an ephemeral message with its hint", async () => {
    assert.equal((await slashCommand("UBOB", "lock ledger staging bob's maintenance").sent).json.response_type, "in_channel");
    const res = await slashCommand("UALICE", "unlock ledger staging").sent;
    assert.equal(res.json.response_type, "ephemeral");
    assert.equal(
      res.json.text,
      "Could not `unlock ledger staging`: ledger/staging is locked by bob; releasing someone else's lock needs admin and a reason\nask an admin",
    );
    assert.ok(core.locks.has("ledger/staging"));
    core.locks.clear();
  });

  test("a malformed command and an unknown app are ephemeral, naming what was wrong", async () => {
    const bad = await slashCommand("UALICE", "deploy ledger 42").sent;
    assert.equal(bad.json.response_type, "ephemeral");
    assert.match(
      String(bad.json.text),
      /^deploy needs APP, BUILD and TARGET, got 2 words \(ledger 42\)\nUsage: `\/slipway deploy APP BUILD to TARGET \[confirm\]`/,
    );
    const unknown = await slashCommand("UVERA", "status nosuch").sent;
    assert.match(String(unknown.json.text), /^No app `nosuch` on this server/);
  });

  test("status shows per target the hosts per role, lock, queue and last deploy; help lists the commands", async () => {
    const res = await slashCommand("UVERA", "status ledger").sent;
    assert.equal(res.json.response_type, "ephemeral");
    const text = String(res.json.text);
    assert.match(text, /^\*ledger\/staging\*\n• web: web1, web2\n• not locked\n• queue empty\n• last: #\d+ deploy of `bad` to `ledger\/staging` failed/m);
    assert.match(text, /\*ledger\/prod\* \(asks for confirmation\)/);
    const help = await slashCommand("UVERA", "help").sent;
    for (const verb of ["deploy", "rollback", "lock", "unlock", "status", "help"]) assert.match(String(help.json.text), new RegExp(`^/slipway ${verb}`, "m"));
  });

  test("lock reasons cannot ping the channel", async () => {
    const res = await slashCommand("UALICE", "lock ledger staging <!channel> db work").sent;
    assert.equal(res.json.text, "🔒 alice locked `ledger/staging`: &lt;!channel&gt; db work");
    core.locks.clear();
  });
});

describe("Slack confirmation (block_actions)", () => {
  async function askToDeploy(user: string, text: string) {
    const res = await slashCommand(user, text).sent;
    assert.equal(res.status, 200);
    assert.equal(res.json.response_type, "ephemeral");
    const blocks = res.json.blocks as { type: string; elements?: { action_id: string; value: string; text: { text: string } }[] }[];
    const buttons = blocks.find((b) => b.type === "actions")!.elements!;
    assert.deepEqual(
      buttons.map((b) => [b.action_id, b.text.text]),
      [
        ["slipway_confirm", "Confirm"],
        ["slipway_cancel", "Cancel"],
      ],
    );
    return { text: String(res.json.text), value: buttons[0]!.value };
  }

  test("a target marked confirm answers with Confirm/Cancel; Confirm deploys and follows; a second click does nothing", async () => {
    const before = deploysSoFar();
    const asked = await askToDeploy("UALICE", "deploy ledger 43 to prod");
    assert.equal(asked.text, "Deploy `43` to `ledger/prod`? This target asks for a confirmation.");
    assert.equal(JSON.parse(asked.value).c, "deploy ledger 43 to prod");
    assert.equal(deploysSoFar(), before, "nothing runs before the click");

    const click = blockAction("UALICE", "slipway_confirm", asked.value);
    const res = await click.sent;
    assert.equal(res.status, 200);
    assert.equal(res.text, "");
    const posts = await receiver.waitFor(click.response_url, finished);
    assert.deepEqual(posts[0]!.delete_original, true, "the ephemeral question goes away");
    assert.equal(posts[1]!.response_type, "in_channel");
    assert.match(String(posts[1]!.text), /^🚀 alice started #\d+: deploy of `43` to `ledger\/prod`/);
    assert.match(String(posts.at(-1)!.text), /^✅ #\d+ deploy of `43` to `ledger\/prod` succeeded/);
    assert.ok(posts.length <= 5);
    assert.equal(deploysSoFar(), before + 1);

    const again = blockAction("UALICE", "slipway_confirm", asked.value);
    assert.equal((await again.sent).status, 200);
    const second = await receiver.waitFor(again.response_url, (p) => p.length > 0);
    assert.match(String(second[0]!.text), /expired or was already answered/);
    assert.equal(deploysSoFar(), before + 1);
  });

  test("Cancel replies cancelled and runs nothing; a forged value runs nothing", async () => {
    const before = deploysSoFar();
    const asked = await askToDeploy("UALICE", "rollback ledger prod to 41");
    assert.equal(asked.text, "Roll back `ledger/prod` to `41`? This target asks for a confirmation.");
    const cancel = blockAction("UALICE", "slipway_cancel", asked.value);
    assert.equal((await cancel.sent).status, 200);
    const posts = await receiver.waitFor(cancel.response_url, (p) => p.length > 0);
    assert.deepEqual(
      posts.map((p) => [p.replace_original, p.text]),
      [[true, "Cancelled: `rollback ledger prod to 41`"]],
    );

    const forged = JSON.stringify({ n: JSON.parse(asked.value).n, c: "deploy ledger 666 to prod" });
    const f = blockAction("UALICE", "slipway_confirm", forged);
    await f.sent;
    await receiver.waitFor(f.response_url, (p) => p.length > 0);
    assert.equal(deploysSoFar(), before);
  });

  test("the clicker is the actor: a viewer's Confirm is refused", async () => {
    const before = deploysSoFar();
    const asked = await askToDeploy("UALICE", "deploy ledger 44 to prod");
    const click = blockAction("UVERA", "slipway_confirm", asked.value);
    await click.sent;
    const posts = await receiver.waitFor(click.response_url, (p) => p.length > 0);
    assert.match(String(posts[0]!.text), /^Refused: deploy on `ledger\/prod` needs the deployer role; vera has only viewer there/);
    assert.equal(deploysSoFar(), before);
  });

  test("the actions endpoint verifies signatures the same way", async () => {
    const body = new URLSearchParams({ payload: JSON.stringify({ type: "block_actions", user: { id: "UALICE" }, actions: [] }) }).toString();
    assert.equal((await slackPost("/chat/slack/actions", body, { secret: "wrong" })).status, 401);
    assert.equal((await slackPost("/chat/slack/actions", body, { ts: Math.floor(Date.now() / 1000) - 1000 })).status, 401);
    const notJson = await slackPost("/chat/slack/actions", "payload=%7Bnope");
    assert.equal(notJson.status, 400);
  });
});

// ---------- Mattermost ----------

describe("Mattermost slash command", () => {
  test("the right token deploys; response_type is always set; the result reaches response_url", async () => {
    const res = await mattermost({ token: MM_TOKEN, user_id: "zz9abc", user_name: "alice", text: "deploy ledger 50 to staging" });
    assert.equal(res.status, 200);
    assert.equal(res.json.response_type, "in_channel");
    assert.match(String(res.json.text), /^🚀 alice started #\d+: deploy of `50` to `ledger\/staging`/);
    assert.deepEqual(core.calls.at(-1)!.actor, { user: "alice", via: "mattermost" });
    const posts = await receiver.waitFor(res.response_url, finished);
    for (const p of posts) assert.equal(p.response_type, "in_channel");
    assert.match(String(posts.at(-1)!.text), /^✅ #\d+ deploy of `50` to `ledger\/staging` succeeded/);
  });

  test("the token in an Authorization header works too", async () => {
    const body = new URLSearchParams({ user_id: "mmvera01", user_name: "vera", text: "help", response_url: receiver.url() }).toString();
    const res = await fetch(`${base}/chat/mattermost/commands`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", authorization: `Token ${MM_TOKEN}` },
      body,
    });
    assert.equal(res.status, 200);
    assert.equal(((await res.json()) as { response_type: string }).response_type, "ephemeral");
  });

  test("a wrong, short or missing token is 401 with response_type set; nothing runs", async () => {
    const before = core.calls.length;
    for (const token of [`${MM_TOKEN}x`, "short", ""]) {
      const res = await mattermost({ token, user_id: "x", user_name: "alice", text: "deploy ledger 50 to staging" });
      assert.equal(res.status, 401, token);
      assert.equal(res.json.response_type, "ephemeral");
      assert.match(String(res.json.error), token ? /token does not match/ : /missing token/);
      assert.ok(res.json.hint);
    }
    assert.equal(core.calls.length, before);
  });

  test("users map by id first, then by name; an unmapped one and a viewer are refused ephemerally", async () => {
    const byId = await mattermost({ token: MM_TOKEN, user_id: "mmvera01", user_name: "someone", text: "status ledger staging" });
    assert.equal(byId.json.response_type, "ephemeral");
    assert.match(String(byId.json.text), /^\*\*ledger\/staging\*\*/);
    const unmapped = await mattermost({ token: MM_TOKEN, user_id: "q1", user_name: "mallory", text: "deploy ledger 50 to staging" });
    assert.equal(unmapped.json.response_type, "ephemeral");
    assert.match(String(unmapped.json.text), /^Refused: Mattermost user `mallory` is not mapped/);
    const viewer = await mattermost({ token: MM_TOKEN, user_id: "mmvera01", user_name: "vera", text: "lock ledger staging mine" });
    assert.match(String(viewer.json.text), /^Refused: lock on `ledger\/staging` needs the deployer role; vera has only viewer there/);
    assert.ok(!core.locks.has("ledger/staging"));
  });

  test("a confirm target asks for `confirm` at the end, then deploys", async () => {
    const before = deploysSoFar();
    const ask = await mattermost({ token: MM_TOKEN, user_id: "u1", user_name: "alice", text: "deploy ledger 51 to prod" });
    assert.equal(ask.json.response_type, "ephemeral");
    assert.match(String(ask.json.text), /This target asks for a confirmation\.\nTo go ahead, run `\/slipway deploy ledger 51 to prod confirm`$/);
    assert.equal(deploysSoFar(), before);
    const go = await mattermost({ token: MM_TOKEN, user_id: "u1", user_name: "alice", text: "deploy ledger 51 to prod confirm" });
    assert.equal(go.json.response_type, "in_channel");
    assert.equal(deploysSoFar(), before + 1);
    await receiver.waitFor(go.response_url, finished);
  });
});

// ---------- configuration and logs ----------

test("a platform without a secret answers 404 {error, hint}", async () => {
  for (const [path, hint] of [
    ["/bare/slack/commands", /signing_secret_env/],
    ["/bare/slack/actions", /signing_secret_env/],
    ["/bare/mattermost/commands", /token_env/],
  ] as const) {
    const res = await fetch(`${base}${path}`, { method: "POST", body: "text=help" });
    assert.equal(res.status, 404, path);
    const json = (await res.json()) as { error: string; hint: string };
    assert.match(json.error, /is not configured on this server/);
    assert.match(json.hint, hint);
  }
});

test("an oversize body is refused with 413", async () => {
  const res = await slackPost("/chat/slack/commands", `text=${"x".repeat(70_000)}`);
  assert.equal(res.status, 413);
});

test("no secret reaches the log: not the signing secret, the token, a signature or a response_url", async () => {
  // Let background follows finish their last lines.
  await new Promise((r) => setTimeout(r, 300));
  assert.ok(logs.length > 20, `logged ${logs.length} lines`);
  assert.ok(logs.some((l) => l.includes("response_url=[redacted]")));
  assert.ok(signaturesSent.length > 10 && responseUrls.length > 10);
  const all = logs.join("\n");
  for (const secret of [
    SLACK_SECRET,
    MM_TOKEN,
    ...signaturesSent.filter((s) => s.length > 8),
    ...responseUrls,
    ...responseUrls.map((u) => new URL(u).pathname),
  ]) {
    assert.ok(!all.includes(secret), `the log holds ${secret}`);
  }
  assert.ok(!all.includes("/hooks/"));
});
