import { test } from "node:test";
import assert from "node:assert/strict";
import type { HaproxyConfig } from "../../src/config/schema.js";
import type { Balancer } from "../../src/lb/balancers.js";
import { drainHost, restoreHost } from "../../src/lb/drain.js";

/*
 * drainHost / restoreHost against a scripted runtime API that speaks HAProxy 2.6's formats:
 * the pairing of every drain with a restore of the prior state, without a real HAProxy (the
 * fault tests in test/faults do the same against a real one).
 */

interface FakeServer {
  admin: number;
  status: string;
  scur: number;
  qcur: number;
}

function fakeBalancer(servers: Record<string, FakeServer>, opts: { refuseSet?: boolean; loseReplyTo?: string; config?: Partial<HaproxyConfig> } = {}) {
  const log: string[] = [];
  const config: HaproxyConfig = {
    socket: "/fake",
    host: "local",
    backend: "app",
    drain_timeout: "1s",
    capacity_timeout: "300ms",
    allow_full_drain: false,
    servers: Object.fromEntries(Object.keys(servers).map((s) => [`deploy@${s}`, s])),
    ...opts.config,
  };
  const b: Balancer = {
    config,
    held: new Set(),
    api: {
      where: `fake ${opts.refuseSet ? "operator" : "admin"}`,
      close: async () => {},
      async send(command) {
        if (command === "show servers state app") {
          return `1\n# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state\n${Object.entries(servers)
            .map(([n, s], i) => `2 app ${i + 1} ${n} 10.0.0.${i + 1} 2 ${s.admin}`)
            .join("\n")}\n\n`;
        }
        if (command === "show stat") {
          return `# pxname,svname,qcur,scur,status\n${Object.entries(servers)
            .map(([n, s]) => `app,${n},${s.qcur},${s.scur},${s.status}`)
            .join("\n")}\napp,BACKEND,0,0,UP\n`;
        }
        const m = /^set server app\/(\S+) state (\S+)$/.exec(command);
        if (!m) throw new Error(`unexpected command ${command}`);
        log.push(command);
        if (opts.refuseSet) return "Permission denied\n";
        const s = servers[m[1]!]!;
        if (m[2] === "drain") {
          s.admin = 8;
          s.status = "DRAIN";
        }
        if (m[2] === "ready") {
          s.admin = 0;
          s.status = "UP";
        }
        if (opts.loseReplyTo === command) throw new Error("connection reset");
        return "\n";
      },
    },
  };
  return { b, log, servers };
}

const up = (): FakeServer => ({ admin: 0, status: "UP", scur: 0, qcur: 0 });

test("a drain waits for queued requests (qcur) too, then restore puts the server back", async () => {
  const lb = fakeBalancer({ a1: { ...up(), qcur: 2 }, a2: up() });
  setTimeout(() => (lb.servers["a1"]!.qcur = 0), 300);
  const hold = await drainHost([lb.b], "deploy@a1");
  assert.equal(hold.remaining, 0);
  assert.ok(hold.ms >= 250, `waited for the queue (${hold.ms} ms)`);
  assert.deepEqual(lb.log, ["set server app/a1 state drain"]);
  assert.ok(lb.b.held.has("a1"));
  await restoreHost(hold);
  assert.deepEqual(lb.log, ["set server app/a1 state drain", "set server app/a1 state ready"]);
  assert.equal(lb.b.held.size, 0);
});

test("a server the operator has in MAINT or DRAIN is never set: not drained, not readied", async () => {
  const lb = fakeBalancer({ a1: { ...up(), admin: 1, status: "MAINT" }, a2: { ...up(), admin: 8, status: "DRAIN" }, a3: up() });
  for (const host of ["deploy@a1", "deploy@a2"]) {
    const hold = await drainHost([lb.b], host);
    assert.equal(hold.kept.length, 1);
    assert.deepEqual(hold.drained, []);
    assert.match((await restoreHost(hold)).status, /left (MAINT|DRAIN)/);
  }
  assert.deepEqual(lb.log, [], "no set server at all");
});

test("a second balancer that refuses after the first drained: the first is put back before drainHost throws", async () => {
  const first = fakeBalancer({ a1: up(), a2: up() });
  const second = fakeBalancer({ a1: up(), a2: up() }, { refuseSet: true });
  await assert.rejects(drainHost([first.b, second.b], "deploy@a1"), (err: Error & { hint?: string }) => {
    assert.match(err.message, /deploy@a1: drain failed: fake operator: set server app\/a1 state drain: Permission denied/);
    assert.match(err.message, /fake admin app\/a1 put back as it was; nothing was switched/);
    assert.match(err.hint ?? "", /level admin/);
    return true;
  });
  assert.deepEqual(first.log, ["set server app/a1 state drain", "set server app/a1 state ready"]);
  assert.equal(first.servers["a1"]!.admin, 0);
  assert.deepEqual(second.log, ["set server app/a1 state drain"], "the refused one is not 'restored': it was never changed");
  assert.equal(first.b.held.size + second.b.held.size, 0);
});

test("a reply lost after `state drain` counts as drained: it is put back too", async () => {
  const lb = fakeBalancer({ a1: up(), a2: up() }, { loseReplyTo: "set server app/a1 state drain" });
  await assert.rejects(drainHost([lb.b], "deploy@a1"), /connection reset/);
  assert.deepEqual(lb.log, ["set server app/a1 state drain", "set server app/a1 state ready"]);
  assert.equal(lb.servers["a1"]!.admin, 0);
});

test("capacity guard: waits for a neighbour that was UP to be UP again; past capacity_timeout fails with nothing drained", async () => {
  const lb = fakeBalancer({ a1: up(), a2: up(), a3: { ...up(), admin: 1, status: "MAINT" } });
  await restoreHost(await drainHost([lb.b], "deploy@a1")); // the run's first look: a1 and a2 UP
  lb.servers["a1"]!.status = "DOWN 1/2"; // a1 restarted a moment ago, still rising
  setTimeout(() => (lb.servers["a1"]!.status = "UP"), 150);
  const notes: string[] = [];
  const hold = await drainHost([lb.b], "deploy@a2", (n) => notes.push(n));
  assert.deepEqual(hold.waited.servers, ["app/a1 (DOWN 1/2)"]);
  assert.match(notes[0]!, /deploy@a2: waiting for app\/a1 \(DOWN 1\/2\) on fake admin to be UP before draining app\/a2 \(at most 300ms\)/);
  await restoreHost(hold);

  lb.servers["a1"]!.status = "DOWN";
  lb.log.length = 0;
  await assert.rejects(
    drainHost([lb.b], "deploy@a2"),
    /deploy@a2: not drained: on fake admin, app\/a1 \(DOWN\) is still not UP after capacity_timeout \(300ms\).*deploy@a2 was not touched/,
  );
  assert.deepEqual(lb.log, [], "nothing drained");
  assert.equal(lb.b.held.size, 0);
});
