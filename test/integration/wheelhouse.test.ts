// The offline test fixtures work: the wheelhouse installs with pip, gunicorn
// runs, the example app builds its C extension and serves, big wheels are
// deterministic. Everything here is offline.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readdir, readFile } from "node:fs/promises";
import { createServer } from "node:net";
import { join, resolve } from "node:path";
import { before, test } from "node:test";
import { execText, PYTHON, pythonEnv } from "../support/env.js";
import { copyExampleApp, tmpDir } from "../support/tmp.js";
import { ensureWheelhouse, makeBigWheels } from "../support/wheelhouse.js";

const SUPPORT = resolve(import.meta.dirname, "..", "support");

const sh = execText;

// Checks every wheel's RECORD: each member listed once with the right sha256 and size.
const CHECK_RECORDS = `
import base64, hashlib, json, sys, zipfile
out = {}
for path in sys.argv[1:]:
    z = zipfile.ZipFile(path)
    record = next(n for n in z.namelist() if n.endswith(".dist-info/RECORD"))
    rows = [l.split(",") for l in z.read(record).decode().splitlines() if l]
    listed = {r[0] for r in rows}
    assert listed == set(z.namelist()), (path, set(z.namelist()) ^ listed)
    for name, digest, size in rows:
        if name == record: continue
        data = z.read(name)
        want = "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        assert digest == want and int(size) == len(data), (path, name)
    meta = z.read(record.replace("RECORD", "METADATA")).decode()
    ep = record.replace("RECORD", "entry_points.txt")
    out[path.rsplit("/", 1)[-1]] = {"metadata": meta.split("\\n\\n")[0],
        "entry_points": z.read(ep).decode() if ep in z.namelist() else ""}
print(json.dumps(out))
`;

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
  const { port } = server.address() as { port: number };
  await new Promise((ok) => server.close(ok));
  return port;
}

let venv = "";
before(async () => {
  venv = join(await tmpDir("slipway-wh-venv"), "venv");
  await sh(PYTHON, ["-m", "venv", venv]);
});

test("ensureWheelhouse builds the expected, valid wheels and caches them", async () => {
  const dir = await ensureWheelhouse();
  const files = (await readdir(dir)).sort();
  for (const pattern of [
    /^pip-[\d.]+-py3-none-any\.whl$/,
    /^setuptools-[\d.]+-py3-none-any\.whl$/,
    /^wheel-[\d.]+-py3-none-any\.whl$/,
    /^gunicorn-[\d.]+-py3-none-any\.whl$/,
  ]) {
    assert.ok(
      files.some((f) => pattern.test(f)),
      `${pattern} in ${files.join(", ")}`,
    );
  }
  assert.ok(files.includes("slipfix-1.0.0-py3-none-any.whl"));
  assert.ok(files.includes("slipfix-1.1.0-py3-none-any.whl"));

  const ours = files.filter((f) => /^(gunicorn|slipfix)-/.test(f)).map((f) => join(dir, f));
  const info = JSON.parse(await sh(PYTHON, ["-c", CHECK_RECORDS, ...ours])) as Record<string, { metadata: string; entry_points: string }>;
  const gunicorn = Object.entries(info).find(([f]) => f.startsWith("gunicorn-"))![1];
  assert.match(gunicorn.metadata, /^Requires-Dist: setuptools$/m);
  assert.match(gunicorn.entry_points, /^gunicorn = gunicorn\.app\.wsgiapp:run$/m);

  const started = Date.now();
  assert.equal(await ensureWheelhouse(), dir);
  assert.ok(Date.now() - started < 1000, "second call is served from the cache");
});

test("concurrent first builds in separate processes agree on one complete directory", async () => {
  const cache = await tmpDir("slipway-wh-cache");
  const script = `import(${JSON.stringify(join(SUPPORT, "wheelhouse.ts"))})` + ".then((m) => m.ensureWheelhouse()).then((d) => console.log(d))";
  const env = { ...process.env, SLIPWAY_FIXTURE_CACHE: cache };
  const dirs = await Promise.all(
    [1, 2, 3].map(() => sh(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], { env }).then((s) => s.trim())),
  );
  assert.equal(new Set(dirs).size, 1, dirs.join(" "));
  assert.deepEqual(await readdir(cache), [dirs[0]!.slice(cache.length + 1)], "no temp dirs left behind");
  assert.equal((await readdir(dirs[0]!)).length, 6);
});

