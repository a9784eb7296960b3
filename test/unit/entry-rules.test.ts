import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { EntryProblem, EntryRules, show, type EntryHeader, type LayerRules } from "../../src/artifact/entry-rules.js";
import { LIMITS, type Limits } from "../../src/artifact/limits.js";

const file = (name: string, size = 3, mode = 0o644): EntryHeader => ({ name, type: "file", mode, size });
const dir = (name: string): EntryHeader => ({ name: `${name}/`, type: "directory", mode: 0o755, size: 0 });
const sym = (name: string, linkname: string): EntryHeader => ({ name, type: "symlink", mode: 0o777, size: 0, linkname });
const hard = (name: string, linkname: string): EntryHeader => ({ name, type: "link", mode: 0o644, size: 0, linkname });

const VENV: Omit<LayerRules, "files" | "unpackedSize"> = {
  layer: "venv",
  allowedTargets: ["/usr/bin/python3", "/usr/bin/python3.11"],
  reserved: [".slipway-complete"],
};
const CODE: Omit<LayerRules, "files" | "unpackedSize"> = { layer: "code", allowedTargets: [], reserved: ["slipway.json", "virtualenv"] };

/** Run the entries through fresh rules whose manifest totals match them (unless `declared` says otherwise). */
function run(entries: EntryHeader[], base = CODE, declared?: Partial<Pick<LayerRules, "files" | "unpackedSize">>, limits: Limits = LIMITS) {
  const rules = new EntryRules(
    {
      ...base,
      files: declared?.files ?? entries.length,
      unpackedSize: declared?.unpackedSize ?? entries.reduce((n, e) => n + (e.type === "file" ? e.size : 0), 0),
    },
    limits,
  );
  for (const e of entries) rules.add(e);
  return rules.finish();
}

function refused(
  entries: EntryHeader[],
  message: RegExp,
  base = CODE,
  declared?: Partial<Pick<LayerRules, "files" | "unpackedSize">>,
  limits: Limits = LIMITS,
) {
  assert.throws(
    () => run(entries, base, declared, limits),
    (err: unknown) => {
      assert.ok(err instanceof EntryProblem, `an EntryProblem, got ${String(err)}`);
      assert.match(err.message, message);
      return true;
    },
  );
}

describe("EntryRules: accepted", () => {
  test("what slipway build writes: dirs, files, relative links inside, the venv's interpreter links", () => {
    assert.deepEqual(
      run(
        [
          dir("bin"),
          sym("bin/python", "python3"),
          sym("bin/python3", "/usr/bin/python3"),
          sym("bin/python3.11", "python3"),
          sym("lib64", "lib"),
          dir("lib"),
          file("lib/x.py", 10),
          file("pyvenv.cfg", 5),
        ],
        VENV,
      ),
      { entries: 8, bytes: 15 },
    );
  });
  test("links that climb and come back, a dangling link inside, a hard link to an earlier file", () => {
    run([dir("a"), dir("a/b"), file("a/b/f"), sym("a/b/up", "../../a/b/f"), sym("a/dangling", "no/such/file"), hard("a/h", "a/b/f"), sym("dot", ".")]);
  });
  test("files may come before their directory entry (tar creates parents)", () => {
    run([file("x/y/z"), dir("x/y"), dir("x")]);
  });
});

