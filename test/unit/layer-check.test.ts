import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import path from "node:path";
import { checkLayer } from "../../src/artifact/entries.js";
import { EntryProblem, type LayerRules } from "../../src/artifact/entry-rules.js";
import type { Compression } from "../../src/artifact/compress.js";
import { compress, packTar, paxRecords, rawEntry, totals, type LayerEntry } from "../support/artifact-edit.js";
import { tmpDir } from "../support/tmp.js";

/*
 * The streaming side of the entry check: real zstd and gzip, real tar-stream. What reaches
 * EntryRules is tested in entry-rules.test.ts; here, what the stream itself can do wrong.
 */

const CODE = { layer: "code", allowedTargets: [], reserved: ["slipway.json", "virtualenv"] } as const;

const ENTRIES: LayerEntry[] = [
  { header: { name: "app/", type: "directory", mode: 0o755 } },
  { header: { name: "app/main.py", type: "file", mode: 0o644 }, data: Buffer.from("print('hi')\n") },
  { header: { name: "app/link", type: "symlink", linkname: "main.py" } },
];

function rulesFor(entries: readonly LayerEntry[], over: Partial<LayerRules> = {}): LayerRules {
  const t = totals(entries);
  return { ...CODE, files: t.files, unpackedSize: t.unpacked_size, ...over };
}

async function check(data: Buffer, kind: Compression, rules: LayerRules, chunk = 64 * 1024) {
  const c = checkLayer(kind, rules);
  for (let i = 0; i < data.length; i += chunk) {
    if (!c.input.write(data.subarray(i, i + chunk))) await new Promise((r) => c.input.once("drain", r));
  }
  c.input.end();
  return c.result;
}

async function rejects(p: Promise<unknown>, message: RegExp) {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof EntryProblem, `an EntryProblem, got ${String(err)}`);
    assert.match(err.message, message);
    return true;
  });
}

