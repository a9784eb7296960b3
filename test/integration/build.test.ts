import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { appendFile, mkdir, readdir, readFile, rm, writeFile, stat, rename } from "node:fs/promises";
import path from "node:path";
import { buildWith, exampleWorkspace } from "../support/build-app.js";
import { PYTHON } from "../support/env.js";
import { snapshotTree } from "../support/snapshot.js";
import { CommandFailedError } from "../../src/errors.js";

const sh = (cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}) => execFileSync(cmd, args, { encoding: "utf8", ...opts });

test("build: the artifact and each layer open with plain tar; a host unpacked at root runs the app and its C extension", async () => {
  const ws = await exampleWorkspace();
  const before = await snapshotTree(ws.app);
  const { result } = await buildWith(ws, "b1");
  assert.deepEqual(await snapshotTree(ws.app, ["dist"]), before, "the user's tree is untouched (only dist/ appears)");

  assert.equal(path.basename(result.artifact), "hello-b1.tar");
  assert.equal(sh("tar", ["-tf", result.artifact]).trim().split("\n").join(","), "slipway.json,code.tar.zst,venv.tar.zst");
  assert.match(sh("sha256sum", ["-c", `${path.basename(result.artifact)}.sha256`], { cwd: path.dirname(result.artifact) }), /OK/);

  const out = path.join(ws.dir, "unpacked");
  await mkdir(out);
  sh("tar", ["-xf", result.artifact, "-C", out]);
  const manifest = JSON.parse(await readFile(path.join(out, "slipway.json"), "utf8"));
  assert.equal(manifest.format, 1);
  assert.equal(manifest.env.key, result.venv.key);

  // Play a fresh host: the build machine's venv goes away, the layers are unpacked at <root>.
  await rename(result.venv.path, `${result.venv.path}.away`);
  await mkdir(result.venv.path, { recursive: true });
  sh("tar", ["-xf", path.join(out, "venv.tar.zst"), "-C", result.venv.path]);
  const release = path.join(ws.root, "releases", "b1");
  await mkdir(release, { recursive: true });
  sh("tar", ["-xf", path.join(out, "code.tar.zst"), "-C", release]);
  await writeFile(path.join(release, "slipway.json"), JSON.stringify(manifest));
  const py = path.join(result.venv.path, "bin", "python");
  const probe = [
    "import fastcount, json, hello.app as a",
    "env = {'REQUEST_METHOD': 'GET', 'PATH_INFO': '/health', 'wsgi.input': None}",
    "out = {}",
    "body = b''.join(a.application(env, lambda s, h: out.update(status=s)))",
    "print(json.dumps({'status': out['status'], 'body': json.loads(body), 'so': fastcount._speedups.__file__}))",
  ].join("\n");
  const ran = JSON.parse(sh(py, ["-c", probe], { cwd: release }));
  assert.equal(ran.status, "200 OK");
  assert.equal(ran.body.build_id, "b1");
  assert.equal(ran.body.fastcount, 2);
  assert.ok(ran.so.startsWith(result.venv.path + "/"), `C extension loaded from the venv at its final path: ${ran.so}`);
  // Console scripts carry the venv's absolute path, which is why it is built where it runs.
  assert.ok((await readFile(path.join(result.venv.path, "bin", "pip"), "utf8")).startsWith(`#!${result.venv.path}/bin/python`));

  // Minified in the artifact, untouched in the user's tree.
  const js = sh("tar", ["-xOf", path.join(out, "code.tar.zst"), "static/js/app.js"]);
  const original = await readFile(path.join(ws.app, "static/js/app.js"), "utf8");
  assert.ok(js.length < original.length * 0.8, `minified ${original.length} → ${js.length}`);
  assert.ok(!sh("tar", ["-tf", path.join(out, "code.tar.zst")]).includes("__pycache__"));
});

