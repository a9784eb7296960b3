// A Flask app, pyproject in src layout: its dependencies come from [project] dependencies, the project
// itself is installed at the top of the release (not into the venv, whose key stays the
// dependencies'), and gunicorn serves it from `current` on namespace hosts with no extra
// configuration. Dependencies slipway cannot read are an error, never an empty venv.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { rmSync } from "node:fs";
import { mkdir, readFile, symlink, writeFile } from "node:fs/promises";
import path from "node:path";
import { build } from "../../src/commands/build.js";
import { deploy } from "../../src/commands/deploy.js";
import { EnvironmentError } from "../../src/errors.js";
import { pythonEnv } from "../support/env.js";
import { startFleet, type TestFleet } from "../support/fleet.js";
import { waitForJson } from "../support/supervisor.js";
import { tmpDir } from "../support/tmp.js";
import { ensureDjangoWheelhouse } from "../support/wheelhouse.js";

const PORT = 8000;
const CONF = "/srv/supervisord.conf";

const PYPROJECT = (deps: string, extra = "") => `[build-system]
requires = ["setuptools>=61", "wheel"]
build-backend = "setuptools.build_meta"

[project]
name = "pyapp"
version = "0.1.0"
dependencies = ${deps}
${extra}`;

const WSGI = `import json, os

from flask import Flask, jsonify

app = Flask(__name__)


@app.get("/health")
def health():
    with open(os.path.join(os.getcwd(), "slipway.json")) as f:
        build_id = json.load(f)["build_id"]
    return jsonify(build_id=build_id, module=__file__, cwd=os.getcwd())
`;

let fleet: TestFleet;
let app: string;
let root: string;
let env: NodeJS.ProcessEnv;

before(async () => {
  const dir = await tmpDir("slipway-pyproject");
  root = `/srv/slw-${randomBytes(4).toString("hex")}/pyapp`;
  app = path.join(dir, "app");
  const wheelhouse = await ensureDjangoWheelhouse();
  await mkdir(path.join(app, "src", "pyapp"), { recursive: true });
  await writeFile(path.join(app, "pyproject.toml"), PYPROJECT('["flask", "gunicorn"]'));
  await writeFile(path.join(app, "src", "pyapp", "__init__.py"), "");
  await writeFile(path.join(app, "src", "pyapp", "wsgi.py"), WSGI);
  env = pythonEnv({ SLIPWAY_CACHE_DIR: path.join(dir, "cache") });
  const program = [
    "[program:pyapp]",
    `command=${root}/current/virtualenv/bin/gunicorn pyapp.wsgi:app --bind 0.0.0.0:${PORT} --workers 1 --chdir ${root}/current`,
    `directory=${root}/current`,
    "autostart=false",
    "startsecs=0",
    "stopsignal=TERM",
    "stopwaitsecs=10",
  ].join("\n");
  fleet = await startFleet(2, { supervisorPrograms: program });
  await Promise.all(fleet.hosts.map((h) => symlink(h.supervisorConf!, path.join(h.srv, path.relative("/srv", CONF)))));
  await writeFile(
    path.join(app, "slipway.toml"),
    `
[app]
name = "pyapp"
root = "${root}"
python = "/usr/bin/python3"
[build]
requirements = ["pyproject.toml"]
pip_args = ["--no-index", "--find-links", "${wheelhouse}"]
[targets.fleet]
hosts = ${JSON.stringify(fleet.hosts.map((h) => h.dest))}
ssh = { identity = "${fleet.ssh.identity}", known_hosts = "${fleet.ssh.known_hosts}" }
restart = { manager = "supervisord", programs = ["pyapp"], conf = "${CONF}" }
health = { url = "http://127.0.0.1:${PORT}/health" }
`,
  );
});
after(async () => {
  await fleet?.stop();
  if (root) rmSync(path.dirname(root), { recursive: true, force: true });
});

const codeFiles = (artifact: string) =>
  execFileSync("sh", ["-c", 'tar -xOf "$1" code.tar.zst | zstd -dc | tar -t', "sh", artifact], { encoding: "utf8" })
    .split("\n")
    .map((l) => l.replace(/^\.\//, ""));

test("pyproject Flask app (src layout): the project is installed at the release's top, the venv key ignores it, gunicorn serves it from current", async () => {
  const b1 = await build({ cwd: app, env, buildId: "p1" });
  const files = codeFiles(b1.artifact);
  assert.ok(files.includes("pyapp/wsgi.py"), "the package at the release's top");
  assert.ok(
    files.some((f) => /^pyapp-0\.1\.0\.dist-info\/METADATA$/.test(f)),
    "with its metadata",
  );
  assert.ok(files.includes("src/pyapp/wsgi.py"), "the source tree is shipped as it is");
  assert.ok(!files.some((f) => f.includes(".egg-info") || f.startsWith("build/")), "pip's build leftovers are not");
  const venvHasIt = execFileSync(path.join(b1.venv.path, "bin", "python"), ["-c", "import importlib.util as u; print(u.find_spec('pyapp'))"], {
    encoding: "utf8",
    cwd: "/",
  }).trim();
  assert.equal(venvHasIt, "None", "the venv does not hold the project");

  await deploy({ cwd: app, artifact: b1.artifact, target: "fleet" });
  for (const h of fleet.hosts) {
    const health = await waitForJson(`http://${h.ip}:${PORT}/health`, 10_000);
    assert.equal(health["build_id"], "p1");
    assert.ok(
      [`${root}/current/pyapp/wsgi.py`, `${root}/releases/p1/pyapp/wsgi.py`].includes(String(health["module"])),
      `imported from the release: ${health["module"]}`,
    );
  }

  // A code change moves the code layer only: same venv key.
  await writeFile(path.join(app, "src", "pyapp", "wsgi.py"), `${WSGI}\n# changed\n`);
  const b2 = await build({ cwd: app, env, buildId: "p2" });
  assert.equal(b2.venv.key, b1.venv.key);
  assert.equal(b2.venv.cache, "hit");
  const d2 = await deploy({ cwd: app, artifact: b2.artifact, target: "fleet" });
  assert.ok(d2.hosts.every((h) => h.result === "ok" && h.bytes_sent < b1.layers.venv.size / 4));
  for (const h of fleet.hosts) assert.equal((await waitForJson(`http://${h.ip}:${PORT}/health`, 10_000))["build_id"], "p2");
});

test("pyproject app: dynamic dependencies or [tool.poetry.dependencies] alone fail the build (exit 2) saying what to do", async () => {
  const original = await readFile(path.join(app, "pyproject.toml"), "utf8");
  try {
    await writeFile(path.join(app, "pyproject.toml"), PYPROJECT("[]").replace("dependencies = []", 'dynamic = ["dependencies"]'));
    await assert.rejects(
      build({ cwd: app, env, buildId: "x1" }),
      (e: unknown) => e instanceof EnvironmentError && e.exitCode === 2 && /dependencies are dynamic/.test(e.message) && /requirements file/.test(e.hint ?? ""),
    );
    await writeFile(
      path.join(app, "pyproject.toml"),
      PYPROJECT("[]").replace("dependencies = []", "") + '\n[tool.poetry.dependencies]\npython = "^3.11"\nflask = "^2"\n',
    );
    await assert.rejects(
      build({ cwd: app, env, buildId: "x2" }),
      (e: unknown) => e instanceof EnvironmentError && /tool\.poetry\.dependencies/.test(e.message) && /poetry\.lock/.test(e.hint ?? ""),
    );
  } finally {
    await writeFile(path.join(app, "pyproject.toml"), original);
  }
});
