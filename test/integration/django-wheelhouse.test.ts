// The Django wheelhouse: Debian's python3-* packages repacked as wheels with their
// dependency closure (compiled ones as platform wheels) install offline into a fresh venv
// and import.
import assert from "node:assert/strict";

import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { execText, PYTHON } from "../support/env.js";
import { tmpDir } from "../support/tmp.js";
import { DJANGO_DISTRIBUTIONS, ensureDjangoWheelhouse } from "../support/wheelhouse.js";

const sh = execText;

// For each wheel: its WHEEL file, its Requires-Dist, and whether RECORD lists every member
// with the right sha256 and size.
const INSPECT = `
import base64, hashlib, json, sys, zipfile
out = {}
for path in sys.argv[1:]:
    z = zipfile.ZipFile(path)
    record = next(n for n in z.namelist() if n.endswith(".dist-info/RECORD"))
    rows = [l.split(",") for l in z.read(record).decode().splitlines() if l]
    ok = {r[0] for r in rows} == set(z.namelist())
    for name, digest, size in rows:
        if name == record: continue
        data = z.read(name)
        want = "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        ok = ok and digest == want and int(size) == len(data)
    meta = z.read(record.replace("RECORD", "METADATA")).decode().split("\\n\\n")[0]
    out[path.rsplit("/", 1)[-1]] = {"record_ok": ok, "wheel": z.read(record.replace("RECORD", "WHEEL")).decode(),
        "requires": [l[len("Requires-Dist: "):] for l in meta.splitlines() if l.startswith("Requires-Dist: ")]}
print(json.dumps(out))
`;

type WheelInfo = { record_ok: boolean; wheel: string; requires: string[] };

test("the Django wheelhouse holds the repacked closure, compiled ones as platform wheels", async () => {
  const dir = await ensureDjangoWheelhouse();
  const files = (await readdir(dir)).sort();
  const tag = (await sh(PYTHON, ["-c", "import sys; print(f'cp{sys.version_info[0]}{sys.version_info[1]}')"])).trim();
  const expected = [
    /^pip-/,
    /^setuptools-/,
    /^wheel-/,
    /^Django-3\.2\.[\d]+-py3-none-any\.whl$/,
    /^whitenoise-/,
    /^celery-/,
    /^kombu-/,
    /^billiard-/,
    /^vine-/,
    /^amqp-/,
    /^click-/,
    /^redis-/,
    /^gunicorn-/,
    /^Flask-/,
    /^Werkzeug-/,
    /^Jinja2-/,
    /^itsdangerous-/,
    /^asgiref-/,
    /^sqlparse-/,
    /^pytz-/,
    new RegExp(`^psycopg2-[\\d.]+-${tag}-${tag}-linux_x86_64\\.whl$`),
    new RegExp(`^MarkupSafe-[\\d.]+-${tag}-${tag}-linux_x86_64\\.whl$`),
  ];
  for (const pattern of expected)
    assert.ok(
      files.some((f) => pattern.test(f)),
      `${pattern} in ${files.join(", ")}`,
    );
  assert.equal(new Set(files.map((f) => f.split("-")[0]!.toLowerCase())).size, files.length, "one version of each");

  const info = JSON.parse(await sh(PYTHON, ["-c", INSPECT, ...files.filter((f) => !/^(pip|setuptools|wheel)-/.test(f)).map((f) => join(dir, f))])) as Record<
    string,
    WheelInfo
  >;
  for (const [file, i] of Object.entries(info)) assert.ok(i.record_ok, `${file}: RECORD matches its members`);
  const get = (prefix: string) => Object.entries(info).find(([f]) => f.startsWith(prefix))![1];
  assert.match(get("psycopg2-").wheel, /^Root-Is-Purelib: false$/m);
  assert.match(get("Django-").wheel, /^Root-Is-Purelib: true$/m);
  // Debian strips install_requires into the package's Depends: they come back as Requires-Dist.
  for (const dep of ["kombu", "billiard", "vine", "click"]) assert.ok(get("celery-").requires.includes(dep), `celery requires ${dep}`);
  for (const dep of ["asgiref", "sqlparse", "pytz"]) assert.ok(get("Django-").requires.includes(dep), `Django requires ${dep}`);
  // An extra on a distribution Debian has not installed is dropped; one it has is kept.
  assert.ok(get("celery-").requires.includes('redis; extra == "redis"'), get("celery-").requires.join(" | "));
  assert.ok(!get("celery-").requires.some((r) => r.startsWith("pymongo")), "pymongo (not installed) is dropped");
});

test("django, whitenoise, psycopg2, celery, redis, gunicorn and flask install offline and import", async () => {
  const dir = await ensureDjangoWheelhouse();
  const venv = join(await tmpDir("slipway-djwh"), "venv");
  await sh(PYTHON, ["-m", "venv", venv]);
  await sh(join(venv, "bin", "pip"), ["install", "--no-index", "--find-links", dir, ...DJANGO_DISTRIBUTIONS]);
  const out = await sh(
    join(venv, "bin", "python"),
    [
      "-c",
      `
import celery, django, flask, psycopg2, psycopg2.extensions, redis, whitenoise, kombu, gunicorn
print(django.get_version(), celery.__version__, psycopg2.extensions.libpq_version() > 0, psycopg2._psycopg.__file__)
`,
    ],
    { cwd: "/" },
  );
  assert.match(out, new RegExp(`^3\\.2\\.\\d+ 5\\.\\d+\\.\\d+ True ${venv}/lib/python3\\.\\d+/site-packages/psycopg2/_psycopg\\..*\\.so$`, "m"));
  assert.match(await sh(join(venv, "bin", "celery"), ["--version"]), /^5\.\d+\.\d+/);
  assert.match(await sh(join(venv, "bin", "django-admin"), ["--version"]), /^3\.2\.\d+$/m);
  const started = Date.now();
  assert.equal(await ensureDjangoWheelhouse(), dir);
  assert.ok(Date.now() - started < 1000, "second call is served from the cache");
});
