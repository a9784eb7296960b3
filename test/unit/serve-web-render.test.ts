// Dashboard rendering: hostile text is escaped everywhere it appears, a viewer gets no action
// buttons, and what the pages derive from stored rows (current builds, venv changes, host steps).
import { test } from "node:test";
import assert from "node:assert/strict";
import type { DeployRow } from "../../src/serve/model.js";
import { currentBuilds, deployView, venvChange } from "../../src/serve/web/derive.js";
import { viewerOf } from "../../src/serve/web/guard.js";
import { appsPage } from "../../src/serve/web/pages/apps.js";
import { artifactsPage } from "../../src/serve/web/pages/artifacts.js";
import { confirmPage } from "../../src/serve/web/pages/confirm.js";
import { deployPage, liveFragment } from "../../src/serve/web/pages/deploy.js";
import { historyPage } from "../../src/serve/web/pages/history.js";
import { errorPage } from "../../src/serve/web/pages/simple.js";
import { FakeServer } from "./serve-web-fake.js";

const EVIL = `<script>alert("x")</script>`;
const EVIL_ATTR = `"><img src=x onerror=alert(1)>`;

function setup() {
  const fake = new FakeServer([{ name: "ledger", targets: [{ name: "prod", confirm: true, roles: [{ name: "web", hosts: ["web1", "web2"] }] }] }]);
  fake.addToken("t-viewer", "vera", [{ role: "viewer", app: "*", target: "*" }]);
  fake.addToken("t-deployer", "dan", [{ role: "deployer", app: "ledger", target: "*" }]);
  const ctx = fake.context();
  const as = (token: string) => viewerOf(ctx, ctx.sessions.get(ctx.sessions.create(token, { ip: "127.0.0.1" })!.id)!);
  return { fake, ctx, viewer: as("t-viewer"), deployer: as("t-deployer") };
}

