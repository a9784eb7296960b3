// Following a deploy for chat (pure logic over a scripted store): progress never spends the
// post kept for the result, failures name host and step, and user text is made inert.
import { test } from "node:test";
import assert from "node:assert/strict";
import type { ServerReads } from "../../src/serve/context.js";
import type { DeployEvent, DeployRow } from "../../src/serve/model.js";
import { followDeploy } from "../../src/serve/chat/follow.js";
import { mattermostMarkup, slackMarkup } from "../../src/serve/chat/format.js";

/** A store whose deploy advances one scripted step each time the follower waits. */
function scripted(steps: { state: DeployRow["state"]; events?: DeployEvent["event"][]; patch?: Partial<DeployRow> }[]): ServerReads {
  const row: DeployRow = {
    id: 7,
    app: "ledger",
    target: "prod",
    kind: "deploy",
    build_id: "42",
    state: "queued",
    user: "alice",
    via: "slack",
    created_at: "t",
  };
  const events: DeployEvent[] = [];
  let i = 0;
  const apply = () => {
    const s = steps[i++];
    if (!s) return;
    row.state = s.state;
    Object.assign(row, s.patch);
    for (const e of s.events ?? []) events.push({ deploy_id: 7, seq: events.length + 1, at: "t", event: e });
  };
  apply();
  return {
    deploy: (id) => (id === 7 ? { ...row } : undefined),
    events: (_id, after = 0) => events.filter((e) => e.seq > after),
    waitEvents: async () => apply(),
    apps: () => [],
    status: () => assert.fail("not used"),
    artifacts: () => [],
    history: () => [],
  };
}

function outlet(budget: number) {
  const sent: string[] = [];
  return {
    sent,
    get remaining() {
      return budget - sent.length;
    },
    send: async (text: string) => {
      assert.ok(sent.length < budget, "posted over budget");
      sent.push(text);
      return true;
    },
  };
}

const plan = { type: "plan", plan: { hosts: [{}, {}, {}, {}], batches: [["a", "b"], ["c"], ["d"]] } };
const batch = (index: number, hosts: string[]) => ({ type: "batch", index, hosts });

test("start, batch milestones and the result; the last post is kept for the result", async () => {
  const reads = scripted([
    { state: "queued" },
    { state: "running", events: [plan, batch(0, ["a", "b"])] },
    { state: "running", events: [batch(1, ["c"])] },
    { state: "running", events: [batch(2, ["d"])] },
    { state: "succeeded", patch: { duration_ms: 12_300 } },
  ]);
  const out = outlet(3);
  const end = await followDeploy(reads, 7, out, { md: slackMarkup, signal: new AbortController().signal, progressEveryMs: 0 });
  assert.equal(end?.state, "succeeded");
  assert.deepEqual(out.sent, [
    "▶️ #7 deploy of `42` to `ledger/prod` started: 4 hosts in 3 batches",
    "⏩ #7 batch 2/3: c",
    "✅ #7 deploy of `42` to `ledger/prod` succeeded in 12.3 s (4 hosts)",
  ]);
});

test("a failure lists the failed hosts and the error's first line, escaped for Slack; links use the public URL", async () => {
  const reads = scripted([
    { state: "running", events: [plan, { type: "host", host: "web1", step: "health", status: "failed", ms: 5, detail: "HTTP 500 <!channel>" }] },
    { state: "failed", patch: { error: "health check failed on web1\nhint: see the log", duration_ms: 61_000 } },
  ]);
  const out = outlet(5);
  await followDeploy(reads, 7, out, { md: slackMarkup, signal: new AbortController().signal, publicUrl: "https://deploy.example/" });
  const last = out.sent.at(-1)!;
  assert.equal(
    last,
    "❌ <https://deploy.example/deploys/7|#7> deploy of `42` to `ledger/prod` failed in 1 min 1 s: health check failed on web1\n• web1: health failed: HTTP 500 &lt;!channel&gt;",
  );
});

test("with one post left there is no progress, only the result", async () => {
  const reads = scripted([{ state: "running", events: [plan, batch(1, ["c"])] }, { state: "cancelled" }]);
  const out = outlet(1);
  await followDeploy(reads, 7, out, { md: mattermostMarkup, signal: new AbortController().signal, progressEveryMs: 0 });
  assert.deepEqual(out.sent, ["⏹️ #7 deploy of `42` to `ledger/prod` was cancelled"]);
});

test("when following stops before the end, the channel is told it gets no more updates", async () => {
  const ac = new AbortController();
  const reads = scripted([{ state: "running" }]);
  const wait = reads.waitEvents;
  reads.waitEvents = async (...args) => {
    ac.abort();
    return wait(...args);
  };
  const out = outlet(5);
  const end = await followDeploy(reads, 7, out, { md: slackMarkup, signal: ac.signal });
  assert.equal(end?.state, "running");
  assert.match(out.sent.at(-1)!, /^⏳ #7 is still running; this channel gets no more updates/);
});

test("markup keeps user text inert: Slack escapes <>&, Mattermost breaks @mentions", () => {
  assert.equal(slackMarkup.text("a <@U1> & <!here>"), "a &lt;@U1&gt; &amp; &lt;!here&gt;");
  assert.equal(mattermostMarkup.text("ping @channel"), "ping @\u200bchannel");
  assert.equal(slackMarkup.code("a`b"), "`a'b`");
});
