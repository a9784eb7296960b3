import { before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createReadStream } from "node:fs";
import { appendFile, chmod, link, lstat, mkdir, readFile, readdir, readlink, rm, symlink, utimes, writeFile } from "node:fs/promises";
import path from "node:path";
import { pipeline } from "node:stream/promises";
import { checkLayer } from "../../src/artifact/entries.js";
import type { Compression } from "../../src/artifact/compress.js";
import { gnuTarArgs, hasGnuTar, parseListingLine, writeLayerWithGnuTar } from "../../src/artifact/gnu-tar-pack.js";
import { writeLayer } from "../../src/artifact/layer-writer.js";
import { walkTree, type TreeEntry } from "../../src/build/tree.js";
import { sha256File } from "../../src/util/hash.js";
import { tmpDir } from "../support/tmp.js";

/*
 * The venv layer made by GNU tar: real tar, real zstd and gzip, no mocks. It must unpack to
 * the walked tree, pass slipway's own entry checks, and be the same bytes on every run.
 */

const LONG_DIR = `d/${"a".repeat(120)}/${"b".repeat(200)}`; // > 100 and > 255 bytes in all
const LONG_FILE = `${LONG_DIR}/${"c".repeat(90)}.py`;

/** A tree with every awkward case the venv layer can meet. */
async function makeTree(dir: string): Promise<void> {
  await mkdir(path.join(dir, LONG_DIR), { recursive: true });
  await writeFile(path.join(dir, LONG_FILE), "deep = True\n");
  await symlink(path.relative("", LONG_FILE), path.join(dir, "long-link")); // target > 255 bytes
  await symlink(`../${LONG_FILE}`, path.join(dir, "d", "up-link"));
  await writeFile(path.join(dir, "shared.so"), Buffer.alloc(70_000, 7));
  await link(path.join(dir, "shared.so"), path.join(dir, "shared-again.so"));
  await writeFile(path.join(dir, "suid-tool"), "#!/bin/sh\n");
  await chmod(path.join(dir, "suid-tool"), 0o4755);
  await writeFile(path.join(dir, "sgid-tool"), "#!/bin/sh\n");
  await chmod(path.join(dir, "sgid-tool"), 0o2750);
  await mkdir(path.join(dir, "sticky"));
  await chmod(path.join(dir, "sticky"), 0o1777);
  await mkdir(path.join(dir, "empty"));
  await writeFile(path.join(dir, "with space.py"), "x = 1\n");
  await writeFile(path.join(dir, "-dash.py"), "y = 2\n");
  await writeFile(path.join(dir, "--"), "z\n");
  await writeFile(path.join(dir, "back\\slash"), "w\n");
  await writeFile(path.join(dir, "café.py"), "é\n");
  await writeFile(path.join(dir, "ro.txt"), "read only\n");
  await chmod(path.join(dir, "ro.txt"), 0o444);
}

const venvRules = (stats: { files: number; unpacked_size: number }) =>
  ({ layer: "venv", files: stats.files, unpackedSize: stats.unpacked_size, allowedTargets: [], reserved: [".slipway-complete"] }) as const;

async function checkFile(file: string, kind: Compression, stats: { files: number; unpacked_size: number }) {
  const c = checkLayer(kind, venvRules(stats));
  await pipeline(createReadStream(file), c.input);
  return c.result;
}

function unpack(file: string, kind: Compression, into: string): void {
  execFileSync("tar", ["-x", "-p", "--no-same-owner", "-f", file, "-C", into, kind === "zstd" ? "--zstd" : "--gzip"]);
}

/** Every entry's name, type, permission bits, link target and contents. */
async function describeTree(dir: string): Promise<unknown[]> {
  const out: unknown[] = [];
  for (const e of await walkTree(dir, () => false)) {
    const st = await lstat(path.join(dir, e.rel));
    const contents = e.type === "file" ? (await readFile(path.join(dir, e.rel))).toString("base64") : undefined;
    out.push({ rel: e.rel, type: e.type, mode: e.mode, link: e.linkname, contents, special: st.mode & 0o7000 });
  }
  return out;
}

