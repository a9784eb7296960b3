import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { detectApp, renderConfig, type DetectedApp } from "../../src/config/init-template.js";
import { parseConfig } from "../../src/config/load.js";
import { DEFAULT_EXCLUDE } from "../../src/config/schema.js";
import { planInstall } from "../../src/build/install-plan.js";

/** A dir that does not exist: detectApp then reads nothing from disk. */
const NOWHERE = path.join(tmpdir(), "slipway-does-not-exist", "shop");

describe("detectApp", () => {
  test("Django with manage.py, static/ and requirements.txt", () => {
    assert.deepEqual(detectApp(NOWHERE, ["manage.py", "static", "requirements.txt", "shop"]), {
      name: "shop",
      requirements: ["requirements.txt"],
      django: true,
      staticDirs: ["static"],
    });
  });

  test("pyproject.toml + uv.lock", () => {
    const d = detectApp(NOWHERE, ["pyproject.toml", "uv.lock", "src"]);
    assert.deepEqual(d.requirements, ["pyproject.toml", "uv.lock"]);
    assert.equal(d.django, false);
  });

  test("pyproject.toml + poetry.lock", () => {
    assert.deepEqual(detectApp(NOWHERE, ["pyproject.toml", "poetry.lock"]).requirements, ["pyproject.toml", "poetry.lock"]);
  });

  test("pyproject.toml + pylock.toml always names pyproject.toml first", () => {
    // pip cannot install pylock.toml, so init does not propose it (see the test below).
    assert.equal(detectApp(NOWHERE, ["pyproject.toml", "pylock.toml"]).requirements[0], "pyproject.toml");
  });

  test("requirements.txt wins over pyproject + lock", () => {
    assert.deepEqual(detectApp(NOWHERE, ["pyproject.toml", "uv.lock", "requirements.txt"]).requirements, ["requirements.txt"]);
  });

  test("requirements-prod.txt only", () => {
    assert.deepEqual(detectApp(NOWHERE, ["requirements-prod.txt"]).requirements, ["requirements-prod.txt"]);
  });

  test("a prod file is preferred among several requirements-*.txt", () => {
    assert.deepEqual(detectApp(NOWHERE, ["requirements-dev.txt", "requirements-production.txt", "requirements-a.txt"]).requirements, [
      "requirements-production.txt",
    ]);
  });

  test("otherwise the first requirements-*.txt by name", () => {
    assert.deepEqual(detectApp(NOWHERE, ["requirements-b.txt", "requirements-a.txt"]).requirements, ["requirements-a.txt"]);
  });

  test("a bare pyproject.toml", () => {
    assert.deepEqual(detectApp(NOWHERE, ["pyproject.toml"]).requirements, ["pyproject.toml"]);
  });

  test("nothing found", () => {
    assert.deepEqual(detectApp(NOWHERE, []), { name: "shop", requirements: [], django: false, staticDirs: [] });
  });

  test("static, assets and public dirs, in that order", () => {
    assert.deepEqual(detectApp(NOWHERE, ["public", "assets", "static"]).staticDirs, ["static", "assets", "public"]);
  });

  test("the dir name is cleaned into a valid app name", () => {
    assert.equal(detectApp("/tmp/My Shop!", []).name, "my-shop-");
    assert.equal(detectApp("/tmp/__x", []).name, "x");
    assert.equal(detectApp("/tmp/...", []).name, "app");
    assert.equal(detectApp(`/tmp/${"A".repeat(80)}`, []).name, "a".repeat(64));
    for (const dir of ["/tmp/My Shop!", "/tmp/__x", "/tmp/...", "/", "/tmp/Ünïcode"]) {
      assert.match(detectApp(dir, []).name, /^[a-z0-9][a-z0-9._-]{0,63}$/, dir);
    }
  });

  describe("with a pyproject.toml on disk", () => {
    let dir: string;
    before(async () => {
      dir = await mkdtemp(path.join(tmpdir(), "slipway-init-"));
    });
    after(async () => {
      await rm(dir, { recursive: true, force: true });
    });

    test("the app name comes from [project] name", async () => {
      const app = path.join(dir, "checkout-dir");
      await mkdir(app);
      await writeFile(path.join(app, "pyproject.toml"), '[project]\nname = "My_Store"\nversion = "1"\n');
      assert.equal(detectApp(app, ["pyproject.toml"]).name, "my_store");
    });

    test("a pyproject.toml without a name keeps the dir name", async () => {
      const app = path.join(dir, "plain");
      await mkdir(app);
      await writeFile(path.join(app, "pyproject.toml"), "[tool.black]\nline-length = 100\n");
      assert.equal(detectApp(app, ["pyproject.toml"]).name, "plain");
    });
  });
});