test("build: the venv's .pyc files are hash-based: unpacked on a host (mtimes 0), Python imports them without compiling again", async () => {
  const ws = await exampleWorkspace();
  const { result } = await buildWith(ws, "b1");
  const out = path.join(ws.dir, "unpacked");
  await mkdir(out);
  sh("tar", ["-xf", result.artifact, "-C", out]);
  await rename(result.venv.path, `${result.venv.path}.away`);
  await mkdir(result.venv.path, { recursive: true });
  sh("tar", ["-xf", path.join(out, "venv.tar.zst"), "-C", result.venv.path]);
  const site = sh(path.join(result.venv.path, "bin", "python"), ["-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).trim();
  assert.equal((await stat(path.join(site, "fastcount", "__init__.py"))).mtimeMs, 0, "the layer's mtimes are 0");
  // -v names each module's source of code: "code object from <pyc>", after "bytecode is stale" when it compiles again.
  const r = spawnSync(path.join(result.venv.path, "bin", "python"), ["-v", "-c", "import fastcount, pip._internal.cli.main"], {
    encoding: "utf8",
    env: { ...ws.env, PYTHONDONTWRITEBYTECODE: "1" },
  });
  assert.equal(r.status, 0, r.stderr.slice(-2000));
  const fromVenv = r.stderr.split("\n").filter((l) => l.startsWith("# code object from") && l.includes(site));
  assert.ok(fromVenv.length > 50, `modules loaded from the venv's .pyc files: ${fromVenv.length}`);
  assert.deepEqual(
    r.stderr.split("\n").filter((l) => /bytecode is stale/.test(l)),
    [],
  );
});

test("build: warm build reuses venv and layer; a code change keeps the key and the venv layer bytes", async () => {
  const ws = await exampleWorkspace();
  const first = await buildWith(ws, "c1");
  assert.equal(first.result.venv.cache, "miss");
  assert.equal(first.result.venv_layer_cache, "miss");
  const marker = await stat(path.join(first.result.venv.path, ".slipway-complete"));

  await appendFile(path.join(ws.app, "hello/app.py"), "\n# a code-only change\n");
  const second = await buildWith(ws, "c2");
  assert.equal(second.result.venv.key, first.result.venv.key);
  assert.equal(second.result.venv.cache, "hit");
  assert.equal(second.result.venv_layer_cache, "hit");
  assert.equal(second.result.layers.venv.sha256, first.result.layers.venv.sha256);
  assert.notEqual(second.result.layers.code.sha256, first.result.layers.code.sha256);
  assert.equal((await stat(path.join(second.result.venv.path, ".slipway-complete"))).mtimeMs, marker.mtimeMs, "venv not rebuilt");
  assert.ok(!second.events.some((e) => e.type === "output" && e.phase === "venv"), "pip did not run");

  // Same tree, same build → identical code layer (reproducible), even with another build id.
  const third = await buildWith(ws, "c3");
  assert.equal(third.result.layers.code.sha256, second.result.layers.code.sha256);
});

test("build: an incomplete venv (a build that died) is rebuilt; a lost venv is restored from the cached layer", async () => {
  const ws = await exampleWorkspace();
  const first = await buildWith(ws, "d1");
  const venv = first.result.venv.path;
  await rm(path.join(venv, ".slipway-complete"));
  await writeFile(path.join(venv, "half-written"), "junk");
  const second = await buildWith(ws, "d2");
  assert.equal(second.result.venv.cache, "restored", "rebuilt from the cached layer, without pip");
  assert.ok(!existsSync(path.join(venv, "half-written")), "the incomplete venv was replaced");
  assert.ok(existsSync(path.join(venv, ".slipway-complete")));

  await rm(path.join(venv, ".slipway-complete"));
  await rm(ws.cache, { recursive: true });
  const rebuilt = await buildWith(ws, "d2b");
  assert.equal(rebuilt.result.venv.cache, "miss", "no cache: pip builds it again");
  assert.equal(rebuilt.result.venv_layer_cache, "miss");

  await rm(venv, { recursive: true });
  const third = await buildWith(ws, "d3");
  assert.equal(third.result.venv.cache, "restored");
  assert.match(sh(path.join(venv, "bin", "python"), ["-c", "import fastcount; print(fastcount.count(b'aXbX', b'X'))"]), /^2/);
});

test("build: two concurrent builds of one key both succeed with one venv built once", async () => {
  const ws = await exampleWorkspace();
  const [a, b] = await Promise.all([buildWith(ws, "e1"), buildWith(ws, "e2")]);
  assert.equal(a.result.venv.key, b.result.venv.key);
  const caches = [a.result.venv.cache, b.result.venv.cache].sort();
  assert.deepEqual(caches, ["hit", "miss"], "exactly one of them built the venv");
  assert.deepEqual(await readdir(path.join(ws.root, "virtualenvs")).then((n) => n.filter((x) => !x.startsWith("."))), [a.result.venv.key]);
  for (const r of [a, b]) sh("tar", ["-tf", r.result.artifact]);
});

test("build: a failing step stops the build with its output and exit code, and writes no artifact", async () => {
  const ws = await exampleWorkspace();
  const config = path.join(ws.app, "slipway.toml");
  const text = await readFile(config, "utf8");
  await writeFile(config, text.replace(/^steps\s*=.*$/m, 'steps = ["echo compiling assets", "echo boom >&2; exit 7"]'));
  await assert.rejects(buildWith(ws, "f1"), (err: unknown) => {
    assert.ok(err instanceof CommandFailedError);
    assert.equal(err.code, 7);
    assert.match(err.message, /build step 2/);
    assert.match(err.message, /boom/);
    return true;
  });
  assert.ok(!existsSync(path.join(ws.app, "dist", "hello-f1.tar")));
  assert.deepEqual(
    (await readdir(path.join(ws.app, "dist")).catch(() => [])).filter((n) => n.includes("f1")),
    [],
  );
});

test("build: a pip error names pip and the missing package, leaves no venv marked complete and no artifact", async () => {
  const ws = await exampleWorkspace();
  await appendFile(path.join(ws.app, "requirements.txt"), "\nno-such-package-slipway==9.9\n");
  await assert.rejects(buildWith(ws, "g1"), (err: unknown) => {
    assert.ok(err instanceof CommandFailedError);
    assert.match(err.message, /pip install failed/);
    assert.match(err.message, /no-such-package-slipway/);
    return true;
  });
  const venvs = await readdir(path.join(ws.root, "virtualenvs")).catch(() => []);
  assert.deepEqual(
    venvs.filter((n) => !n.startsWith(".")),
    [],
    "the failed venv was removed",
  );
  assert.ok(!existsSync(path.join(ws.app, "dist", "hello-g1.tar")));
});

test("build: the venv key changes with each input and with nothing else", async () => {
  const { computeEnvKey } = await import("../../src/build/env-key.js");
  const { loadConfig } = await import("../../src/config/load.js");
  const ws = await exampleWorkspace();
  const keyOf = async (edit?: (config: string) => string) => {
    const file = path.join(ws.app, "slipway.toml");
    const original = await readFile(file, "utf8");
    if (edit) await writeFile(file, edit(original));
    try {
      const { config, appDir, file: f } = await loadConfig({ cwd: ws.app });
      return (await computeEnvKey(config, appDir, f, ws.env)).key;
    } finally {
      await writeFile(file, original);
    }
  };
  const base = await keyOf();
  assert.equal(await keyOf(), base, "stable");
  await appendFile(path.join(ws.app, "hello/app.py"), "\n# comment\n");
  await appendFile(path.join(ws.app, "static/css/site.css"), "\n/* comment */\n");
  assert.equal(await keyOf(), base, "app source does not change the key");

  const seen = new Set([base]);
  const changed = async (what: string, key: string) => {
    assert.ok(!seen.has(key), `${what} changes the key`);
    seen.add(key);
  };
  await changed("root", await keyOf((c) => c.replace(/^root\s*=.*$/m, `root = "${ws.root}2"`)));
  await changed("pip_args", await keyOf((c) => c.replace(/^pip_args\s*=\s*\[/m, 'pip_args = ["--no-compile", ')));
  const pyenv = "/root/.pyenv/versions/3.11.7/bin/python3.11";
  if (existsSync(pyenv)) await changed("interpreter", await keyOf((c) => c.replace(/^python\s*=.*$/m, `python = "${pyenv}"`)));
  await changed("configured python path", await keyOf((c) => c.replace(/^python\s*=.*$/m, `python = "/usr/bin/python3.11"`)));

  const req = path.join(ws.app, "requirements.txt");
  await appendFile(req, "\n-r extra.txt\n");
  await writeFile(path.join(ws.app, "extra.txt"), "slipfix==1.0.0\n");
  await changed("an -r include", await keyOf());
  await writeFile(path.join(ws.app, "extra.txt"), "slipfix==1.1.0\n");
  await changed("the included file's content", await keyOf());
  await appendFile(path.join(ws.app, "vendor/fastcount/src/fastcount/_speedups.c"), "\n/* changed */\n");
  await changed("a local package's source", await keyOf());
  assert.equal(PYTHON, "/usr/bin/python3");
});