describe("writeLayerWithGnuTar", () => {
  let src: string;
  let entries: TreeEntry[];

  before(async () => {
    assert.ok(await hasGnuTar(), "these tests need GNU tar");
    src = path.join(await tmpDir("gnu-tar-src"), "venv");
    await makeTree(src);
    entries = await walkTree(src, () => false);
  });

  test("the arguments strip setuid, setgid and sticky and fix the owner and mtime", () => {
    const args = gnuTarArgs("/v", new Date(1_700_000_000_999));
    for (const a of ["--mode=a-st", "--owner=0", "--group=0", "--numeric-owner", "--hard-dereference", "--mtime=@1700000000", "--format=pax"]) {
      assert.ok(args.includes(a), a);
    }
  });

  for (const kind of ["zstd", "gzip"] as const) {
    test(`${kind}: unpacks with GNU tar to the walked tree, modes without setuid/setgid/sticky`, async () => {
      const out = path.join(await tmpDir("gnu-tar-out"), `venv.tar.${kind}`);
      const seen: number[] = [];
      const stats = await writeLayerWithGnuTar({ dir: src, entries, mtime: new Date(0), compression: kind, out, onProgress: (n) => seen.push(n) });
      const total = entries.reduce((n, e) => n + e.size, 0);
      assert.equal(stats.files, entries.length);
      assert.equal(stats.unpacked_size, total);
      assert.equal(stats.size, (await lstat(out)).size);
      assert.equal(stats.sha256, await sha256File(out));
      assert.equal(seen.at(-1), total, "progress ends at the total");
      assert.ok(
        seen.every((n, i) => n <= total && (i === 0 || n >= seen[i - 1]!)),
        "progress only grows, capped at the total",
      );

      const into = await tmpDir("gnu-tar-unpacked");
      unpack(out, kind, into);
      const got = await describeTree(into);
      const want = await describeTree(src);
      assert.deepEqual(
        got,
        want.map((w) => ({ ...(w as object), special: 0 })),
      );
      assert.equal((await lstat(path.join(into, "suid-tool"))).mode & 0o7777, 0o755);
      assert.equal((await lstat(path.join(into, "sticky"))).mode & 0o7777, 0o777);
      assert.equal(await readlink(path.join(into, "long-link")), LONG_FILE);
      assert.deepEqual(await readdir(path.join(into, "empty")), []);

      // The same totals writeLayer (tar-stream) reports for the same entries.
      const js = await writeLayer({ dir: src, entries, mtime: new Date(0), compression: kind, out: `${out}.js` });
      assert.equal(js.files, stats.files);
      assert.equal(js.unpacked_size, stats.unpacked_size);
    });

    test(`${kind}: slipway's entry checks accept the layer`, async () => {
      const out = path.join(await tmpDir("gnu-tar-check"), `venv.tar.${kind}`);
      const stats = await writeLayerWithGnuTar({ dir: src, entries, mtime: new Date(0), compression: kind, out });
      assert.deepEqual(await checkFile(out, kind, stats), { entries: stats.files, bytes: stats.unpacked_size });
    });
  }

  test("two runs give the same bytes, whatever the files' own times", async () => {
    const dir = await tmpDir("gnu-tar-twice");
    const a = await writeLayerWithGnuTar({ dir: src, entries, mtime: new Date(0), compression: "zstd", out: path.join(dir, "a.tar.zst") });
    await utimes(path.join(src, "with space.py"), new Date(5_000_000), new Date(5_000_000));
    const b = await writeLayerWithGnuTar({ dir: src, entries, mtime: new Date(0), compression: "zstd", out: path.join(dir, "b.tar.zst") });
    assert.equal(a.sha256, b.sha256);
    assert.equal(await sha256File(path.join(dir, "a.tar.zst")), await sha256File(path.join(dir, "b.tar.zst")));
  });

  test("a file that vanished after the walk: a clear error naming the dir, and no temp file", async () => {
    const dir = await tmpDir("gnu-tar-vanish");
    await mkdir(path.join(dir, "venv"));
    for (const n of ["a.py", "b.py", "c.py"]) await writeFile(path.join(dir, "venv", n), `${n}\n`);
    const walked = await walkTree(path.join(dir, "venv"), () => false);
    await rm(path.join(dir, "venv", "b.py"));
    const out = path.join(dir, "out", "venv.tar.zst");
    await mkdir(path.dirname(out));
    await assert.rejects(writeLayerWithGnuTar({ dir: path.join(dir, "venv"), entries: walked, mtime: new Date(0), compression: "zstd", out }), (err: Error) => {
      assert.match(err.message, /packing .*\/venv with GNU tar failed: tar exited 2: .*b\.py.*No such file/s);
      return true;
    });
    assert.deepEqual(await readdir(path.dirname(out)), []);
  });

  test("a file that grew after the walk: tar succeeds, the header check fails the layer", async () => {
    const dir = await tmpDir("gnu-tar-grew");
    await mkdir(path.join(dir, "venv"));
    await writeFile(path.join(dir, "venv", "a.py"), "a\n");
    const walked = await walkTree(path.join(dir, "venv"), () => false);
    await appendFile(path.join(dir, "venv", "a.py"), "more\n");
    const out = path.join(dir, "out", "venv.tar.gz");
    await mkdir(path.dirname(out));
    await assert.rejects(
      writeLayerWithGnuTar({ dir: path.join(dir, "venv"), entries: walked, mtime: new Date(0), compression: "gzip", out }),
      /does not match the walked tree.*"a\.py" \(file, 7 bytes\) where the walk had "a\.py" \(file, 2 bytes\)/,
    );
    assert.deepEqual(await readdir(path.dirname(out)), []);
  });
});

test("parseListingLine: GNU tar's -vv --quoting-style=c lines, and nothing else", () => {
  assert.deepEqual(parseListingLine('-rw-r--r-- 0/0            1234 2026-12-01 14:00 "lib/a.py"'), { name: "lib/a.py", kind: "file", size: 1234 });
  assert.deepEqual(parseListingLine('drwxr-xr-x 0/0               0 2026-12-01 14:00 "bin/"'), { name: "bin/", kind: "directory", size: 0 });
  // A target holding ` -> ` and quotes; a name with a newline, a backslash and UTF-8 as octal.
  assert.deepEqual(parseListingLine('lrwxrwxrwx 0/0               0 2026-12-01 14:00 "d/l" -> "../x -> \\"y\\""'), {
    name: "d/l",
    kind: "symlink",
    size: 0,
    linkname: '../x -> "y"',
  });
  assert.deepEqual(parseListingLine('-rw-r--r-- 0/0 1 2026-12-01 14:00 "we ird\\nname\\\\caf\\303\\251.py"'), {
    name: "we ird\nname\\café.py",
    kind: "file",
    size: 1,
  });
  assert.equal(parseListingLine('hrw-r--r-- 0/0 0 2026-12-01 14:00 "b" link to "a"'), undefined, "a hard link line is not read as an entry");
  for (const bad of [
    'tar: "x": Cannot stat: No such file or directory',
    '-rw-r--r-- 0/0 1 2026-12-01 14:00 "unterminated',
    '-rw-r--r-- 0/0 1 2026-12-01 14:00 "a" trailing',
    '-rw-r--r-- 0/0 1 2026-12-01 14:00 "bad \\q escape"',
    "",
  ]) {
    assert.equal(parseListingLine(bad), undefined, bad);
  }
});