describe("checkLayer", () => {
  test("a well-formed layer passes with zstd and with gzip, in any chunking", async () => {
    const tarBytes = await packTar(ENTRIES);
    for (const kind of ["zstd", "gzip"] as const) {
      const data = await compress(tarBytes, kind);
      for (const chunk of [1, 7, 65536]) {
        assert.deepEqual(await check(data, kind, rulesFor(ENTRIES), chunk), { entries: 3, bytes: 12 }, `${kind}, ${chunk}-byte chunks`);
      }
    }
  });

  test("data that is not what the manifest says it is: plain tar, gzip labelled zstd, nothing at all", async () => {
    const tarBytes = await packTar(ENTRIES);
    await rejects(check(tarBytes, "zstd", rulesFor(ENTRIES)), /^is not zstd data \(it starts with 6170702f/);
    await rejects(check(await compress(tarBytes, "gzip"), "zstd", rulesFor(ENTRIES)), /^is not zstd data \(it starts with 1f8b08/);
    await rejects(check(await compress(tarBytes, "zstd"), "gzip", rulesFor(ENTRIES)), /^is not gzip data \(it starts with 28b52ffd/);
    await rejects(check(Buffer.alloc(0), "zstd", rulesFor(ENTRIES)), /^is not zstd data \(it starts with nothing\)/);
  });

  test("truncated and corrupt compressed streams name the decompressor's reason", async () => {
    const z = await compress(await packTar(ENTRIES), "zstd");
    await rejects(check(z.subarray(0, z.length - 9), "zstd", rulesFor(ENTRIES)), /^is not valid zstd data \(truncated or corrupt\): .+/);
    const g = await compress(await packTar(ENTRIES), "gzip");
    await rejects(check(g.subarray(0, g.length - 9), "gzip", rulesFor(ENTRIES)), /^is not valid gzip data \(truncated or corrupt\)/);
    const flipped = Buffer.from(z);
    flipped[Math.floor(flipped.length / 2)]! ^= 0xff;
    await rejects(check(flipped, "zstd", rulesFor(ENTRIES)), /^is not valid zstd data|^is not a valid tar stream|entry/);
  });

  test("valid zstd around something that is not a tar, or a tar cut short", async () => {
    // Big enough that zstd is still running when the parser gives up: the tar is named, not zstd's broken pipe.
    await rejects(check(await compress(randomBytes(8 * 1024 * 1024), "zstd"), "zstd", rulesFor(ENTRIES)), /^is not a valid tar stream: Invalid tar header/);
    const tarBytes = await packTar(ENTRIES);
    await rejects(check(await compress(tarBytes.subarray(0, 700), "zstd"), "zstd", rulesFor(ENTRIES)), /^is not a valid tar stream: Unexpected end of data/);
  });

  test("a decompression bomb (1 GiB of zeros after one entry) is cut off after a few MiB, in seconds", async () => {
    const dir = await tmpDir("slw-bomb");
    const head = path.join(dir, "head.tar");
    writeFileSync(head, (await packTar(ENTRIES.slice(1, 2))).subarray(0, -1024));
    const z = execFileSync("sh", ["-c", '{ cat "$1"; head -c 1073741824 /dev/zero; } | zstd -q -1 -c', "sh", head]);
    assert.ok(z.length < 1024 * 1024, `the bomb is small: ${z.length} bytes`);
    const t0 = performance.now();
    await rejects(
      check(z, "zstd", rulesFor(ENTRIES.slice(1, 2))),
      /^decompresses to more than its entries account for \(over \d+ bytes\): a decompression bomb/,
    );
    assert.ok(performance.now() - t0 < 10_000, "stopped early");
  });

  test("what tar-stream and GNU tar read differently is refused: pax global header, a symlink with data, GNU sparse", async () => {
    const withGlobal = [{ header: { name: "g" }, raw: paxRecords({ path: "../../evil" }, "g") }, ...ENTRIES];
    await rejects(check(await compress(await packTar(withGlobal), "zstd"), "zstd", rulesFor(ENTRIES, { files: 3 })), /^has a pax global header/);
    const symWithData = [{ header: { name: "s" }, raw: rawEntry({ name: "s", typeflag: "2", linkname: "x" }, Buffer.from("hidden tar blocks")) }];
    await rejects(
      check(await compress(await packTar(symWithData), "zstd"), "zstd", rulesFor([], { files: 1, unpackedSize: 0 })),
      /^entry "s" is a symlink with 17 bytes of data/,
    );
    const sparse = [{ header: { name: "sp" }, raw: rawEntry({ name: "sp", typeflag: "S" }, Buffer.from("x")) }];
    await rejects(
      check(await compress(await packTar(sparse), "zstd"), "zstd", rulesFor([], { files: 1, unpackedSize: 1 })),
      /^entry "sp" has the tar type "unknown"/,
    );
    const paxSparse = [{ header: { name: "p" }, raw: paxRecords({ path: "a", "GNU.sparse.name": "../../x" }) }, ENTRIES[1]!];
    await rejects(check(await compress(await packTar(paxSparse), "zstd"), "zstd", rulesFor([ENTRIES[1]!])), /carries the pax record "GNU\.sparse\.name"/);
  });

  test("after a refusal the input still takes (and drops) the rest, so a writer never hangs", async () => {
    const bad = await compress(await packTar([{ header: { name: "/etc/x", type: "file" }, data: Buffer.from("x") }, ...ENTRIES]), "zstd");
    const padded = Buffer.concat([bad, randomBytes(8 * 1024 * 1024)]);
    await rejects(check(padded, "zstd", rulesFor(ENTRIES, { files: 4, unpackedSize: 13 })), /^entry "\/etc\/x" has an absolute path/);
    const c = checkLayer("zstd", rulesFor(ENTRIES));
    c.abort();
    c.input.end(randomBytes(1024 * 1024));
    await rejects(c.result, /was not checked/);
  });
});
