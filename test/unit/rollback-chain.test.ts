// A rollback's host scripts, run by a real sh on a temp dir: the first round trip (lock taken,
// then the host read) and the second (switch, restarts, health checks, stopping at the first failure).
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, readlink } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { shJoin } from "../../src/transport/quote.js";
import { releaseLock, type LockInfo } from "../../src/deploy/lock.js";
import { parsePreflightAndLock, preflightAndLock } from "../../src/deploy/rollback-preflight.js";
import { ChainReader, parseChain, switchThenChain, type ChainItem } from "../../src/deploy/switch-chain.js";
import { switchCurrent } from "../../src/deploy/switch.js";

const viaShell = (argv: string[]) => spawnSync("sh", ["-c", shJoin(argv)], { encoding: "utf8" });
const NONCE = "0123456789abcdef";
const info = (token: string): LockInfo => ({ token, user: "ci", from: "build-7", action: "rollback", target: "prod", since: "2026-01-01T00:00:00Z", pid: 42 });

async function hostWith(...ids: string[]): Promise<string> {
  const root = path.join(await mkdtemp(path.join(os.tmpdir(), "slw-rbchain-")), "app");
  for (const id of ids) await mkdir(`${root}/releases/${id}`, { recursive: true });
  for (const id of ids) viaShell(switchCurrent(root, id));
  return root;
}

test("preflightAndLock: takes the lock, then reads the host; another run's lock is reported and left alone; ours is taken again", async () => {
  const root = await hostWith("b1", "b2");
  const a = viaShell(preflightAndLock(root, info("tok-a")));
  assert.equal(a.status, 0, a.stderr);
  const p = parsePreflightAndLock(a.stdout);
  assert.deepEqual(p.lock, { state: "acquired" });
  assert.deepEqual([p.listing.current, p.listing.previous], ["b2", "b1"]);
  assert.match(await readFile(`${root}/.slipway/lock/info`, "utf8"), /"token":"tok-a"/);

  const b = parsePreflightAndLock(viaShell(preflightAndLock(root, info("tok-b"))).stdout);
  assert.equal(b.lock.state, "held");
  assert.equal(b.lock.state === "held" && b.lock.holder?.token, "tok-a", "the holder's info is read");
  assert.equal(b.listing.current, "b2", "the host is still read");
  assert.match(await readFile(`${root}/.slipway/lock/info`, "utf8"), /"token":"tok-a"/, "another's lock is untouched");

  assert.deepEqual(parsePreflightAndLock(viaShell(preflightAndLock(root, info("tok-a"))).stdout).lock, { state: "acquired" }, "a retry of the same run");
});

test("preflightAndLock on a host without the app root: released by token, the host is as it was", async () => {
  const base = await mkdtemp(path.join(os.tmpdir(), "slw-rbchain-"));
  const root = path.join(base, "srv", "app");
  const p = parsePreflightAndLock(viaShell(preflightAndLock(root, info("tok-a"))).stdout);
  assert.deepEqual(p.lock, { state: "acquired" });
  assert.equal(p.listing.previous, undefined, "nothing to roll back to");
  viaShell(releaseLock(root, "tok-a"));
  assert.ok(!existsSync(path.join(base, "srv")), "the dirs the lock created are gone");
});

test("switchThenChain: switched, then each command in turn with its output and status; arguments are data", async () => {
  const root = await hostWith("b1", "b2");
  const items: ChainItem[] = [
    { argv: ["sh", "-c", 'readlink "$1"; echo "to stderr" >&2; printf "%s" "$2"', "x", `${root}/current`, "it's $(id) `x`"], check: "exit" },
    { argv: ["sh", "-c", "echo hello: stopped; echo 'hello: ERROR (not running)'; echo hello: started"], check: "supervisord" },
    { argv: ["echo", '{"ok": true}'], check: "exit" },
  ];
  const r = viaShell(switchThenChain(root, "b1", "shift", NONCE, items));
  assert.equal(r.status, 0, r.stderr);
  const c = parseChain(r.stdout, NONCE);
  assert.ok(c.switched);
  assert.equal(c.before, "old=releases/b2\nprev=releases/b1\n");
  assert.deepEqual(c.steps, [
    { code: 0, output: "releases/b1\nto stderr\nit's $(id) `x`" },
    { code: 0, output: "hello: stopped\nhello: ERROR (not running)\nhello: started\n" },
    { code: 0, output: '{"ok": true}\n' },
  ]);
  assert.equal(await readlink(`${root}/current`), "releases/b1");
  assert.equal(await readlink(`${root}/previous`), "releases/b2");
});

test("switchThenChain: the first failure ends it (exit status, or a supervisord ERROR line); a failed switch runs nothing", async () => {
  const root = await hostWith("b1", "b2");
  const ran = `${root}/ran`;
  const failing = viaShell(
    switchThenChain(root, "b1", "shift", NONCE, [
      { argv: ["sh", "-c", "echo boom; exit 7"], check: "exit" },
      { argv: ["touch", ran], check: "exit" },
    ]),
  );
  assert.equal(failing.status, 7);
  assert.deepEqual(parseChain(failing.stdout, NONCE).steps, [{ code: 7, output: "boom\n" }]);
  assert.ok(!existsSync(ran), "nothing after the failure ran");

  const supervisord = viaShell(
    switchThenChain(root, "b1", "shift", NONCE, [
      { argv: ["sh", "-c", "echo 'hello: ERROR (no such process)'"], check: "supervisord" },
      { argv: ["touch", ran], check: "exit" },
    ]),
  );
  assert.equal(supervisord.status, 1);
  assert.deepEqual(parseChain(supervisord.stdout, NONCE).steps, [{ code: 0, output: "hello: ERROR (no such process)\n" }], "the status is the command's");
  assert.ok(!existsSync(ran), "an ERROR line stops the chain");

  const missing = viaShell(switchThenChain(root, "b9", "shift", NONCE, [{ argv: ["touch", ran], check: "exit" }]));
  assert.equal(missing.status, 3);
  assert.equal(parseChain(missing.stdout, NONCE).switched, false);
  assert.ok(!existsSync(ran));
  assert.equal(await readlink(`${root}/current`), "releases/b1", "unchanged");
  assert.throws(() => switchThenChain(root, "b1", "shift", "not hex!", []), /bad chain nonce/);
});

test("ChainReader: each step settles as its marker arrives, even split across chunks; a round trip that ended early says so", async () => {
  const text = `old=releases/b2\nslipway-switched\nout one\nslipway-step-${NONCE} 0 0\nout two\nslipway-step-${NONCE} 1 4\n`;
  const reader = new ChainReader(NONCE);
  const seen: string[] = [];
  const follow = (async () => {
    seen.push(`switched ${(await reader.until(0)).parsed.before}`);
    seen.push(`one ${(await reader.until(1)).parsed.steps[0]!.output}`);
    seen.push(`two ${(await reader.until(2)).parsed.steps[1]!.code}`);
    const third = await reader.until(3);
    seen.push(`ended ${third.ended?.code} with ${third.parsed.steps.length}`);
  })();
  for (let i = 0; i < text.length; i += 5) {
    reader.push(text.slice(i, i + 5));
    await new Promise((r) => setImmediate(r));
  }
  assert.deepEqual(seen, ["switched old=releases/b2\n", "one out one\n", "two 4"]);
  reader.end({ code: 4, stdout: text, stderr: "" });
  await follow;
  assert.equal(seen[3], "ended 4 with 2");

  const lost = new ChainReader(NONCE);
  lost.fail(new Error("the remote shell ended"));
  await assert.rejects(lost.until(0), /the remote shell ended/);
});
