// HostSession's connect step reports the host shell's start-up and warns when it is slow
// (deploy/session.ts): the cost is the host's rc file, and the user is told where it comes from.
import { test } from "node:test";
import assert from "node:assert/strict";
import { HostSession, SLOW_SHELL_MS } from "../../src/deploy/session.js";
import type { SlipwayEvent } from "../../src/events.js";
import type { Transport } from "../../src/transport/types.js";

function transport(startup: number | undefined): Transport {
  return {
    host: "deploy@app-01",
    shellStartupMs: startup,
    connect: async () => {},
    exec: async () => ({ code: 0, stdout: "", stderr: "" }),
    close: async () => {},
  };
}

async function connectWith(startup: number | undefined): Promise<SlipwayEvent[]> {
  const events: SlipwayEvent[] = [];
  const s = new HostSession("deploy@app-01", transport(startup), (e) => events.push(e));
  await s.connect();
  await s.connect(); // once per run
  return events;
}

test("a shell slower than SLOW_SHELL_MS to start: one warning naming the host, the time and the rc file", async () => {
  const events = await connectWith(SLOW_SHELL_MS + 320);
  const warns = events.filter((e) => e.type === "log" && e.level === "warn");
  assert.equal(warns.length, 1);
  const w = warns[0] as Extract<SlipwayEvent, { type: "log" }>;
  assert.match(w.message, new RegExp(`^deploy@app-01: the deploy user's shell took ${SLOW_SHELL_MS + 320} ms to start`));
  assert.match(w.message, /~\/\.bashrc/);
  const done = events.find((e) => e.type === "host" && e.status === "done");
  assert.equal(done?.type === "host" && done.status === "done" ? done.detail : undefined, `connected; shell start-up ${SLOW_SHELL_MS + 320} ms`);
});

test("a fast shell, or one that cannot be measured: no warning", async () => {
  for (const startup of [0, SLOW_SHELL_MS - 10, undefined]) {
    const events = await connectWith(startup);
    assert.deepEqual(
      events.filter((e) => e.type === "log"),
      [],
      `startup ${startup}`,
    );
  }
});