describe("renderConfig", () => {
  const listings: [string, string, string[]][] = [
    ["Django with manage.py and static/", "/tmp/shop", ["manage.py", "static", "requirements.txt"]],
    ["pyproject + uv.lock", "/tmp/api", ["pyproject.toml", "uv.lock"]],
    ["requirements-prod.txt only", "/tmp/site", ["requirements-prod.txt"]],
    ["nothing", "/tmp/empty", []],
    ["odd dir name, assets and public", "/tmp/My Weird App!", ["assets", "public", "pyproject.toml"]],
  ];

  for (const [what, dir, names] of listings) {
    test(`renders a config that parses: ${what}`, () => {
      const d = detectApp(dir, names);
      const text = renderConfig(d);
      const c = parseConfig(text, "slipway.toml");
      assert.equal(c.app.name, d.name);
      assert.equal(c.app.root, `/srv/${d.name}`);
      assert.deepEqual(c.build.requirements, d.requirements.length ? d.requirements : ["requirements.txt"]);
      assert.deepEqual(c.build.exclude, [...DEFAULT_EXCLUDE, "*.egg-info"]);
      assert.deepEqual(c.targets, {}, "the target is only an example, commented out");
    });
  }

  test("Django: collectstatic step, migrations check and run, minify for static/", () => {
    const c = parseConfig(renderConfig(detectApp("/tmp/shop", ["manage.py", "static", "requirements.txt"])), "slipway.toml");
    assert.deepEqual(c.build.steps, ["python manage.py collectstatic --noinput"]);
    assert.equal(c.build.minify_when, "before-steps", "minified before collectstatic fingerprints and collects them");
    assert.deepEqual(c.build.minify, ["static/**/*.js", "static/**/*.css"]);
    assert.equal(c.deploy.migrations.check, "python manage.py showmigrations --plan");
    assert.equal(c.deploy.migrations.run, "python manage.py migrate --noinput");
    assert.equal(c.deploy.migrations.policy, "warn");
  });

  test("not Django: no steps, no migrations", () => {
    const c = parseConfig(renderConfig(detectApp("/tmp/api", ["pyproject.toml", "uv.lock"])), "slipway.toml");
    assert.deepEqual(c.build.steps, []);
    assert.equal(c.build.minify_when, "after-steps");
    assert.deepEqual(c.build.minify, []);
    assert.equal(c.deploy.migrations.check, "");
    assert.equal(c.deploy.migrations.run, "");
  });

  test("nothing found: requirements.txt with a note to create it", () => {
    const text = renderConfig(detectApp("/tmp/empty", []));
    assert.match(text, /requirements = \["requirements\.txt"\]\s+# none found: create it/);
  });

  test("every key it writes is a known key; the example target parses once uncommented", () => {
    const d: DetectedApp = { name: "shop", requirements: ["requirements.txt"], django: true, staticDirs: ["static"] };
    const text = renderConfig(d);
    const uncommented = text.replace(/^# (\[targets|hosts|batch|manager|programs|conf|url|timeout)/gm, "$1");
    const c = parseConfig(uncommented, "slipway.toml");
    assert.deepEqual(c.targets["production"]!.hosts, ["deploy@app-01", "deploy@app-02"]);
    assert.deepEqual(c.targets["production"]!.restart.programs, ["shop"]);
    assert.equal(c.targets["production"]!.health.timeout, "30s");
    assert.equal(c.targets["production"]!.health.expect_build, true, "the check must see the new build answer");
    assert.match(text, /manager = "none"|"none" when nothing on these hosts needs it/, "the template names the explicit way to restart nothing");
    const noRestart = uncommented.replace(/^\[targets\.production\.restart\]\n(?:.*\n){3}/m, "");
    assert.ok(!noRestart.includes("[targets.production.restart]"));
    assert.throws(() => parseConfig(noRestart, "slipway.toml"), /restarts nothing[\s\S]*manager = "none"/, "without its restart table the target is refused");
  });

  test("init never proposes requirements that the build cannot install", () => {
    for (const names of [["pyproject.toml", "uv.lock"], ["pyproject.toml", "poetry.lock"], ["requirements.txt"], ["pyproject.toml", "pylock.toml"]]) {
      const plan = planInstall(detectApp(NOWHERE, names).requirements);
      assert.ok(
        plan.every((s) => s.kind !== "unsupported"),
        `${names.join(", ")}: ${JSON.stringify(plan)}`,
      );
    }
  });

  test("names with characters TOML must escape stay valid", () => {
    const d: DetectedApp = { name: "a.b_c-d", requirements: ['req "x".txt', "sub\\r.txt"], django: false, staticDirs: [] };
    const c = parseConfig(renderConfig(d), "slipway.toml");
    assert.deepEqual(c.build.requirements, ['req "x".txt', "sub\\r.txt"]);
  });
});
