// The ssh transport's deadlines, against a stand-in `ssh` on PATH that runs the remote command
// here (or, while the "host" is down, says nothing until it is killed): a command past
// ssh.step_timeout is stopped without losing the host; a host whose connection was lost gets
// one short reconnect, and after that fails every command fails at once.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import { CommandTimedOut, ShellSession } from "../../src/transport/shell-session.js";
import { RECONNECT_MS, SshTransport, StepTimeoutError, TransportError } from "../../src/transport/ssh.js";

const dir = mkdtempSync(path.join(tmpdir(), "slw-fake-ssh-"));
const down = path.join(dir, "down");
const savedPath = process.env["PATH"];

before(() => {
  writeFileSync(
    path.join(dir, "ssh"),
    `#!/bin/sh
for a; do last=$a; done
case " $* " in *" -O exit "*) exit 0 ;; esac
if [ -e "${down}" ]; then exec sleep 60; fi
export FAKE_SSH_PID=$$
exec setsid sh -c "$last"
`,
  );
  chmodSync(path.join(dir, "ssh"), 0o755);
  process.env["PATH"] = `${dir}:${savedPath}`;
});
after(() => {
  process.env["PATH"] = savedPath;
  rmSync(dir, { recursive: true, force: true });
});

const settings = { config: "", identity: "", known_hosts: "", options: [], step_timeout: "1s" };
/** Kills the stand-in ssh and everything it started: what a dropped connection looks like from here. */
const dropConnection = ["sh", "-c", 'kill -9 -"$FAKE_SSH_PID"'];

test("shell session: a command past its deadline fails and the session is stopped; one within it is untouched", async () => {
  const s = new ShellSession((d) => d, { stepTimeoutMs: 400 });
  const t0 = performance.now();
  await assert.rejects(s.exec(["sleep", "2"]), CommandTimedOut);
  assert.ok(performance.now() - t0 < 1500, "stopped at the deadline, not when the command ended");
  assert.ok(s.isEnded);
  await s.close();
  const u = new ShellSession((d) => d, { stepTimeoutMs: 400 });
  assert.deepEqual(await u.exec(["sh", "-c", "sleep 0.2; echo in time"]), { code: 0, stdout: "in time\n", stderr: "" });
  // an upload longer than the deadline, still moving: the deadline counts from its last byte
  const slow = Readable.from(
    (async function* () {
      for (let i = 0; i < 6; i++) {
        await new Promise((r) => setTimeout(r, 150));
        yield Buffer.from("0123456789");
      }
    })(),
  );
  assert.deepEqual(await u.exec(["wc", "-c"], { stdin: slow, stdinBytes: 60 }), { code: 0, stdout: "60\n", stderr: "" });
  await u.close();
});

test("ssh transport: a step past ssh.step_timeout is a StepTimeoutError; the host is not lost and the next command runs", async () => {
  const t = new SshTransport("deploy@web_1", settings);
  try {
    assert.equal((await t.exec(["echo", "up"])).stdout, "up\n");
    await assert.rejects(
      t.exec(["sleep", "10"]),
      (e: unknown) => e instanceof StepTimeoutError && /deploy@web_1: a command gave no result within 1 s \(ssh\.step_timeout\)/.test(e.message),
    );
    assert.equal((await t.exec(["echo", "again"])).stdout, "again\n");
  } finally {
    await t.close();
  }
});

test("ssh transport: a lost host gets one short reconnect; when that fails too, every later command fails at once", async () => {
  const t = new SshTransport("deploy@web_1", settings);
  try {
    assert.equal((await t.exec(["echo", "up"])).stdout, "up\n");
    writeFileSync(down, "");
    await assert.rejects(t.exec(dropConnection), (e: unknown) => e instanceof TransportError && /^lost the ssh connection to deploy@web_1/.test(e.message));
    let t0 = performance.now();
    await assert.rejects(t.exec(["echo", "record"]), (e: unknown) => e instanceof TransportError && /did not answer again within 5 s/.test(e.message));
    const waited = performance.now() - t0;
    assert.ok(waited >= RECONNECT_MS - 100 && waited < RECONNECT_MS + 3000, `the reconnect was given ${Math.round(waited)} ms`);
    rmSync(down);
    t0 = performance.now();
    await assert.rejects(t.exec(["echo", "unlock"]), /did not answer again/, "given up for the rest of the run, even once it answers again");
    assert.ok(performance.now() - t0 < 500, "at once");
  } finally {
    rmSync(down, { force: true });
    await t.close();
  }
});

test("ssh transport: a short drop heals — the reconnect answers and the host is used again", async () => {
  const t = new SshTransport("deploy@web_1", settings);
  try {
    assert.equal((await t.exec(["echo", "up"])).stdout, "up\n");
    await assert.rejects(t.exec(dropConnection), /lost the ssh connection/);
    assert.equal((await t.exec(["echo", "back"])).stdout, "back\n");
    await assert.rejects(t.exec(dropConnection), /lost the ssh connection/, "lost again later: again one reconnect");
    assert.equal((await t.exec(["echo", "back again"])).stdout, "back again\n");
  } finally {
    await t.close();
  }
});
