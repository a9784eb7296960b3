import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { balancerConfigs } from "../../src/lb/balancers.js";
import { parseConfig } from "../../src/config/load.js";
import { ConfigError, ExitCode, formatProblem, type ConfigProblem } from "../../src/errors.js";

const FILE = "slipway.toml";
/** Three lines: [app] on line 1, name on line 2, root on line 3. */
const BASE = `[app]\nname = "acc"\nroot = "/srv/acc"\n`;
/** BASE plus a one-host target whose table header is on line 4 and hosts on line 5. */
const TARGET = `${BASE}[targets.s]\nhosts = ["deploy@app-01"]\n`;
/** Appended last to a target that must otherwise be valid: one without a restart is refused (it would restart nothing). */
const NO_RESTART = (t = "s") => `[targets.${t}.restart]\nmanager = "none"\n`;

function configError(text: string, file = FILE, pyproject = false): ConfigError {
  let caught: unknown;
  try {
    parseConfig(text, file, pyproject);
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof ConfigError, `expected a ConfigError, got ${String(caught)}`);
  return caught;
}

function problems(text: string, file = FILE, pyproject = false): ConfigProblem[] {
  return configError(text, file, pyproject).problems;
}

interface Expected {
  line: number | undefined;
  path: string;
  message: RegExp;
  hint?: RegExp;
}

/** The config must fail with exactly one problem, at `line`, on `path`, saying `message`. */
function expectOne(text: string, want: Expected, file = FILE, pyproject = false): ConfigProblem {
  const ps = problems(text, file, pyproject);
  assert.equal(ps.length, 1, `expected one problem, got:\n${ps.map(formatProblem).join("\n")}`);
  const p = ps[0]!;
  assert.equal(p.file, file);
  assert.equal(p.line, want.line, `line of ${formatProblem(p)}`);
  assert.equal(p.path, want.path);
  assert.match(p.message, want.message);
  if (want.hint) assert.match(p.hint ?? "", want.hint);
  // The formatted message carries all of it: file:line, the key path and the gist.
  const shown = formatProblem(p);
  assert.ok(shown.startsWith(want.line ? `${file}:${want.line}:` : `${file}:`), shown);
  if (want.path) assert.ok(shown.includes(` ${want.path}:`), shown);
  return p;
}

