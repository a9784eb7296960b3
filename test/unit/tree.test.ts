import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdir, mkdtemp, rm, symlink, writeFile, chmod } from "node:fs/promises";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { byteOrder, excludeMatcher, linkStaysInside, walkTree } from "../../src/build/tree.js";
import { DEFAULT_EXCLUDE } from "../../src/config/schema.js";

describe("excludeMatcher", () => {
  const matches = (patterns: string[], yes: string[], no: string[]) => {
    const m = excludeMatcher(patterns);
    for (const rel of yes) assert.equal(m(rel), true, `${JSON.stringify(patterns)} should exclude ${rel}`);
    for (const rel of no) assert.equal(m(rel), false, `${JSON.stringify(patterns)} should keep ${rel}`);
  };

  test("no patterns exclude nothing", () => {
    matches([], [], ["a", ".git", "a/b.pyc"]);
  });

  test("a name pattern matches that name at any depth", () => {
    matches(["node_modules"], ["node_modules", "a/node_modules", "a/b/node_modules"], ["node_modules2", "a/xnode_modules", "src"]);
  });

  test("a glob name pattern matches basenames at any depth", () => {
    matches(["*.pyc"], ["x.pyc", "a/b/x.pyc"], ["x.pyc.txt", "a/x.py", "pyc"]);
  });

  test("a pattern with / is anchored at the top", () => {
    matches(["docs/build"], ["docs/build"], ["a/docs/build", "build", "docs"]);
    matches(["static/*.map"], ["static/x.map"], ["static/a/x.map", "a/static/x.map"]);
  });

  test("**/ matches at any depth, including the top", () => {
    matches(["**/__pycache__"], ["__pycache__", "x/__pycache__", "x/y/__pycache__"], ["x/__pycache__2"]);
  });

  test("a leading / anchors a name at the top", () => {
    matches(["/top"], ["top"], ["a/top", "topx"]);
  });

  test("a trailing / is ignored", () => {
    matches(["cache/"], ["cache", "a/cache"], ["cachex"]);
    matches(["/only/"], ["only"], ["a/only"]);
  });

  test("a leading ./ is dropped", () => {
    matches(["./dist"], ["dist"], ["distx"]);
  });

  test("dotfiles match * patterns", () => {
    matches(["*"], [".env", "a/.hidden"], []);
    matches([".env*"], [".env", ".env.local", "a/.env.prod"], ["env"]);
    matches(["a/*"], ["a/.secret"], ["b/.secret"]);
  });

  test("the default excludes", () => {
    matches(
      DEFAULT_EXCLUDE,
      [".git", "sub/.git", "__pycache__", "a/__pycache__", "m.pyc", "x/m.pyc", "node_modules", ".slipway"],
      ["app.py", ".github", ".gitignore", "slipway.toml"],
    );
  });

  test("a pattern does not match the contents of a matched dir by itself (the walk skips them)", () => {
    const m = excludeMatcher([".git"]);
    assert.equal(m(".git"), true);
    assert.equal(m(".git/config"), false);
  });
});

describe("byteOrder", () => {
  test("compares by UTF-8 bytes, not locale", () => {
    const names = ["b", "a", "B", "_", "a-b", "a.b", "é", "z", "A"];
    assert.deepEqual([...names].sort(byteOrder), ["A", "B", "_", "a", "a-b", "a.b", "b", "z", "é"]);
  });
});

