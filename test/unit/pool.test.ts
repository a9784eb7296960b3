import { test } from "node:test";
import assert from "node:assert/strict";
import { mapLimit } from "../../src/util/pool.js";

test("mapLimit: bounded, ordered results", async () => {
  let inFlight = 0;
  let peak = 0;
  const out = await mapLimit([5, 1, 3, 2, 4], 2, async (n) => {
    peak = Math.max(peak, ++inFlight);
    await new Promise((r) => setTimeout(r, n * 3));
    inFlight--;
    return n * 10;
  });
  assert.deepEqual(out, [50, 10, 30, 20, 40]);
  assert.equal(peak, 2);
});

test("mapLimit: after a failure nothing new starts, and work in flight finishes before the error is thrown", async () => {
  const started: number[] = [];
  const finished: number[] = [];
  await assert.rejects(
    mapLimit([0, 1, 2, 3, 4, 5], 2, async (n) => {
      started.push(n);
      if (n === 0) throw new Error("host 0 failed");
      await new Promise((r) => setTimeout(r, 30));
      finished.push(n);
    }),
    /host 0 failed/,
  );
  assert.deepEqual(started, [0, 1], "no new item after the failure");
  assert.deepEqual(finished, [1], "the item in flight finished before the rejection");
});