describe("a valid config", () => {
  test("a minimal config gets every default from SPEC §2", () => {
    const c = parseConfig(BASE, FILE);
    assert.deepEqual(c, {
      app: { name: "acc", root: "/srv/acc", python: "/usr/bin/python3" },
      build: {
        requirements: ["requirements.txt"],
        pip_args: [],
        include: ["."],
        exclude: [".git", "**/__pycache__", "*.pyc", "node_modules", ".slipway"],
        include_ignored: [],
        allow: [],
        steps: [],
        minify: [],
        minify_when: "after-steps",
        install_project: true,
        compression: "zstd",
        out: "dist",
        signing_key: "",
      },
      deploy: {
        keep_releases: 5,
        trusted_keys: [],
        shared: [],
        linked_files: [],
        assets: "",
        migrations: { check: "", run: "", policy: "warn", role: "" },
        hooks: { before_switch: [], after_switch: [] },
      },
      image: { env: {}, ports: [] },
      targets: {},
    });
  });

  test("a target gets its defaults", () => {
    const c = parseConfig(TARGET + NO_RESTART(), FILE);
    const restart = { manager: "none", programs: [], conf: "", command: "", scope: "system", action: "restart", sudo: false };
    const health = { url: "", command: "", timeout: "30s", expect_build: true };
    assert.deepEqual(c.targets["s"], {
      hosts: ["deploy@app-01"],
      transport: "ssh",
      batch: 1,
      on_failure: "rollback-all",
      ssh: { config: "", identity: "", known_hosts: "", options: [], step_timeout: "30m", parallel_connects: 16 },
      restart,
      health,
      // Plain hosts are one role, web, with the target's restart, health, haproxy and batch.
      roles: [{ name: "web", hosts: ["deploy@app-01"], restart, health, haproxy: undefined, batch: 1 }],
    });
    assert.equal(c.targets["s"]!.haproxy, undefined);
  });

  test("defaults are not shared between parses or between targets", () => {
    const a = parseConfig(BASE, FILE);
    const b = parseConfig(BASE, FILE);
    assert.notEqual(a.build.exclude, b.build.exclude, "build.exclude is one shared array");
    assert.notEqual(a.deploy.migrations, b.deploy.migrations, "deploy.migrations is one shared object");
    const two = parseConfig(`${BASE}[targets.a]\nhosts = ["a"]\n[targets.b]\nhosts = ["b"]\n${NO_RESTART("a")}${NO_RESTART("b")}`, FILE);
    assert.notEqual(two.targets["a"]!.ssh.options, two.targets["b"]!.ssh.options, "two targets share ssh.options");
    a.build.exclude.push("mutated");
    assert.deepEqual(parseConfig(BASE, FILE).build.exclude, [".git", "**/__pycache__", "*.pyc", "node_modules", ".slipway"]);
  });

  test("the pyproject variant reads [tool.slipway...] with the same defaults", () => {
    const text = `[project]\nname = "x"\n\n[tool.slipway.app]\nname = "acc"\nroot = "/srv/acc"\n`;
    const c = parseConfig(text, "pyproject.toml", true);
    assert.deepEqual(c, parseConfig(BASE, FILE));
  });

  test("the full SPEC §2 example is valid", () => {
    const text = `[app]
name   = "accounting"
root   = "/srv/accounting"
python = "/usr/bin/python3.11"

[build]
requirements = ["requirements.txt"]
pip_args     = []
include      = ["."]
exclude      = [".git", "**/__pycache__", "*.pyc", "node_modules", ".slipway"]
steps        = ["python manage.py collectstatic --noinput"]
minify       = ["static/**/*.js", "static/**/*.css"]
compression  = "zstd"
out          = "dist"
signing_key  = ""

[deploy]
keep_releases = 5
trusted_keys  = []
shared        = ["media", "logs"]
[deploy.migrations]
check  = "python manage.py showmigrations --plan"
run    = ""
policy = "warn"
[deploy.hooks]
before_switch = []
after_switch  = []

[targets.staging]
hosts     = ["deploy@app-01", "deploy@app-02:2222", "deploy@worker-01"]
transport = "ssh"
batch     = 1
on_failure = "rollback-all"
ssh       = { config = "~/.ssh/config", identity = "", known_hosts = "", options = [] }
[targets.staging.restart]
manager  = "supervisord"
programs = ["gunicorn", "celery"]
conf     = "/etc/supervisor/supervisord.conf"
command  = ""
[targets.staging.health]
url     = "http://127.0.0.1:8000/health"
timeout = "30s"
[targets.staging.haproxy]
socket   = "/run/haproxy/admin.sock"
host     = "deploy@lb-01"
backend  = "app"
servers  = { "deploy@app-01" = "app1", "deploy@app-02:2222" = "app2" }
drain_timeout = "35s"
`;
    const c = parseConfig(text, FILE);
    assert.equal(c.app.python, "/usr/bin/python3.11");
    assert.deepEqual(c.deploy.shared, ["media", "logs"]);
    const [lb] = balancerConfigs(c.targets["staging"]!);
    assert.equal(lb!.servers["deploy@app-02:2222"], "app2");
    assert.equal(lb!.drain_timeout, "35s");
  });

  test("valid batch forms: a count and percentages", () => {
    const text = `${BASE}[targets.a]\nhosts = ["a"]\nbatch = 3\n[targets.b]\nhosts = ["b"]\nbatch = "25%"\n[targets.c]\nhosts = ["c"]\nbatch = "100%"\n[targets.d]\nhosts = ["d"]\nbatch = "1%"\n${["a", "b", "c", "d"].map((t) => NO_RESTART(t)).join("")}`;
    const c = parseConfig(text, FILE);
    assert.equal(c.targets["a"]!.batch, 3);
    assert.equal(c.targets["b"]!.batch, "25%");
    assert.equal(c.targets["c"]!.batch, "100%");
    assert.equal(c.targets["d"]!.batch, "1%");
  });

  test("valid ssh destinations: user@host, host:port, IPv6 in brackets, dotted names", () => {
    const text = `${BASE}[targets.s]\nhosts = ["deploy@app-01", "app-02:2222", "deploy@[::1]:22", "a.b.example.com", "u_1@10.0.0.1"]\n${NO_RESTART()}`;
    assert.equal(parseConfig(text, FILE).targets["s"]!.hosts.length, 5);
  });

  test("an app name of exactly 64 characters is accepted", () => {
    const text = `[app]\nname = "${"a".repeat(64)}"\nroot = "/srv/a"\n`;
    assert.equal(parseConfig(text, FILE).app.name.length, 64);
  });

  test("valid durations", () => {
    for (const d of ["500ms", "35s", "2m"]) {
      const text = `${TARGET}[targets.s.health]\ntimeout = "${d}"\n${NO_RESTART()}`;
      assert.equal(parseConfig(text, FILE).targets["s"]!.health.timeout, d);
    }
  });
});