describe("walkTree", () => {
  let root: string;
  before(async () => {
    root = await mkdtemp(path.join(tmpdir(), "slipway-tree-"));
  });
  after(async () => {
    await rm(root, { recursive: true, force: true });
  });

  async function tree(files: string[]): Promise<string> {
    const dir = await mkdtemp(path.join(root, "t-"));
    for (const rel of files) {
      const abs = path.join(dir, rel);
      if (rel.endsWith("/")) await mkdir(abs, { recursive: true });
      else {
        await mkdir(path.dirname(abs), { recursive: true });
        await writeFile(abs, rel);
      }
    }
    return dir;
  }

  const none = () => false;

  test("byte order, depth-first, parents before children", async () => {
    const dir = await tree(["b.txt", "a/z.txt", "a/b/c.txt", "B.txt", "a-b", "a.txt", "_x"]);
    const entries = await walkTree(dir, none);
    assert.deepEqual(
      entries.map((e) => e.rel),
      ["B.txt", "_x", "a", "a/b", "a/b/c.txt", "a/z.txt", "a-b", "a.txt", "b.txt"],
    );
  });

  test("entries carry type, mode and size", async () => {
    const dir = await tree(["d/", "f.sh"]);
    await chmod(path.join(dir, "f.sh"), 0o750);
    const entries = await walkTree(dir, none);
    assert.deepEqual(
      entries.find((e) => e.rel === "f.sh"),
      { rel: "f.sh", type: "file", mode: 0o750, size: 4 },
    );
    const d = entries.find((e) => e.rel === "d")!;
    assert.equal(d.type, "directory");
    assert.equal(d.size, 0);
  });

  test("the same tree walks the same every time", async () => {
    const dir = await tree(["c/1", "b/2", "a/3", "c/0"]);
    assert.deepEqual(await walkTree(dir, none), await walkTree(dir, none));
  });

  test("an excluded dir is skipped with everything under it", async () => {
    const dir = await tree(["app.py", ".git/config", ".git/objects/ab", "pkg/__pycache__/m.pyc", "pkg/m.py", "pkg/x.pyc"]);
    const rels = (await walkTree(dir, excludeMatcher(DEFAULT_EXCLUDE))).map((e) => e.rel);
    assert.deepEqual(rels, ["app.py", "pkg", "pkg/m.py"]);
  });

  test("the matcher sees paths relative to the walked dir", async () => {
    const dir = await tree(["docs/build/x", "src/docs/build/y"]);
    const rels = (await walkTree(dir, excludeMatcher(["docs/build"]))).map((e) => e.rel);
    assert.deepEqual(rels, ["docs", "src", "src/docs", "src/docs/build", "src/docs/build/y"]);
  });

  test("symlinks are entries with their target, and are not followed", async () => {
    const dir = await tree(["real/file"]);
    await symlink("real", path.join(dir, "link"));
    await symlink("/etc/passwd", path.join(dir, "abs"));
    const entries = await walkTree(dir, none);
    assert.deepEqual(
      entries.map((e) => [e.rel, e.type, e.linkname]),
      [
        ["abs", "symlink", "/etc/passwd"],
        ["link", "symlink", "real"],
        ["real", "directory", undefined],
        ["real/file", "file", undefined],
      ],
    );
  });

  test("FIFOs are skipped", { skip: spawnSync("mkfifo", ["--version"]).error ? "no mkfifo" : false }, async () => {
    const dir = await tree(["a", "z"]);
    const r = spawnSync("mkfifo", [path.join(dir, "m-fifo")]);
    assert.equal(r.status, 0, String(r.stderr));
    assert.deepEqual(
      (await walkTree(dir, none)).map((e) => e.rel),
      ["a", "z"],
    );
  });

  test("unix sockets are skipped", async () => {
    const dir = await tree(["a"]);
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(path.join(dir, "s.sock"), resolve));
    try {
      assert.deepEqual(
        (await walkTree(dir, none)).map((e) => e.rel),
        ["a"],
      );
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  test("start: walks only that subtree, with rel paths from the top", async () => {
    const dir = await tree(["a/b/c", "a/d", "e"]);
    assert.deepEqual(
      (await walkTree(dir, none, "a")).map((e) => e.rel),
      ["a", "a/b", "a/b/c", "a/d"],
    );
    assert.deepEqual(
      (await walkTree(dir, none, "a/b/c")).map((e) => e.rel),
      ["a/b/c"],
    );
  });

  test("start that is itself excluded gives nothing", async () => {
    const dir = await tree(["node_modules/x", "y"]);
    assert.deepEqual(await walkTree(dir, excludeMatcher(["node_modules"]), "node_modules"), []);
  });

  test("an empty dir gives nothing", async () => {
    const dir = await tree([]);
    assert.deepEqual(await walkTree(dir, none), []);
  });
});

describe("linkStaysInside", () => {
  const cases: [string, string, boolean][] = [
    ["a/b", "c", true],
    ["a/b", "../c", true],
    ["a/b", "..", true],
    ["a", ".", true],
    ["a/b/c", "../../x", true],
    ["a", "..foo", true],
    ["a", "b/../c", true],
    ["a", "..", false],
    ["a", "../x", false],
    ["a/b", "../../c", false],
    ["a", "b/../../x", false],
    ["a/b/c", "../../../x", false],
    ["a", "/etc/passwd", false],
    ["a", "/", false],
  ];
  for (const [rel, link, inside] of cases) {
    test(`${rel} -> ${link}: ${inside ? "inside" : "outside"}`, () => {
      assert.equal(linkStaysInside(rel, link), inside);
    });
  }
});
