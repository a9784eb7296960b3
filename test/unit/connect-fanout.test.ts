// openSessions (deploy/connect.ts) starts every host's handshake at once to overlap local work,
// but never more than ssh.parallel_connects at a time (a bastion's MaxStartups drops the rest),
// and a host's first command waits for its own handshake.
import { test } from "node:test";
import assert from "node:assert/strict";
import { parseConfig } from "../../src/config/load.js";
import { openSessions } from "../../src/deploy/connect.js";
import type { ExecResult, Transport } from "../../src/transport/types.js";
import { limiter } from "../../src/util/limiter.js";

const hosts = Array.from({ length: 40 }, (_, i) => `deploy@web_${i + 1}`);
const config = (extra = "") =>
  parseConfig(`[app]\nname="shop"\nroot="/srv/shop"\n[targets.prod]\nhosts=${JSON.stringify(hosts)}\nrestart={manager="none"}\n${extra}`, "slipway.toml");

/** A transport whose handshake takes a while; counts how many are in flight. */
function fakeFleet() {
  const seen = { inFlight: 0, peak: 0, connected: new Set<string>(), execBeforeConnect: [] as string[] };
  const factory = (host: string): Transport => ({
    host,
    async connect() {
      seen.peak = Math.max(seen.peak, ++seen.inFlight);
      await new Promise((r) => setTimeout(r, 5 + (host.length % 7)));
      seen.inFlight--;
      seen.connected.add(host);
    },
    async exec(): Promise<ExecResult> {
      if (!seen.connected.has(host)) seen.execBeforeConnect.push(host);
      return { code: 0, stdout: host, stderr: "" };
    },
    async close() {},
  });
  return { seen, factory };
}

test("connections: at most 16 handshakes in flight by default, every host connected, none used before its handshake", async () => {
  const c = config();
  assert.equal(c.targets["prod"]!.ssh.parallel_connects, 16);
  const { seen, factory } = fakeFleet();
  const opened = openSessions(hosts, c.targets["prod"]!, () => {}, factory);
  // every host's first command is issued at once, as the preflight does
  const out = await Promise.all(hosts.map((h) => opened.get(h).run("preflight", ["true"])));
  await opened.close();
  assert.deepEqual(
    out.map((r) => r.stdout),
    hosts,
  );
  assert.equal(seen.connected.size, 40);
  assert.equal(seen.peak, 16, "16 at once: bounded, and still parallel");
  assert.deepEqual(seen.execBeforeConnect, []);
});

test("connections: ssh.parallel_connects sets the bound; a failed handshake frees its slot", async () => {
  const c = config("[targets.prod.ssh]\nparallel_connects = 3\n");
  const { seen, factory } = fakeFleet();
  const failing = (host: string): Transport => {
    const t = factory(host);
    if (host.endsWith("_2"))
      t.connect = async () => {
        throw new Error(`cannot reach ${host} over ssh`);
      };
    return t;
  };
  const opened = openSessions(hosts, c.targets["prod"]!, () => {}, failing);
  const settled = await Promise.allSettled(hosts.map((h) => opened.get(h).run("preflight", ["true"])));
  await opened.close();
  assert.equal(seen.peak, 3);
  assert.equal(settled.filter((s) => s.status === "rejected").length, 1);
  assert.equal(seen.connected.size, 39);
});

test("limiter: in order, never above the limit, and a slot passes on after a failure", async () => {
  const gate = limiter(2);
  let inFlight = 0;
  let peak = 0;
  const order: number[] = [];
  const job = (n: number) =>
    gate(async () => {
      peak = Math.max(peak, ++inFlight);
      order.push(n);
      await new Promise((r) => setTimeout(r, 3));
      inFlight--;
      if (n === 1) throw new Error("one failed");
      return n;
    });
  const results = await Promise.allSettled([0, 1, 2, 3, 4, 5].map(job));
  assert.equal(peak, 2);
  assert.deepEqual(order, [0, 1, 2, 3, 4, 5]);
  assert.deepEqual(
    results.map((r) => r.status),
    ["fulfilled", "rejected", "fulfilled", "fulfilled", "fulfilled", "fulfilled"],
  );
});
