import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { writeFile } from "node:fs/promises";
import path from "node:path";
import { CommandTimedOut } from "../../src/transport/shell-session.js";
import { canSendRanges, spawnWithRange } from "../../src/transport/range-send.js";
import { tmpDir } from "../support/tmp.js";

/*
 * transport/range-send.ts with real processes: a byte range of a file reaches the command's
 * stdin through dd and a pipe, never through node.
 */

const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");

test("spawnWithRange: the command reads exactly the range, and the progress reaches its length", async () => {
  const file = path.join(await tmpDir("slw-range"), "blob");
  const data = randomBytes(6 << 20);
  await writeFile(file, data);
  const offset = 12345;
  const length = (5 << 20) + 77;
  const seen: number[] = [];
  const r = await spawnWithRange(["sha256sum"], { path: file, offset, length }, { onSent: (n) => seen.push(n) });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.split(" ")[0], sha(data.subarray(offset, offset + length)));
  assert.equal(seen.at(-1), length);
  assert.deepEqual(
    seen,
    [...seen].sort((a, b) => a - b),
    "progress only grows",
  );
});

test("spawnWithRange: a command that ends without reading (the host has the layer) is no failure", async () => {
  const file = path.join(await tmpDir("slw-range"), "blob");
  await writeFile(file, randomBytes(8 << 20));
  const r = await spawnWithRange(["sh", "-c", "echo present; exit 0"], { path: file, offset: 0, length: 8 << 20 });
  assert.equal(r.code, 0);
  assert.equal(r.stdout, "present\n");
  const failed = await spawnWithRange(["sh", "-c", "echo no >&2; exit 3"], { path: file, offset: 0, length: 8 << 20 });
  assert.equal(failed.code, 3, "the command's own exit code comes back");
  assert.equal(failed.stderr, "no\n");
});

test("spawnWithRange: a range that cannot be read is an error naming the file, not a short stdin", async () => {
  const missing = path.join(await tmpDir("slw-range"), "gone");
  await assert.rejects(spawnWithRange(["cat"], { path: missing, offset: 0, length: 10 }), (e: Error) => e.message.includes(`of ${missing}`));
});

test("spawnWithRange: the deadline counts from the last byte that went out, not from the start", async () => {
  assert.equal(await canSendRanges(), true, "this machine has GNU dd");
  const file = path.join(await tmpDir("slw-range"), "blob");
  await writeFile(file, randomBytes(8 << 20));
  // A reader slower than the deadline in all but still taking bytes: not cut off.
  const slow = await spawnWithRange(
    ["sh", "-c", "for i in 1 2 3 4 5 6; do head -c 1048576 >/dev/null; sleep 0.3; done; cat >/dev/null"],
    { path: file, offset: 0, length: 8 << 20 },
    { timeoutMs: 1000 },
  );
  assert.equal(slow.code, 0);
  // One that stops reading: cut off about a deadline after the pipe filled.
  const t0 = performance.now();
  await assert.rejects(spawnWithRange(["sh", "-c", "sleep 5"], { path: file, offset: 0, length: 8 << 20 }, { timeoutMs: 800 }), CommandTimedOut);
  assert.ok(performance.now() - t0 < 5000, "stopped within a few seconds");
});