describe("ConfigError", () => {
  test("exits with code 2 (usage or config error)", () => {
    const err = configError(`[app]\nname = "A"\nroot = "/srv/a"\n`);
    assert.equal(err.exitCode, 2);
    assert.equal(err.exitCode, ExitCode.usage);
    assert.equal(err.name, "ConfigError");
  });

  test("its message is one formatted line per problem: file:line: path: message (hint)", () => {
    const err = configError(`${BASE}[biuld]\nout = "x"\n`);
    assert.equal(err.message, "slipway.toml:4: biuld: unknown key (did you mean `build`?)");
  });

  test("formatProblem without a line or a path", () => {
    assert.equal(formatProblem({ file: "f.toml", path: "", message: "boom" }), "f.toml: boom");
    assert.equal(formatProblem({ file: "f.toml", path: "a.b", message: "boom", hint: "fix" }), "f.toml: a.b: boom (fix)");
  });
});

describe("TOML syntax", () => {
  test("a syntax error names the line", () => {
    expectOne(`[app]\nname = "acc"\nroot = /srv/acc\n`, { line: 3, path: "", message: /^not valid TOML/ });
  });

  test("a key defined twice is a syntax error at the second definition", () => {
    expectOne(`${BASE}name = "b"\n`, { line: 4, path: "", message: /not valid TOML.*multiple times/i });
  });

  test("an unterminated string names its line", () => {
    expectOne(`[app]\nname = "acc"\nroot = "/srv\n`, { line: 3, path: "", message: /^not valid TOML/ });
  });
});