test("gunicorn and slipfix install offline into a fresh venv", async () => {
  const wheels = await ensureWheelhouse();
  await sh(join(venv, "bin", "pip"), ["install", "--no-index", "--find-links", wheels, "gunicorn", "slipfix==1.1.0"]);
  assert.match(await sh(join(venv, "bin", "gunicorn"), ["--version"]), /gunicorn \(version [\d.]+\)/);
  const out = await sh(join(venv, "bin", "python"), ["-c", "import slipfix, gunicorn.util; print(slipfix.__version__, slipfix.greeting())"]);
  assert.match(out, /^1\.1\.0 hello from slipfix 1\.1\.0/);
});

test("the example app installs from the wheelhouse, builds fastcount and serves under gunicorn", async () => {
  const wheels = await ensureWheelhouse();
  const app = await copyExampleApp("hello", join(await tmpDir("slipway-wh-app"), "hello"), {
    root: "/srv/elsewhere",
    pipArgs: ["--no-index", "--find-links", wheels],
  });
  const config = JSON.parse(await sh(PYTHON, ["-c", "import json, tomllib; print(json.dumps(tomllib.load(open('slipway.toml', 'rb'))))"], { cwd: app }));
  assert.equal(config.app.root, "/srv/elsewhere");
  assert.deepEqual(config.build.pip_args, ["--no-index", "--find-links", wheels]);
  assert.equal(config.app.name, "hello");

  await sh(join(venv, "bin", "pip"), ["install", ...config.build.pip_args, "-r", "requirements.txt", "gunicorn"], { cwd: app });
  const count = await sh(
    join(venv, "bin", "python"),
    ["-c", "import fastcount, fastcount._speedups as s; print(fastcount.count(b'hello world', b'o'), s.__file__)"],
    { cwd: "/" },
  );
  assert.match(count, /^2 .*\/site-packages\/fastcount\/_speedups\..*\.so$/m);

  const port = await freePort();
  const server = spawn(join(venv, "bin", "gunicorn"), ["-b", `127.0.0.1:${port}`, "hello.app:application"], { cwd: app, env: pythonEnv(), stdio: "ignore" });
  try {
    let body: unknown;
    for (const deadline = Date.now() + 15_000; Date.now() < deadline && body === undefined; ) {
      body = await fetch(`http://127.0.0.1:${port}/health`).then(
        (r) => r.json(),
        () => undefined,
      );
      if (body === undefined) await new Promise((ok) => setTimeout(ok, 200));
    }
    assert.deepEqual(body, { status: "ok", build_id: "dev", fastcount: 2 });
  } finally {
    const exited = new Promise((ok) => server.once("exit", ok));
    server.kill("SIGTERM");
    await exited;
  }
});

test("makeBigWheels is deterministic, big enough, compressible and installable", async () => {
  const [a, b] = [await tmpDir("slipway-big-a"), await tmpDir("slipway-big-b")];
  const names = await makeBigWheels(a, 6, 3);
  assert.deepEqual(names, ["bigpkg1", "bigpkg2", "bigpkg3"]);
  await makeBigWheels(b, 6, 3);
  for (const n of names) {
    const f = `${n}-1.0.0-py3-none-any.whl`;
    assert.ok((await readFile(join(a, f))).equals(await readFile(join(b, f))), `${f} is reproducible`);
  }
  const stats = JSON.parse(
    await sh(PYTHON, [
      "-c",
      `
import glob, json, sys, zlib, zipfile
data = b"".join(zipfile.ZipFile(w).read(i) for w in sorted(glob.glob(sys.argv[1] + "/*.whl"))
                for i in zipfile.ZipFile(w).namelist() if ".dist-info/" not in i)
print(json.dumps({"size": len(data), "ratio": len(data) / len(zlib.compress(data, 6))}))`,
      a,
    ]),
  ) as { size: number; ratio: number };
  assert.ok(stats.size >= 6 * 1024 * 1024, `installed size ${stats.size}`);
  assert.ok(stats.ratio > 1.8 && stats.ratio < 4.5, `gzip ratio ${stats.ratio}`);

  await sh(join(venv, "bin", "pip"), ["install", "--no-index", "--find-links", a, ...names]);
  await sh(join(venv, "bin", "python"), ["-c", "import bigpkg1, bigpkg2, bigpkg3"]);
});
