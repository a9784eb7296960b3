import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { chmod, mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { collectInputs, referencesOf, requirementLines, type KeyInput } from "../../src/build/requirements.js";
import { ConfigError } from "../../src/errors.js";
import { sha256 } from "../../src/util/hash.js";

describe("requirementLines", () => {
  test("drops comments and blank lines, trims", () => {
    assert.deepEqual(requirementLines("# header\n\n  django>=4  # pinned later\n\t\nflask\n#last"), ["django>=4", "flask"]);
  });

  test("keeps a # that is not preceded by whitespace (URL fragments, hashes)", () => {
    assert.deepEqual(requirementLines("pkg @ https://x/p.whl#sha256=abc\n"), ["pkg @ https://x/p.whl#sha256=abc"]);
  });

  test("joins backslash continuations (LF and CRLF)", () => {
    assert.deepEqual(requirementLines("requests \\\n  [security]\nb\n"), ["requests   [security]", "b"]);
    assert.deepEqual(requirementLines("a\r\nb \\\r\n c\r\n"), ["a", "b  c"]);
  });

  test("a continued option line becomes one logical line", () => {
    assert.deepEqual(requirementLines("-r \\\nbase.txt\n"), ["-r base.txt"]);
    assert.deepEqual(referencesOf("-r \\\nbase.txt\n").includes, ["base.txt"]);
  });

  test("empty text has no lines", () => {
    assert.deepEqual(requirementLines(""), []);
    assert.deepEqual(requirementLines("\n\n# only a comment\n"), []);
  });
});

describe("referencesOf", () => {
  const includes = (text: string) => referencesOf(text).includes;
  const locals = (text: string) => referencesOf(text).localPaths;

  test("-r, --requirement, --requirement=x, -rfile", () => {
    assert.deepEqual(includes("-r base.txt\n--requirement dev.txt\n--requirement=x.txt\n-rfile.txt\n-r   spaced.txt\n--requirement\ttab.txt\n"), [
      "base.txt",
      "dev.txt",
      "x.txt",
      "file.txt",
      "spaced.txt",
      "tab.txt",
    ]);
  });

  test("-c and --constraint are includes too", () => {
    assert.deepEqual(includes("-c constraints.txt\n--constraint=c2.txt\n--constraint c3.txt\n-cc4.txt\n"), ["constraints.txt", "c2.txt", "c3.txt", "c4.txt"]);
  });

  test("an include keeps its relative directory part", () => {
    assert.deepEqual(includes("-r ../common/base.txt\n-c sub/c.txt\n"), ["../common/base.txt", "sub/c.txt"]);
  });

  test("a commented-out include is ignored", () => {
    assert.deepEqual(referencesOf("# -r base.txt\n  # -e ./pkg\n"), { includes: [], localPaths: [] });
  });

  test("-e / --editable with a local path", () => {
    assert.deepEqual(locals("-e ./pkg\n--editable ../other\n--editable=./third\n"), ["./pkg", "../other", "./third"]);
  });

  test("-e with a VCS URL is not a local path", () => {
    assert.deepEqual(locals("-e git+https://github.com/x/y#egg=y\n"), []);
  });

  test("name @ file:///abs, with and without spaces and extras", () => {
    assert.deepEqual(locals("mypkg @ file:///abs/path/pkg\nother[extra] @ file:///abs/other.whl\nname@file:///n\n"), ["/abs/path/pkg", "/abs/other.whl", "/n"]);
  });

  test("file: URLs are percent-decoded", () => {
    assert.deepEqual(locals("p @ file:///abs/my%20pkg\n"), ["/abs/my pkg"]);
  });

  test("./local dirs, ../x, /abs, file:./rel", () => {
    assert.deepEqual(locals("./local\n../x\n/abs/thing\nfile:./rel\nfile:///abs/f\n"), ["./local", "../x", "/abs/thing", "./rel", "/abs/f"]);
  });

  test("extras and environment markers are stripped from local paths", () => {
    assert.deepEqual(locals("./localx[extra]\n./dir; python_version>'3'\n-e ./pkg[dev]\n"), ["./localx", "./dir", "./pkg"]);
  });

  test("plain names and specifiers are ignored", () => {
    assert.deepEqual(referencesOf("django>=4\nflask==3.0\nnumpy; python_version<'3.9'\nrequests[security]\n"), { includes: [], localPaths: [] });
  });

  test("URLs and index options are ignored", () => {
    assert.deepEqual(
      referencesOf("https://example.com/x.whl\npkg @ https://example.com/p.whl\n-i https://pypi.org/simple\n--index-url=https://x\n--find-links https://y\n"),
      { includes: [], localPaths: [] },
    );
  });

  test("includes and local paths are told apart", () => {
    assert.deepEqual(referencesOf("-r base.txt\n-e ./pkg\ndjango\n"), { includes: ["base.txt"], localPaths: ["./pkg"] });
  });
});

describe("collectInputs", () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), "slipway-req-"));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  /** A fresh app dir with these files (content by relative path). */
  async function app(files: Record<string, string>): Promise<string> {
    const root = await mkdtemp(path.join(dir, "app-"));
    for (const [rel, content] of Object.entries(files)) {
      await mkdir(path.dirname(path.join(root, rel)), { recursive: true });
      await writeFile(path.join(root, rel), content);
    }
    return root;
  }

  const paths = (inputs: KeyInput[]) => inputs.map((i) => i.path);

  test("a single file: its path and the sha256 of its bytes", async () => {
    const root = await app({ "requirements.txt": "django\n" });
    assert.deepEqual(await collectInputs(root, ["requirements.txt"], "slipway.toml"), [{ path: "requirements.txt", sha256: sha256("django\n") }]);
  });

  test("follows nested -r and -c relative to the including file", async () => {
    const root = await app({
      "requirements.txt": "-r reqs/base.txt\n",
      "reqs/base.txt": "-r sub/inner.txt\n-c ../constraints.txt\ndjango\n",
      "reqs/sub/inner.txt": "flask\n",
      "constraints.txt": "django<5\n",
      // Same names relative to the app dir: must NOT be what is followed.
      "sub/inner.txt": "wrong\n",
    });
    const inputs = await collectInputs(root, ["requirements.txt"], "slipway.toml");
    assert.deepEqual(paths(inputs), ["constraints.txt", "reqs/base.txt", "reqs/sub/inner.txt", "requirements.txt"]);
    assert.equal(inputs.find((i) => i.path === "reqs/sub/inner.txt")!.sha256, sha256("flask\n"));
  });

  test("output is sorted by path, whatever the discovery order", async () => {
    const root = await app({ "z.txt": "-r m.txt\n-r a.txt\n", "m.txt": "x\n", "a.txt": "y\n" });
    const inputs = await collectInputs(root, ["z.txt"], "slipway.toml");
    assert.deepEqual(paths(inputs), ["a.txt", "m.txt", "z.txt"]);
    const again = await collectInputs(root, ["z.txt"], "slipway.toml");
    assert.deepEqual(again, inputs);
  });

  test("the order of build.requirements does not change the result", async () => {
    const root = await app({ "a.txt": "x\n", "b.txt": "y\n" });
    assert.deepEqual(await collectInputs(root, ["b.txt", "a.txt"], "s"), await collectInputs(root, ["a.txt", "b.txt"], "s"));
  });

  test("a file named twice is listed once", async () => {
    const root = await app({ "requirements.txt": "-r base.txt\n", "dev.txt": "-r base.txt\n", "base.txt": "x\n" });
    const inputs = await collectInputs(root, ["requirements.txt", "dev.txt", "./requirements.txt"], "s");
    assert.deepEqual(paths(inputs), ["base.txt", "dev.txt", "requirements.txt"]);
  });

  test("no infinite loop on -r cycles (including a file that includes itself)", async () => {
    const root = await app({ "a.txt": "-r b.txt\n-r a.txt\n", "b.txt": "-r a.txt\n" });
    const inputs = await collectInputs(root, ["a.txt"], "s");
    assert.deepEqual(paths(inputs), ["a.txt", "b.txt"]);
  });

  test("a missing configured file: the error names it and build.requirements", async () => {
    const root = await app({});
    await assert.rejects(collectInputs(root, ["nope.txt"], "/app/slipway.toml"), (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.equal(err.exitCode, 2);
      assert.equal(err.problems.length, 1);
      assert.equal(err.problems[0]!.file, "/app/slipway.toml");
      assert.equal(err.problems[0]!.path, "build.requirements");
      assert.equal(err.problems[0]!.message, "nope.txt (named by build.requirements) does not exist");
      assert.match(err.hint ?? "", /fix the path/);
      return true;
    });
  });

  test("a missing included file: the error names it and the file that named it", async () => {
    const root = await app({ "requirements.txt": "-r reqs/base.txt\n", "reqs/base.txt": "-c gone.txt\n" });
    await assert.rejects(collectInputs(root, ["requirements.txt"], "slipway.toml"), (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.match(err.message, /reqs\/gone\.txt \(named by reqs\/base\.txt\) does not exist/);
      return true;
    });
  });

  test("lock files and pyproject.toml are hashed but not parsed as requirements", async () => {
    const root = await app({ "pyproject.toml": '[project]\nname = "x"\n# -r missing.txt\n', "uv.lock": "-r also-missing.txt\n" });
    const inputs = await collectInputs(root, ["pyproject.toml", "uv.lock"], "s");
    assert.deepEqual(paths(inputs), ["pyproject.toml", "uv.lock"]);
  });

  test("an input outside the app dir is listed by its absolute path", async () => {
    const shared = await app({ "common.txt": "x\n" });
    const root = await app({ "requirements.txt": `-r ${path.join(shared, "common.txt")}\n` });
    const inputs = await collectInputs(root, ["requirements.txt"], "s");
    assert.deepEqual(paths(inputs), [path.join(shared, "common.txt"), "requirements.txt"].sort());
    assert.ok(path.isAbsolute(inputs.find((i) => i.path.endsWith("common.txt"))!.path));
  });

  describe("local packages", () => {
    async function pkgApp(): Promise<string> {
      return app({
        "requirements.txt": "-e ./pkg\n",
        "pkg/setup.py": "setup()\n",
        "pkg/src/mod.py": "x = 1\n",
      });
    }
    const pkgHash = async (root: string) => {
      const inputs = await collectInputs(root, ["requirements.txt"], "s");
      const pkg = inputs.find((i) => i.path.replace(/\/$/, "") === "pkg");
      assert.ok(pkg, `no pkg input in ${JSON.stringify(paths(inputs))}`);
      assert.match(pkg.sha256, /^[0-9a-f]{64}$/);
      return pkg.sha256;
    };

    test("a local package dir is an input, hashed over its content", async () => {
      const root = await pkgApp();
      const before = await pkgHash(root);
      assert.equal(await pkgHash(root), before, "stable");
      await writeFile(path.join(root, "pkg/src/mod.py"), "x = 2\n");
      assert.notEqual(await pkgHash(root), before, "a source change changes the hash");
    });

    test("adding a file, or an exec bit, changes the hash", async () => {
      const root = await pkgApp();
      const h0 = await pkgHash(root);
      await writeFile(path.join(root, "pkg/src/new.py"), "");
      const h1 = await pkgHash(root);
      assert.notEqual(h1, h0);
      await chmod(path.join(root, "pkg/setup.py"), 0o755);
      assert.notEqual(await pkgHash(root), h1);
    });

    test("renaming a file changes the hash (paths are part of it)", async () => {
      const a = await app({ "requirements.txt": "./pkg\n", "pkg/a.py": "same\n" });
      const b = await app({ "requirements.txt": "./pkg\n", "pkg/b.py": "same\n" });
      const hash = async (root: string) => (await collectInputs(root, ["requirements.txt"], "s")).find((i) => i.path.startsWith("pkg"))!.sha256;
      assert.notEqual(await hash(a), await hash(b));
    });

    test("build/, dist/, *.egg-info, __pycache__ and *.pyc in the package are ignored", async () => {
      const root = await pkgApp();
      const before = await pkgHash(root);
      for (const [rel, content] of [
        ["pkg/build/lib/mod.py", "x"],
        ["pkg/dist/pkg-1.0.tar.gz", "x"],
        ["pkg/pkg.egg-info/PKG-INFO", "x"],
        ["pkg/src/__pycache__/mod.cpython-311.pyc", "x"],
        ["pkg/src/stray.pyc", "x"],
        ["pkg/.git/HEAD", "x"],
      ] as const) {
        await mkdir(path.dirname(path.join(root, rel)), { recursive: true });
        await writeFile(path.join(root, rel), content);
      }
      assert.equal(await pkgHash(root), before);
    });

    test("a package named in a nested file is resolved from the app dir (where pip runs)", async () => {
      const root = await app({
        "requirements.txt": "-r reqs/base.txt\n",
        "reqs/base.txt": "-e ./pkg\n",
        "pkg/setup.py": "setup()\n",
      });
      const inputs = await collectInputs(root, ["requirements.txt"], "s");
      assert.ok(
        paths(inputs).some((p) => p.replace(/\/$/, "") === "pkg"),
        JSON.stringify(paths(inputs)),
      );
    });

    test("a local file (wheel) is hashed as a file", async () => {
      const root = await app({ "requirements.txt": "./wheels/x-1.0-py3-none-any.whl\n", "wheels/x-1.0-py3-none-any.whl": "WHEEL" });
      const inputs = await collectInputs(root, ["requirements.txt"], "s");
      assert.deepEqual(
        inputs.find((i) => i.path === "wheels/x-1.0-py3-none-any.whl"),
        {
          path: "wheels/x-1.0-py3-none-any.whl",
          sha256: sha256("WHEEL"),
        },
      );
    });

    test("a file:// URL to an absolute package dir", async () => {
      const pkgRoot = await app({ "setup.py": "setup()\n" });
      const root = await app({ "requirements.txt": `mypkg @ file://${pkgRoot}\n` });
      const inputs = await collectInputs(root, ["requirements.txt"], "s");
      assert.equal(inputs.length, 2);
      assert.ok(
        paths(inputs).some((p) => p.replace(/\/$/, "") === pkgRoot),
        JSON.stringify(paths(inputs)),
      );
    });

    test("a local path that does not exist is left to pip (not an input, no error)", async () => {
      const root = await app({ "requirements.txt": "./not-there\n" });
      assert.deepEqual(paths(await collectInputs(root, ["requirements.txt"], "s")), ["requirements.txt"]);
    });

    test("directory inputs end in / (as KeyInput documents)", async () => {
      const root = await pkgApp();
      assert.ok(paths(await collectInputs(root, ["requirements.txt"], "s")).includes("pkg/"));
    });

    test("a local package that is a symlink to a directory is hashed as that directory", async () => {
      const root = await pkgApp();
      await symlink(path.join(root, "pkg"), path.join(root, "pkglink"));
      await writeFile(path.join(root, "requirements.txt"), "-e ./pkglink\n");
      const inputs = await collectInputs(root, ["requirements.txt"], "s");
      assert.ok(paths(inputs).some((p) => p.startsWith("pkglink")));
    });
  });
});