describe("[app]", () => {
  test("missing [app]", () => {
    // There is no line to point at: the table is not written anywhere.
    expectOne(`[build]\nout = "x"\n`, { line: undefined, path: "app", message: /is required \(a table\)/ });
  });

  test("app that is not a table", () => {
    expectOne(`app = "x"\n`, { line: 1, path: "app", message: /expected a table, got "x"/ });
  });

  test("missing app.name points at the [app] table", () => {
    expectOne(`[app]\nroot = "/srv/a"\n`, { line: 1, path: "app.name", message: /is required \(a string\)/ });
  });

  test("missing app.root points at the [app] table", () => {
    expectOne(`\n\n[app]\nname = "a"\n`, { line: 3, path: "app.root", message: /is required \(a string\)/ });
  });

  for (const [what, name] of [
    ["upper-case", "Acc"],
    ["too long (65)", "a".repeat(65)],
    ["leading dot", ".acc"],
    ["leading dash", "-acc"],
    ["a slash", "a/b"],
    ["empty", ""],
  ] as const) {
    test(`bad app.name: ${what}`, () => {
      expectOne(`[app]\nname = ${JSON.stringify(name)}\nroot = "/srv/a"\n`, {
        line: 2,
        path: "app.name",
        message: /must match \[a-z0-9\]\[a-z0-9._-\]\{0,63\}.*lower-case/,
      });
    });
  }

  test("the offending value is quoted in the message (shortened when long)", () => {
    const p = expectOne(`[app]\nname = "Acc"\nroot = "/srv/a"\n`, { line: 2, path: "app.name", message: /got "Acc"/ });
    assert.match(p.message, /\(string\)$/);
    const long = expectOne(`[app]\nname = "${"A".repeat(100)}"\nroot = "/srv/a"\n`, { line: 2, path: "app.name", message: /\.\.\. \(string\)$/ });
    assert.ok(long.message.length < 200, long.message);
  });

  test("relative root", () => {
    expectOne(`[app]\nname = "a"\nroot = "srv/a"\n`, { line: 3, path: "app.root", message: /must be an absolute path/ });
  });

  test('root "/"', () => {
    expectOne(`[app]\nname = "a"\nroot = "/"\n`, { line: 3, path: "app.root", message: /must not be \/ or end with \// });
  });

  test("root ending with /", () => {
    expectOne(`[app]\nname = "a"\nroot = "/srv/a/"\n`, { line: 3, path: "app.root", message: /must not be \/ or end with \// });
  });

  test("root with ..", () => {
    expectOne(`[app]\nname = "a"\nroot = "/srv/../etc"\n`, { line: 3, path: "app.root", message: /must not contain \.\. components/ });
  });

  test("empty python", () => {
    expectOne(`${BASE}python = ""\n`, { line: 4, path: "app.python", message: /must not be empty/ });
  });
});

describe("unknown keys", () => {
  test("top level, with did-you-mean", () => {
    expectOne(`${BASE}\n[biuld]\nout = "x"\n`, { line: 5, path: "biuld", message: /^unknown key$/, hint: /did you mean `build`\?/ });
  });

  test("top level, without a close match: lists the allowed keys", () => {
    expectOne(`${BASE}[zzzzzz]\nout = "x"\n`, {
      line: 4,
      path: "zzzzzz",
      message: /^unknown key$/,
      hint: /^remove it; keys allowed here: app, build, deploy, image, package, targets$/,
    });
  });

  test("in [app]", () => {
    expectOne(`${BASE}pyhton = "x"\n`, { line: 4, path: "app.pyhton", message: /unknown key/, hint: /did you mean `python`\?/ });
  });

  test("in [build], with did-you-mean", () => {
    expectOne(`${BASE}[build]\nexclud = []\n`, { line: 5, path: "build.exclud", message: /unknown key/, hint: /did you mean `exclude`\?/ });
  });

  test("in [build], without a close match", () => {
    const p = expectOne(`${BASE}[build]\nqqqqqqq = []\n`, { line: 5, path: "build.qqqqqqq", message: /unknown key/, hint: /^remove it; keys allowed here: / });
    for (const k of ["requirements", "pip_args", "include", "exclude", "steps", "minify", "compression", "out", "signing_key"]) {
      assert.ok(p.hint!.includes(k), `${k} missing from ${p.hint}`);
    }
  });

  test("in [deploy.migrations] and [deploy.hooks] (tables with defaults)", () => {
    expectOne(`${BASE}[deploy.migrations]\npolcy = "warn"\n`, { line: 5, path: "deploy.migrations.polcy", message: /unknown key/, hint: /`policy`/ });
    expectOne(`${BASE}[deploy.hooks]\nbefore = []\n`, {
      line: 5,
      path: "deploy.hooks.before",
      message: /unknown key/,
      hint: /keys allowed here: before_switch, after_switch/,
    });
  });

  test("in a target, with did-you-mean", () => {
    expectOne(`${TARGET}hostz = 1\n`, { line: 6, path: "targets.s.hostz", message: /unknown key/, hint: /did you mean `hosts`\?/ });
  });

  test("in a target's sub-table", () => {
    expectOne(`${TARGET}[targets.s.restart]\nprogram = ["x"]\n`, {
      line: 7,
      path: "targets.s.restart.program",
      message: /unknown key/,
      hint: /`programs`/,
    });
    expectOne(`${TARGET}[targets.s.haproxy]\nsocket = "/s"\nbackend = "b"\nserver = {}\n`, {
      line: 9,
      path: "targets.s.haproxy.server",
      message: /unknown key/,
      hint: /`servers`/,
    });
  });

  test("in an inline table (ssh = { ... }), with did-you-mean", () => {
    expectOne(`${TARGET}ssh = { identty = "x" }\n`, { line: 6, path: "targets.s.ssh.identty", message: /unknown key/, hint: /did you mean `identity`\?/ });
  });

  test("in an inline table, without a close match", () => {
    expectOne(`${TARGET}ssh = { zzzzzzz = "x" }\n`, {
      line: 6,
      path: "targets.s.ssh.zzzzzzz",
      message: /unknown key/,
      hint: /keys allowed here: config, identity, known_hosts, options/,
    });
  });

  test("a key on the second line of a multi-line inline table names that line", () => {
    expectOne(`${TARGET}ssh = { config = "x",\n  optons = [] }\n`, {
      line: 7,
      path: "targets.s.ssh.optons",
      message: /unknown key/,
      hint: /did you mean `options`\?/,
    });
  });
});

describe("wrong types", () => {
  test("a string where an array is expected", () => {
    expectOne(`${BASE}[build]\nexclude = "x"\n`, { line: 5, path: "build.exclude", message: /^expected an array, got "x" \(string\)$/ });
  });

  test("a number where a string is expected", () => {
    expectOne(`${BASE}[build]\nout = 3\n`, { line: 5, path: "build.out", message: /^expected a string, got 3 \(number\)$/ });
  });

  test("a table where an array is expected", () => {
    expectOne(`${BASE}[build]\nsteps = { a = 1 }\n`, { line: 5, path: "build.steps", message: /^expected an array, got a table$/ });
  });

  test("an array where a string is expected", () => {
    expectOne(`${BASE}[build]\ncompression = ["zstd"]\n`, { line: 5, path: "build.compression", message: /got an array/ });
  });

  test("a wrong element type inside an array points at the element's line", () => {
    expectOne(`${BASE}[build]\nsteps = [\n  "ok",\n  3,\n]\n`, { line: 7, path: "build.steps[1]", message: /expected a string, got 3/ });
  });

  test("an empty string in an array that needs non-empty strings", () => {
    expectOne(`${BASE}[build]\nrequirements = ["", "x"]\n`, { line: 5, path: "build.requirements[0]", message: /^must not be empty$/ });
  });

  test("a missing required key of a target points at the target's table", () => {
    expectOne(`${BASE}[targets.s]\nbatch = 1\n`, { line: 4, path: "targets.s.hosts", message: /is required \(an array\)/ });
  });

  test("empty hosts", () => {
    expectOne(`${BASE}[targets.s]\nhosts = []\n`, { line: 5, path: "targets.s.hosts", message: /needs at least 1 item/ });
  });

  test("haproxy without its required socket", () => {
    expectOne(`${TARGET}[targets.s.haproxy]\nbackend = "b"\n`, { line: 6, path: "targets.s.haproxy.socket", message: /is required \(a string\)/ });
  });
});

describe("bad enum values", () => {
  const cases: [string, string, number, string, RegExp][] = [
    ["compression", `${BASE}[build]\ncompression = "xz"\n`, 5, "build.compression", /must be one of "zstd", "gzip", got "xz"/],
    ["policy", `${BASE}[deploy.migrations]\npolicy = "auto"\n`, 5, "deploy.migrations.policy", /must be one of "warn", "block", "run", got "auto"/],
    [
      "manager",
      `${TARGET}[targets.s.restart]\nmanager = "upstart"\n`,
      7,
      "targets.s.restart.manager",
      /must be one of "supervisord", "systemd", "command", "none", got "upstart"/,
    ],
    ["transport", `${TARGET}transport = "rsh"\n`, 6, "targets.s.transport", /must be one of "ssh", "local", got "rsh"/],
    ["on_failure", `${TARGET}on_failure = "ignore"\n`, 6, "targets.s.on_failure", /must be one of "rollback-all", "stop", got "ignore"/],
  ];
  for (const [what, text, line, path, message] of cases) {
    test(what, () => {
      expectOne(text, { line, path, message });
    });
  }
});

describe("batch", () => {
  const BATCH = /must be a host count \(1 or more\) or a percentage from 1% to 100%/;
  test("batch = 0", () => {
    expectOne(`${TARGET}batch = 0\n`, { line: 6, path: "targets.s.batch", message: /at least 1, got 0/ });
  });
  test("batch = -2", () => {
    expectOne(`${TARGET}batch = -2\n`, { line: 6, path: "targets.s.batch", message: /at least 1/ });
  });
  test('batch = "0%"', () => {
    expectOne(`${TARGET}batch = "0%"\n`, { line: 6, path: "targets.s.batch", message: BATCH });
  });
  test('batch = "101%"', () => {
    expectOne(`${TARGET}batch = "101%"\n`, { line: 6, path: "targets.s.batch", message: BATCH });
  });
  test('batch = "abc"', () => {
    expectOne(`${TARGET}batch = "abc"\n`, { line: 6, path: "targets.s.batch", message: BATCH });
  });
  test('batch = "3" (a count as a string)', () => {
    expectOne(`${TARGET}batch = "3"\n`, { line: 6, path: "targets.s.batch", message: BATCH });
  });
  test("batch = 1.5", () => {
    expectOne(`${TARGET}batch = 1.5\n`, { line: 6, path: "targets.s.batch", message: BATCH });
  });
});

describe("durations", () => {
  const DURATION = /expected a duration such as "500ms", "35s" or "2m", got/;
  for (const bad of ["30", "5 s", "", "1d", "-1s"]) {
    test(`health.timeout = ${JSON.stringify(bad)}`, () => {
      expectOne(`${TARGET}[targets.s.health]\ntimeout = ${JSON.stringify(bad)}\n`, { line: 7, path: "targets.s.health.timeout", message: DURATION });
    });
  }
  test("haproxy.drain_timeout", () => {
    expectOne(`${TARGET}[targets.s.haproxy]\nsocket = "/s"\nbackend = "b"\ndrain_timeout = "35"\n`, {
      line: 9,
      path: "targets.s.haproxy.drain_timeout",
      message: DURATION,
    });
  });
  test("a duration given as a number", () => {
    expectOne(`${TARGET}health = { timeout = 30 }\n`, { line: 6, path: "targets.s.health.timeout", message: /expected a string, got 30/ });
  });
});

describe("ssh destinations and target names", () => {
  const SSH = /must be an ssh destination like deploy@app-01/;
  test('a leading "-" (would be read as an ssh option)', () => {
    expectOne(`${BASE}[targets.s]\nhosts = ["ok", "-oProxyCommand=x"]\n`, { line: 5, path: "targets.s.hosts[1]", message: SSH });
  });
  test('a leading "-" after the user', () => {
    expectOne(`${BASE}[targets.s]\nhosts = ["deploy@-oProxyCommand=x"]\n`, { line: 5, path: "targets.s.hosts[0]", message: SSH });
  });
  test("a space", () => {
    expectOne(`${BASE}[targets.s]\nhosts = ["a b"]\n`, { line: 5, path: "targets.s.hosts[0]", message: SSH });
  });
  test("a;b", () => {
    expectOne(`${BASE}[targets.s]\nhosts = ["a;b"]\n`, { line: 5, path: "targets.s.hosts[0]", message: /ssh destination.*got "a;b"/ });
  });
  test("a host on its own line of a multi-line array", () => {
    expectOne(`${BASE}[targets.s]\nhosts = [\n  "ok",\n  "$(reboot)",\n]\n`, { line: 7, path: "targets.s.hosts[1]", message: SSH });
  });
  test("a port out of range", () => {
    for (const host of ["a:99999", "a:0"]) {
      expectOne(`${BASE}[targets.s]\nhosts = ["${host}"]\n`, { line: 5, path: "targets.s.hosts[0]", message: SSH });
    }
  });

  test("bad target name: the problem is on the target's table line and path", () => {
    const p = expectOne(`${BASE}[targets.Prod]\nhosts = ["a"]\n`, { line: 4, path: "targets.Prod", message: /./ });
    assert.notEqual(p.message, "");
  });
  test("bad target name: quoted names keep their quotes in the path", () => {
    expectOne(`${BASE}[targets."Bad Name"]\nhosts = ["a"]\n`, { line: 4, path: 'targets."Bad Name"', message: /./ });
  });
  test("bad target name: the message says what a target name must look like", () => {
    expectOne(`${BASE}[targets.Prod]\nhosts = ["a"]\n`, {
      line: 4,
      path: "targets.Prod",
      message: /target names must match \[a-z0-9\]\[a-z0-9._-\]\{0,63\}/,
    });
    const p = problems(`${BASE}[targets.Prod]\nhosts = ["a"]\n`)[0]!;
    assert.doesNotMatch(p.message, /got a table/, "the problem is the name, not the table's value");
  });
});

describe("deploy values", () => {
  const SHARED = /must be a relative path of plain names \(no \.\., no leading \/\)/;
  test('shared with ".."', () => {
    expectOne(`${BASE}[deploy]\nshared = ["../x"]\n`, { line: 5, path: "deploy.shared[0]", message: SHARED });
  });
  test('shared with ".." in the middle', () => {
    expectOne(`${BASE}[deploy]\nshared = ["media", "a/../b"]\n`, { line: 5, path: "deploy.shared[1]", message: SHARED });
  });
  test('shared with a leading "/"', () => {
    expectOne(`${BASE}[deploy]\nshared = ["/x"]\n`, { line: 5, path: "deploy.shared[0]", message: SHARED });
  });
  test("shared with nested plain names is fine", () => {
    assert.deepEqual(parseConfig(`${BASE}[deploy]\nshared = ["media", "var/logs"]\n`, FILE).deploy.shared, ["media", "var/logs"]);
  });
  test("keep_releases = 0", () => {
    expectOne(`${BASE}[deploy]\nkeep_releases = 0\n`, { line: 5, path: "deploy.keep_releases", message: /^must be at least 1, got 0 \(number\)$/ });
  });
  test("keep_releases = 1.5", () => {
    expectOne(`${BASE}[deploy]\nkeep_releases = 1.5\n`, { line: 5, path: "deploy.keep_releases", message: /integer|1\.5/ });
  });
  test("ssh.options not Name=value", () => {
    expectOne(`${TARGET}ssh = { options = ["ConnectTimeout=5", "-v"] }\n`, {
      line: 6,
      path: "targets.s.ssh.options[1]",
      message: /must look like "Name=value", got "-v"/,
    });
  });
});

describe("cross-field rules (src/config/rules.ts)", () => {
  test('policy = "run" without run', () => {
    expectOne(`${BASE}[deploy.migrations]\npolicy = "run"\n`, {
      line: 4,
      path: "deploy.migrations.run",
      message: /^is empty but policy = "run"$/,
      hint: /set run to the command that applies migrations/,
    });
  });

  test('policy = "run" with run is fine', () => {
    assert.equal(parseConfig(`${BASE}[deploy.migrations]\npolicy = "run"\nrun = "migrate"\n`, FILE).deploy.migrations.run, "migrate");
  });

  test("supervisord without programs", () => {
    expectOne(`${TARGET}[targets.s.restart]\nmanager = "supervisord"\n`, {
      line: 6,
      path: "targets.s.restart.programs",
      message: /^is empty but manager = "supervisord"$/,
      hint: /list the programs to restart/,
    });
  });

  test("systemd without programs (units)", () => {
    expectOne(`${TARGET}[targets.s.restart]\nmanager = "systemd"\n`, {
      line: 6,
      path: "targets.s.restart.programs",
      message: /^is empty but manager = "systemd"$/,
      hint: /list the units to restart/,
    });
  });

  test("restart.command with a non-command manager", () => {
    expectOne(`${TARGET}[targets.s.restart]\nmanager = "systemd"\nprograms = ["app"]\ncommand = "x"\n`, {
      line: 9,
      path: "targets.s.restart.command",
      message: /only used with manager = "command" \(manager is "systemd"\)/,
      hint: /remove it, or set manager = "command"/,
    });
  });

  test("health with both url and command", () => {
    expectOne(`${TARGET}[targets.s.health]\nurl = "http://127.0.0.1/h"\ncommand = "true"\n${NO_RESTART()}`, {
      line: 6,
      path: "targets.s.health",
      message: /sets both url and command/,
      hint: /keep one/,
    });
  });

  test("a non-http health url", () => {
    expectOne(`${TARGET}[targets.s.health]\nurl = "ftp://x/"\n${NO_RESTART()}`, {
      line: 7,
      path: "targets.s.health.url",
      message: /must be an http:\/\/ or https:\/\/ URL/,
    });
  });

  test("a health url with a space", () => {
    expectOne(`${TARGET}health = { url = "http://x/a b" }\n${NO_RESTART()}`, { line: 6, path: "targets.s.health.url", message: /http:\/\/ or https:\/\// });
  });

  test("local transport with two hosts", () => {
    expectOne(`${BASE}[targets.s]\nhosts = ["a", "b"]\ntransport = "local"\n${NO_RESTART()}`, {
      line: 5,
      path: "targets.s.hosts",
      message: /transport = "local".*exactly one host/,
    });
  });

  test("local transport with one host is fine", () => {
    assert.equal(parseConfig(`${BASE}[targets.s]\nhosts = ["localhost"]\ntransport = "local"\n${NO_RESTART()}`, FILE).targets["s"]!.transport, "local");
  });

  test("a duplicate host points at the second occurrence", () => {
    expectOne(`${BASE}[targets.s]\nhosts = [\n  "a",\n  "b",\n  "a",\n]\n${NO_RESTART()}`, { line: 8, path: "targets.s.hosts[2]", message: /^lists a twice$/ });
  });

  test("a haproxy server naming a host not in hosts", () => {
    expectOne(
      `${BASE}[targets.s]\nhosts = ["deploy@a"]\n[targets.s.haproxy]\nsocket = "/s"\nbackend = "b"\nservers = { "deploy@a" = "a1", "deploy@c" = "c1" }\n${NO_RESTART()}`,
      {
        line: 9,
        path: 'targets.s.haproxy.servers."deploy@c"',
        message: /names deploy@c, which is not in targets\.s\.hosts/,
        hint: /exactly as written in hosts/,
      },
    );
  });

  test("rules are checked in every target", () => {
    const ps = problems(`${BASE}[targets.a]\nhosts = ["x", "x"]\n[targets.b]\nhosts = ["y", "y"]\n${NO_RESTART("a")}${NO_RESTART("b")}`);
    assert.deepEqual(
      ps.map((p) => [p.line, p.path]),
      [
        [5, "targets.a.hosts[1]"],
        [7, "targets.b.hosts[1]"],
      ],
    );
  });

  test("rule problems are sorted by line too", () => {
    const ps = problems(`${BASE}[targets.s]\nhosts = ["a", "a"]\n[targets.s.restart]\nmanager = "supervisord"\n`);
    assert.deepEqual(
      ps.map((p) => p.line),
      [5, 6],
    );
  });
});

describe("pyproject.toml", () => {
  test("without [tool.slipway]", () => {
    const err = configError(`[project]\nname = "x"\n`, "pyproject.toml", true);
    assert.equal(err.problems.length, 1);
    assert.deepEqual(err.problems[0], { file: "pyproject.toml", path: "tool.slipway", message: "pyproject.toml has no [tool.slipway] table" });
    assert.match(err.hint ?? "", /add \[tool\.slipway\.app\] with name and root, or run `slipway init`/);
    assert.equal(err.exitCode, 2);
  });

  test("with [tool] but no slipway", () => {
    const err = configError(`[tool.black]\nline-length = 100\n`, "pyproject.toml", true);
    assert.equal(err.problems[0]!.path, "tool.slipway");
  });

  test("problems inside [tool.slipway...] carry the pyproject's own line numbers", () => {
    const text = `[project]\nname = "x"\n\n[tool.slipway.app]\nname = "A"\nroot = "/srv/a"\n\n[tool.slipway.build]\noutt = "d"\n`;
    const ps = problems(text, "pyproject.toml", true);
    assert.deepEqual(
      ps.map((p) => [p.file, p.line, p.path]),
      [
        ["pyproject.toml", 5, "app.name"],
        ["pyproject.toml", 9, "build.outt"],
      ],
    );
    assert.match(ps[1]!.hint ?? "", /did you mean `out`\?/);
  });

  test("a missing key in [tool.slipway.app] points at that table", () => {
    expectOne(`[project]\nname = "x"\n[tool.slipway.app]\nname = "a"\n`, { line: 3, path: "app.root", message: /is required/ }, "pyproject.toml", true);
  });

  test("a rule problem in pyproject carries its line", () => {
    expectOne(
      `[project]\nname = "x"\n[tool.slipway.app]\nname = "a"\nroot = "/srv/a"\n[tool.slipway.deploy.migrations]\npolicy = "run"\n`,
      { line: 6, path: "deploy.migrations.run", message: /is empty but policy = "run"/ },
      "pyproject.toml",
      true,
    );
  });

  test("[tool.slipway] in a plain slipway.toml is an unknown key (and [app] is missing)", () => {
    const ps = problems(`[tool.slipway.app]\nname = "a"\nroot = "/srv/a"\n`);
    assert.deepEqual(
      ps.map((p) => [p.path, p.message]),
      [
        ["app", "is required (a table)"],
        ["tool", "unknown key"],
      ],
    );
  });
});

describe("tables created implicitly by a sub-table header", () => {
  const IMPLICIT =
    "toml.ts parseTomlWithLines records a line only for a header's full key (`targets.s.restart`), not for the tables it creates implicitly (`targets.s`, `tool`): a problem on those has no file:line";
  test("a problem on the sub-table itself has its line", () => {
    expectOne(`${BASE}[targets.s]\nhosts = ["a"]\n[targets.s.restart]\nmanager = "supervisord"\n`, {
      line: 6,
      path: "targets.s.restart.programs",
      message: /is empty/,
    });
  });
  test("a missing key of an implicitly created target names the sub-table's line", () => {
    expectOne(`${BASE}[targets.s.restart]\nmanager = "command"\n`, { line: 4, path: "targets.s.hosts", message: /is required \(an array\)/ });
  });
  test("a rule problem on an implicitly created target has a line", () => {
    const ps = problems(`${BASE}[targets.s.health]\nurl = "http://x/"\ncommand = "true"\n`);
    assert.ok(
      ps.every((p) => p.line !== undefined),
      ps.map(formatProblem).join("\n"),
    );
  });
  test("an unknown implicit top-level table has a line", () => {
    const ps = problems(`[tool.slipway.app]\nname = "a"\nroot = "/srv/a"\n`);
    const tool = ps.find((p) => p.path === "tool");
    assert.equal(tool?.line, 1);
  });
});

describe("several problems at once", () => {
  test("are all reported, sorted by line", () => {
    const text = `${BASE}[build]\ncompression = "xz"\nout = 3\n[deploy]\nkeep_releases = 0\n`;
    const ps = problems(text);
    assert.deepEqual(
      ps.map((p) => [p.line, p.path]),
      [
        [5, "build.compression"],
        [6, "build.out"],
        [8, "deploy.keep_releases"],
      ],
    );
    const msg = configError(text).message.split("\n");
    assert.equal(msg.length, 3);
    assert.ok(msg[0]!.startsWith("slipway.toml:5: build.compression:"));
    assert.ok(msg[2]!.startsWith("slipway.toml:8: deploy.keep_releases:"));
  });

  test("sorted by line even when the file is written out of schema order", () => {
    const text = `[targets.s]\nhosts = ["a b"]\n[app]\nname = "A"\nroot = "/srv/a"\n[build]\nexclud = []\n`;
    assert.deepEqual(
      problems(text).map((p) => [p.line, p.path]),
      [
        [2, "targets.s.hosts[0]"],
        [4, "app.name"],
        [7, "build.exclud"],
      ],
    );
  });

  test("a problem without a line (missing [app]) comes first", () => {
    const ps = problems(`[build]\nout = 3\n`);
    assert.deepEqual(
      ps.map((p) => [p.line, p.path]),
      [
        [undefined, "app"],
        [2, "build.out"],
      ],
    );
  });

  test("two unknown keys in one table are two problems", () => {
    const ps = problems(`${BASE}[build]\nfoo = 1\nbar = 2\n`);
    assert.deepEqual(
      ps.map((p) => [p.line, p.path]),
      [
        [5, "build.foo"],
        [6, "build.bar"],
      ],
    );
  });

  test("schema problems stop before the rules (rules only see a valid config)", () => {
    const ps = problems(`${BASE}[build]\nout = 3\n[deploy.migrations]\npolicy = "run"\n`);
    assert.deepEqual(
      ps.map((p) => p.path),
      ["build.out"],
    );
  });
});
