import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { fleetApp, type FleetApp } from "../support/fleet-app.js";
import type { TestHost } from "../support/fleet.js";
import { unlock } from "../../src/commands/unlock.js";
import { prune } from "../../src/commands/prune.js";
import { acquireLock, parseLockReply, peekLock, releaseLock, type LockInfo } from "../../src/deploy/lock.js";
import { defaultTransport, type TransportFactory } from "../../src/deploy/connect.js";
import { TransportError } from "../../src/transport/ssh.js";

/*
 * Locks under faults (issue 14, defect 8), on real ssh hosts:
 * - `unlock` asks, and the answer may come minutes later: a deploy that took the lock
 *   meanwhile must keep it. Before the fix, unlock removed whatever lock was there.
 * - an acquire that ran on the host but whose reply was lost: the command fails, and that
 *   host's lock must not stay behind. Before the fix, only the locks whose reply arrived
 *   were released.
 */

let f: FleetApp;
before(async () => {
  f = await fleetApp(2);
});
after(async () => {
  await f?.stop();
});

const info = (token: string): LockInfo => ({
  token,
  user: "ci",
  from: "build-7",
  action: "deploy",
  target: "fleet",
  build_id: "42",
  since: "2026-11-30T12:00:00Z",
  pid: 7,
});
const take = async (h: TestHost, token: string) => parseLockReply(await h.exec(acquireLock(f.ws.root, info(token))));
const holder = async (h: TestHost) => {
  const p = parseLockReply(await h.exec(peekLock(f.ws.root)));
  return p.state === "held" ? p.holder?.token : undefined;
};
const opts = () => ({ cwd: f.ws.app, target: "fleet" });

test("unlock removes only the lock it showed: one replaced while the question was open is kept; --force takes it", async () => {
  const [h1, h2] = f.hosts as [TestHost, TestHost];
  await take(h1, "dead-run");
  await take(h2, "dead-run");
  let shown: string[] = [];
  const r = await unlock({
    ...opts(),
    confirm: async (held) => {
      shown = held;
      // While the operator reads the question, h1's dead lock is cleared and a new deploy takes it.
      await h1.exec(releaseLock(f.ws.root, "dead-run"));
      assert.equal((await take(h1, "new-run")).state, "acquired");
      return true;
    },
  });
  assert.equal(shown.length, 2, "both locks were shown");
  assert.equal(await holder(h1), "new-run", "the new deploy's lock is still there");
  assert.equal(await holder(h2), undefined, "the lock that was shown is gone");
  const r1 = r.hosts.find((x) => x.host === h1.dest)!;
  assert.equal(r1.released, false);
  assert.match(r1.kept ?? "", /replaced meanwhile, now held by ci@build-7 .*: left as it is \(run unlock again, or --force\)/);
  assert.equal(r.hosts.find((x) => x.host === h2.dest)!.released, true);

  const forced = await unlock({
    ...opts(),
    force: true,
    confirm: async () => {
      await h1.exec(releaseLock(f.ws.root, "new-run"));
      await take(h1, "newer-run");
      return true;
    },
  });
  assert.equal(await holder(h1), undefined, "--force removes whatever lock is there");
  assert.equal(forced.hosts.find((x) => x.host === h1.dest)!.released, true);
});

test("acquire is idempotent for one run and release is by token, on a real host", async () => {
  const [h1] = f.hosts as [TestHost];
  assert.equal((await take(h1, "run-a")).state, "acquired");
  assert.equal((await take(h1, "run-a")).state, "acquired", "the same run's token again: ours");
  assert.equal((await take(h1, "run-b")).state, "held");
  assert.match(await h1.exec(releaseLock(f.ws.root, "run-b")), /^not-ours/);
  assert.equal(await holder(h1), "run-a");
  assert.match(await h1.exec(releaseLock(f.ws.root, "run-a")), /^released/);
});

test("a lock whose acquire reply was lost is released when the command gives up", async () => {
  const [h1, h2] = f.hosts as [TestHost, TestHost];
  for (const h of f.hosts) await h.exec(releaseLock(f.ws.root, "")); // whatever an earlier test left
  // The acquire runs on h1, then its reply never arrives (the connection drops after the host acted).
  const lossy: TransportFactory = (host, target) => {
    const t = defaultTransport(host, target);
    return {
      host: t.host,
      connect: t.connect?.bind(t),
      close: () => t.close(),
      async exec(argv, o) {
        const r = await t.exec(argv, o);
        if (host === h1.dest && argv.some((a) => a.includes("acquire_lock"))) throw new TransportError(`lost the reply from ${host}`);
        return r;
      },
    };
  };
  await assert.rejects(prune({ ...opts(), keep: "3", transport: lossy }), /lost the reply/);
  assert.equal(await holder(h1), undefined, "h1: the lock taken there is released by its token");
  assert.equal(await holder(h2), undefined, "h2: released");
});