describe("EntryRules: refused, each naming the entry", () => {
  const cases: [string, EntryHeader[], RegExp, typeof CODE?][] = [
    ["absolute path", [file("/etc/cron.d/evil")], /entry "\/etc\/cron\.d\/evil" has an absolute path/],
    ["absolute directory", [dir("/etc")], /entry "\/etc" has an absolute path/],
    [".. component", [file("../../root/.ssh/authorized_keys")], /has a \.\. component/],
    [".. in the middle", [file("a/../../x")], /entry "a\/\.\.\/\.\.\/x" has a \.\. component/],
    ["empty and . components", [file("a//b")], /is not a plain relative path/],
    ["leading ./", [file("./a")], /is not a plain relative path/],
    ["control characters (escaped in the message)", [file("a\u001b[31mred")], /entry "a\\u001b\[31mred" has control characters/],
    ["a newline", [file("a\nb")], /entry "a\\u000ab" has control characters/],
    ["C1 control", [file("a\u009bb")], /has control characters/],
    ["invalid UTF-8 (decoded as U+FFFD)", [file("caf\uFFFD")], /not valid UTF-8/],
    ["a component over 255 bytes", [file("a".repeat(256))], /longer than the system allows/],
    ["a path over PATH_MAX", [file(Array.from({ length: 30 }, () => "b".repeat(200)).join("/"))], /longer than the system allows/],
    ["symlink out with ..", [sym("etc", "../../../etc")], /entry "etc" is a symlink to "\.\.\/\.\.\/\.\.\/etc", outside the layer/],
    ["symlink out from a subdir", [dir("a"), sym("a/l", "../../x")], /entry "a\/l" is a symlink to "\.\.\/\.\.\/x", outside the layer/],
    ["absolute symlink in the code layer", [sym("passwd", "/etc/passwd")], /entry "passwd" is a symlink to "\/etc\/passwd", outside the layer$/],
    [
      "absolute symlink in the venv that is not the interpreter",
      [sym("bin/sh", "/bin/sh")],
      /is a symlink to "\/bin\/sh", outside the layer \(only "\/usr\/bin\/python3" or "\/usr\/bin\/python3\.11", the interpreter, may be linked\)/,
      VENV,
    ],
    ["symlink chain out: s -> ., x -> s/..", [sym("s", "."), sym("x", "s/..")], /entry "x" is a symlink to "s\/\.\." that resolves outside the layer/],
    [
      "symlink chain out, declared before its hop",
      [sym("x", "s/.."), dir("d"), sym("s", ".")],
      /entry "x" is a symlink to "s\/\.\." that resolves outside the layer/,
    ],
    [
      "symlink through the interpreter link",
      [sym("bin/python3", "/usr/bin/python3"), sym("x", "bin/python3/../../etc")],
      /entry "x" is a symlink to "bin\/python3\/\.\.\/\.\.\/etc" that resolves through "bin\/python3" to outside the layer/,
      VENV,
    ],
    ["symlink loop", [sym("a", "b"), sym("b", "a")], /loops through other symlinks/],
    ["empty symlink target", [sym("a", "")], /is a link with an empty target/],
    ["control characters in a link target", [sym("a", "b\u0007")], /whose target "b\\u0007" has control characters/],
    ["an entry inside a symlink (written through it)", [sym("a", "b"), file("a/x")], /entry "a\/x" is inside "a", which is a symlink, not a directory/],
    ["a symlink over a directory with entries", [file("a/x"), sym("a", "b")], /entry "a" is a symlink, but other entries are inside it/],
    ["an entry inside a file", [file("a"), file("a/b")], /is inside "a", which is a file/],
    ["hard link to an absolute path", [hard("h", "/etc/shadow")], /entry "h" is a hard link to "\/etc\/shadow", outside the layer/],
    ["hard link with ..", [hard("h", "../x")], /is a hard link to "\.\.\/x", outside the layer/],
    ["hard link to nothing earlier", [hard("h", "later"), file("later")], /is a hard link to "later", which is not a regular file earlier in the layer/],
    ["hard link to a symlink", [sym("s", "x"), hard("h", "s")], /which is not a regular file/],
    ["character device", [{ name: "null", type: "character-device", mode: 0o666, size: 0 }], /entry "null" is a device node \(character-device\)/],
    ["block device", [{ name: "sda", type: "block-device", mode: 0o660, size: 0 }], /entry "sda" is a device node \(block-device\)/],
    ["FIFO", [{ name: "pipe", type: "fifo", mode: 0o644, size: 0 }], /entry "pipe" is a FIFO/],
    ["contiguous file", [{ name: "c", type: "contiguous-file", mode: 0o644, size: 0 }], /has the tar type "contiguous-file", which slipway never writes/],
    ["unknown type (GNU sparse, volume label…)", [{ name: "s", type: null, mode: 0o644, size: 0 }], /entry "s" has the tar type "unknown"/],
    ["setuid", [file("bin/su", 3, 0o4755)], /entry "bin\/su" is setuid \(mode 04755\)/],
    ["setgid", [file("bin/sg", 3, 0o2755)], /entry "bin\/sg" is setgid \(mode 02755\)/],
    ["sticky", [{ ...dir("tmp"), mode: 0o1777 }], /entry "tmp" has the sticky bit/],
    ["duplicate entry", [file("a"), file("a")], /entry "a" appears twice/],
    ["duplicate dir and file", [dir("a"), file("a")], /entry "a" appears twice/],
    ["a symlink carrying data", [{ ...sym("a", "b"), size: 100 }], /entry "a" is a symlink with 100 bytes of data/],
    [
      "a pax record GNU tar acts on",
      [{ ...file("a"), pax: { path: "a", "GNU.sparse.name": "../../x" } }],
      /entry "a" carries the pax record "GNU\.sparse\.name"/,
    ],
    [
      "reserved name in the code layer",
      [file("slipway.json")],
      /entry "slipway\.json" uses the name "slipway\.json", which the host creates itself in the code layer/,
    ],
    ["reserved dir in the code layer", [dir("virtualenv"), file("virtualenv/x")], /uses the name "virtualenv"/],
    ["reserved name in the venv layer", [file(".slipway-complete")], /uses the name "\.slipway-complete"/, VENV],
  ];
  for (const [name, entries, message, base] of cases) test(name, () => refused(entries, message, base));
});