/** No hostile markup survives as markup: its escaped form is there, the raw form nowhere. */
function assertEscaped(out: string, raw: string) {
  assert.ok(!out.includes(raw), `raw ${raw} found in output`);
  assert.ok(out.includes(raw.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;").replaceAll('"', "&quot;")), `escaped ${raw} not found`);
}

test("artifacts page: hostile build id, commit, signer and uploader are escaped in text and attributes", () => {
  const { deployer } = setup();
  const out = String(
    artifactsPage(deployer, {
      app: "ledger",
      artifacts: [
        {
          app: "ledger",
          build_id: EVIL_ATTR,
          commit: EVIL,
          dirty: true,
          venv_key: EVIL_ATTR,
          size: 3 * 1024 * 1024,
          signer: EVIL,
          uploaded_at: "2026-01-01T00:00:00Z",
          uploaded_by: EVIL,
          sha256: "00",
        },
      ],
      targets: [{ name: "prod", current: new Map() }],
    }),
  );
  assertEscaped(out, EVIL_ATTR);
  assertEscaped(out, EVIL.slice(0, 12));
  assert.ok(!out.includes("<script>alert"), "a script element from data");
  assert.match(out, /value="&quot;&gt;&lt;img src=x onerror=alert\(1\)&gt;"/, "the hidden build_id field keeps the value, escaped");
  assert.match(out, /3\.0 MiB/);
  assert.match(out, /dirty/);
});

test("deploy page: hostile error text, log lines, host names and user are escaped", () => {
  const { fake, deployer } = setup();
  const row = fake.addDeploy({ app: "ledger", target: "prod", state: "failed", build_id: "b1", user: EVIL, error: EVIL }, [
    { type: "output", phase: "steps", line: EVIL },
    { type: "host", host: EVIL_ATTR, step: "health", status: "failed", ms: 12, detail: EVIL },
    { type: "log", level: "warn", message: EVIL_ATTR },
  ]);
  const out = String(deployPage(deployer, { row, events: fake.events.get(row.id)! }));
  assert.ok(!out.includes("<script>alert"));
  assert.ok(!out.includes("<img src=x"));
  assertEscaped(out, EVIL);
  assertEscaped(out, EVIL_ATTR);
});

test("apps page and history: a hostile lock reason, user and build id are escaped", () => {
  const { fake, ctx, deployer } = setup();
  fake.locks.set("ledger/prod", { app: "ledger", target: "prod", user: EVIL, reason: EVIL_ATTR, at: "2026-01-01T00:00:00Z" });
  const last = fake.addDeploy({ app: "ledger", target: "prod", state: "succeeded", build_id: EVIL_ATTR, user: EVIL });
  const apps = String(
    appsPage(deployer, { apps: [{ name: "ledger", targets: [{ status: ctx.reads.status("ledger", "prod"), current: new Map([["web1", EVIL]]) }] }] }),
  );
  assertEscaped(apps, EVIL_ATTR);
  assertEscaped(apps, EVIL);
  const history = String(historyPage(deployer, [last], { user: EVIL_ATTR }, ["ledger"]));
  assertEscaped(history, EVIL_ATTR);
  assert.ok(!history.includes("<script>alert"));
  const error = String(errorPage(undefined, 403, EVIL, EVIL_ATTR));
  assertEscaped(error, EVIL);
  assertEscaped(error, EVIL_ATTR);
});

test("a viewer sees no Deploy, Rollback, Lock or Cancel buttons; a deployer sees them", () => {
  const { fake, ctx, viewer, deployer } = setup();
  const artifacts = {
    app: "ledger",
    artifacts: [{ app: "ledger", build_id: "b2", venv_key: "k1", size: 10, uploaded_at: "2026-01-02T00:00:00Z", uploaded_by: "ci", sha256: "00" }],
    targets: [{ name: "prod", current: new Map<string, string | null>([["web1", "b1"]]) }],
  };
  const done = fake.addDeploy({ app: "ledger", target: "prod", state: "succeeded", build_id: "b1" });
  const queued = fake.addDeploy({ app: "ledger", target: "prod", state: "queued", build_id: "b2", position: 1 });
  const index = (v: typeof viewer) =>
    String(appsPage(v, { apps: [{ name: "ledger", targets: [{ status: ctx.reads.status("ledger", "prod"), current: new Map() }] }] }));
  const pages = (v: typeof viewer) => [
    String(artifactsPage(v, artifacts)),
    String(deployPage(v, { row: done, events: [] })),
    String(deployPage(v, { row: queued, events: [] })),
    index(v),
  ];
  for (const out of pages(viewer)) {
    assert.doesNotMatch(out, /<form method="post" action="\/apps\//, "a viewer gets no action form");
    assert.doesNotMatch(out, /\/cancel"/);
    assert.doesNotMatch(out, />(Deploy to|Rollback|Lock|Unlock|Cancel)\b/);
  }
  const [arts, finished, waiting, home] = pages(deployer);
  assert.match(arts!, /action="\/apps\/ledger\/targets\/prod\/deploys"/);
  assert.match(arts!, />Deploy to prod</);
  assert.match(finished!, /action="\/apps\/ledger\/targets\/prod\/rollback"/);
  assert.doesNotMatch(finished!, /\/cancel"/, "a finished deploy cannot be cancelled");
  assert.match(waiting!, new RegExp(`action="/deploys/${queued.id}/cancel"`));
  assert.doesNotMatch(waiting!, /\/rollback"/, "no rollback offered while the deploy waits");
  assert.match(home!, /action="\/apps\/ledger\/targets\/prod\/lock"/);
});

test("the confirmation page names the target and every host, and posts confirmed=1", () => {
  const { ctx, deployer } = setup();
  const out = String(confirmPage(deployer, { kind: "deploy", status: ctx.reads.status("ledger", "prod"), build_id: "b7" }));
  assert.match(out, /Deploy <code>b7<\/code> to ledger \/ prod\?/);
  assert.match(out, /web1, web2/);
  assert.match(out, /2 hosts/);
  assert.match(out, /marked <em>confirm<\/em>/);
  assert.match(out, /name="confirmed" value="1"/);
  assert.match(out, /name="build_id" value="b7"/);
});

test("the live page refreshes without JavaScript only while the deploy is unfinished", () => {
  const { fake, deployer } = setup();
  const running = fake.addDeploy({ app: "ledger", target: "prod", state: "running", build_id: "b1" });
  const done = fake.addDeploy({ app: "ledger", target: "prod", state: "succeeded", build_id: "b1" });
  const live = String(deployPage(deployer, { row: running, events: [] }));
  assert.match(live, /<noscript><meta http-equiv="refresh" content="3"><\/noscript>/);
  assert.match(live, /<script src="\/static\/app.js" defer><\/script>/);
  const final = String(deployPage(deployer, { row: done, events: [] }));
  assert.doesNotMatch(final, /http-equiv="refresh"/);
  assert.doesNotMatch(final, /app\.js/);
});

test("the live fragment carries only the rows after `after`, the new state and the last seq", () => {
  const { fake, deployer } = setup();
  const row = fake.addDeploy({ app: "ledger", target: "prod", state: "running", build_id: "b1" }, [
    { type: "log", level: "info", message: "one" },
    { type: "log", level: "info", message: "two" },
    { type: "transfer", host: "web1", layer: "code", sent: 10, total: 100 },
  ]);
  const out = String(liveFragment(deployer, { row, events: fake.events.get(row.id)! }, 1));
  assert.doesNotMatch(out, /data-seq="1"/);
  assert.match(out, /data-seq="2"[\s\S]*two/);
  assert.doesNotMatch(out, /data-seq="3"/, "an intermediate transfer tick is not a log row");
  assert.match(out, /^<div data-state="running" data-after="3">/);
  assert.match(out, /<td>10 B<\/td>/, "the hosts table shows the bytes sent so far");
  assert.match(out, /<div id="actions" class="actions"><\/div>/, "running: neither Cancel nor Rollback");
  row.state = "queued";
  assert.match(String(liveFragment(deployer, { row, events: [] }, 0)), /\/cancel"/);
});

test("currentBuilds: newest facts win; deploy hosts that ended ok, rollback targets, interrupted read-backs", () => {
  const base = { app: "a", target: "t", user: "u", via: "api" as const, created_at: "" };
  const rows: DeployRow[] = [
    { ...base, id: 4, kind: "deploy", state: "failed", build_id: "b4", result: { build_id: "b4", hosts: [{ host: "h1", result: "rolled-back" }] } },
    { ...base, id: 3, kind: "rollback", state: "succeeded", result: { hosts: [{ host: "h1", to: "b1", result: "ok" }] } },
    { ...base, id: 2, kind: "deploy", state: "interrupted", build_id: "b2", interrupted: { hosts: { h3: null } } },
    {
      ...base,
      id: 1,
      kind: "deploy",
      state: "succeeded",
      build_id: "b2",
      result: {
        build_id: "b2",
        hosts: [
          { host: "h1", result: "ok" },
          { host: "h2", result: "ok" },
        ],
      },
    },
  ];
  assert.deepEqual([...currentBuilds(rows)].sort(), [
    ["h1", "b1"],
    ["h2", "b2"],
    ["h3", null],
  ]);
  assert.equal(currentBuilds([{ ...base, id: 9, kind: "deploy", state: "succeeded", result: "garbage" }]).size, 0);
});

test("venvChange compares the artifact's venv key with what the hosts run", () => {
  const art = (build_id: string, venv_key: string) => ({ app: "a", build_id, venv_key, size: 1, uploaded_at: "", uploaded_by: "", sha256: "" });
  const all = [art("b1", "k1"), art("b2", "k1"), art("b3", "k2")];
  assert.equal(venvChange(all[1]!, ["b1", "b1"], all), "same");
  assert.equal(venvChange(all[2]!, ["b1"], all), "changes");
  assert.equal(venvChange(all[2]!, ["b1", "b3"], all), "changes");
  assert.equal(venvChange(all[0]!, ["gone"], all), "unknown");
  assert.equal(venvChange(all[0]!, [null], all), "first");
});

test("deployView: steps in plan order, bytes summed over layers, results from the final row", () => {
  const row: DeployRow = {
    id: 1,
    app: "a",
    target: "t",
    kind: "deploy",
    state: "failed",
    user: "u",
    via: "api",
    created_at: "",
    result: { hosts: [{ host: "h1", result: "failed", error: "health 502", bytes_sent: 300 }] },
  };
  const ev = (seq: number, event: Record<string, unknown> & { type: string }) => ({ deploy_id: 1, seq, at: "", event });
  const v = deployView(
    [
      ev(1, {
        type: "plan",
        plan: {
          action: "deploy",
          target: "t",
          build_id: "b",
          batches: [["h1"]],
          hosts: [{ host: "h1", send: ["code"], bytes: 400, release: "new" }],
          steps: ["send", "health"],
        },
      }),
      ev(2, { type: "host", host: "h1", step: "health", status: "failed", ms: 5, detail: "502" }),
      ev(3, { type: "host", host: "h1", step: "send", status: "done", ms: 7 }),
      ev(4, { type: "transfer", host: "h1", layer: "code", sent: 100, total: 200 }),
      ev(5, { type: "transfer", host: "h1", layer: "venv", sent: 50, total: 200 }),
    ],
    { ...row, result: undefined },
  );
  assert.deepEqual(v.steps, ["send", "health"]);
  assert.equal(v.hosts[0]!.sent, 150);
  assert.equal(v.hosts[0]!.total, 400);
  assert.equal(v.hosts[0]!.steps.get("health")?.status, "failed");
  const final = deployView([], row);
  assert.equal(final.hosts[0]!.sent, 300);
  assert.equal(final.hosts[0]!.error, "health 502");
});