describe("EntryRules: totals against the manifest and the limits", () => {
  test("more entries than the manifest declares stops at the first extra one", () => {
    refused([file("a"), file("b")], /has more entries than the 1 its manifest declares/, CODE, { files: 1 });
  });
  test("fewer entries than declared", () => {
    refused([file("a")], /has 1 entries, its manifest declares 2/, CODE, { files: 2 });
  });
  test("unpacked size other than declared", () => {
    refused([file("a", 10)], /unpacks to 10 bytes of files, its manifest declares 11/, CODE, { unpackedSize: 11 });
  });
  test("a file whose header alone goes past the declared size (a bomb announced up front)", () => {
    refused([file("a", 10), file("big", 2 ** 40)], /entry "big" takes the layer past the 10 unpacked bytes its manifest declares/, CODE, { unpackedSize: 10 });
  });
  test("the documented limits hold even when the manifest promises more", () => {
    const small = { ...LIMITS, entries: 3, unpackedBytes: 100 };
    refused([file("a"), file("b"), file("c"), file("d")], /has more than 3 entries, the limit/, CODE, { files: 10 }, small);
    refused([file("a", 60), file("b", 60)], /entry "b" takes the layer past 100 unpacked bytes, the limit/, CODE, { unpackedSize: 1000 }, small);
  });
  test("the stream allowance grows with the entries seen and no further", () => {
    const rules = new EntryRules({ ...CODE, files: 2, unpackedSize: 1000 });
    const start = rules.streamAllowance();
    rules.add(file("a", 1000));
    assert.equal(rules.streamAllowance(), start + 1000 + LIMITS.framingPerEntry);
    assert.ok(start < 5 * 2 ** 20, "a few MiB before any entry");
  });
});

test("show: quotes, escapes controls and quotes, cuts long names", () => {
  assert.equal(show('a"b\\c'), '"a\\"b\\\\c"');
  assert.equal(show("x\u001by"), '"x\\u001by"');
  assert.equal(show("é"), '"é"');
  assert.ok(show("z".repeat(500)).length < 170);
});
