// examples/django-shop, built offline with the library from Debian's packages repacked as
// wheels: what is served is minified and fingerprinted by its own bytes, and a release of it
// runs against a real PostgreSQL and a real Redis (migrations, gunicorn, a Celery worker
// that processes each task exactly once, the worker role's health command).
import assert from "node:assert/strict";
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdir, readFile, realpath, symlink, writeFile } from "node:fs/promises";
import path from "node:path";
import { after, before, test } from "node:test";
import { promisify } from "node:util";
import { build, type BuildResult } from "../../src/commands/build.js";
import { pythonEnv } from "../support/env.js";
import { startPostgres, type TestPostgres } from "../support/postgres.js";
import { startRedis, type TestRedis } from "../support/redis.js";
import { freePort, waitForJson } from "../support/supervisor.js";
import { copyExampleApp, tmpDir } from "../support/tmp.js";
import { ensureDjangoWheelhouse } from "../support/wheelhouse.js";

const exec = promisify(execFile);
const BUILD_ID = "shop-1";

async function sh(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<string> {
  try {
    const { stdout } = await exec(cmd, args, { env: pythonEnv(), maxBuffer: 64 << 20, timeout: 120_000, ...opts });
    return stdout;
  } catch (err) {
    const e = err as Error & { stdout?: string; stderr?: string };
    throw new Error(`${cmd} ${args.join(" ")} failed:\n${e.stdout ?? ""}${e.stderr ?? e.message}`);
  }
}

let dir = "";
let app = "";
let root = "";
let result: BuildResult;
let unpacked = "";

before(async () => {
  dir = await tmpDir("slipway-django");
  const wheelhouse = await ensureDjangoWheelhouse();
  root = path.join(dir, "root");
  app = await copyExampleApp("django-shop", path.join(dir, "app"), { root, pipArgs: ["--no-index", "--find-links", wheelhouse] });
  result = await build({ cwd: app, buildId: BUILD_ID, env: pythonEnv({ SLIPWAY_CACHE_DIR: path.join(dir, "cache") }) });
  unpacked = path.join(dir, "unpacked");
  await mkdir(unpacked);
  await sh("tar", ["-xf", result.artifact, "-C", unpacked]);
});

const layerFile = (name: string) => sh("tar", ["-xOf", path.join(unpacked, "code.tar.zst"), name]);

test("the collected, fingerprinted static files are the minified ones, named by the md5 of their bytes", async () => {
  const members = (await sh("tar", ["-tf", path.join(unpacked, "code.tar.zst")])).split("\n").map((m) => m.replace(/^\.\//, ""));
  const manifest = JSON.parse(await layerFile("staticfiles/staticfiles.json")) as { paths: Record<string, string> };
  for (const ext of ["css", "js"]) {
    const hashed = members.find((m) => new RegExp(`^staticfiles/shop/shop\\.[0-9a-f]{12}\\.${ext}$`).test(m));
    assert.ok(hashed, `a fingerprinted shop.${ext} in the code layer: ${members.filter((m) => m.startsWith("staticfiles/")).join(", ")}`);
    assert.equal(manifest.paths[`shop/shop.${ext}`], hashed.slice("staticfiles/".length), "staticfiles.json maps the source name to it");

    const served = await layerFile(hashed);
    const source = await readFile(path.join(app, "shop", "static", "shop", `shop.${ext}`), "utf8");
    assert.ok(served.length < source.length * 0.7, `shop.${ext} minified: ${source.length} → ${served.length} bytes`);
    assert.ok(!served.includes("/*") && !/^\s*\/\//m.test(served), `no comments left in ${hashed}:\n${served}`);
    assert.ok(!served.includes("\n    "), "no indentation left");
    // Django names a file by the first 12 hex digits of the md5 of its content: the bytes served.
    const md5 = createHash("md5").update(served).digest("hex").slice(0, 12);
    assert.equal(hashed, `staticfiles/shop/shop.${md5}.${ext}`, "the fingerprint matches the served bytes");
    assert.equal(await layerFile(`staticfiles/shop/shop.${ext}`), served, "the unhashed copy is the same bytes");
  }
  assert.ok(!members.some((m) => m === ".env" || m.endsWith(".sqlite3") || m.startsWith("data/")), "no local state in the code layer");
});

test("the venv imports django, psycopg2 (a C extension) and celery at its final path", async () => {
  const out = await sh(
    path.join(result.venv.path, "bin", "python"),
    ["-c", "import django, celery, whitenoise, psycopg2._psycopg as p; print(django.get_version(), celery.__version__, p.__file__)"],
    { cwd: "/" },
  );
  assert.match(out, /^3\.2\.\d+ 5\.\d+\.\d+ /);
  assert.ok(out.trim().endsWith(".so") && out.includes(`${result.venv.path}/lib/`), out);
});

// --- a release against real PostgreSQL and Redis ----------------------------------------

let pg: TestPostgres;
let redis: TestRedis;
const children: ChildProcess[] = [];

after(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) process.kill(-c.pid!, "SIGKILL");
  pg?.stop();
  redis?.stop();
});

/** A process in its own group (as supervisord's stopasgroup sees it), its output kept. */
function start(cmd: string, args: string[], cwd: string): { child: ChildProcess; output: () => string; exited: Promise<number | null> } {
  const child = spawn(cmd, args, { cwd, env: pythonEnv(), detached: true, stdio: ["ignore", "pipe", "pipe"] });
  children.push(child);
  let output = "";
  child.stdout!.on("data", (d) => (output += d));
  child.stderr!.on("data", (d) => (output += d));
  const exited = new Promise<number | null>((ok) => child.once("exit", (code) => ok(code)));
  return { child, output: () => output, exited };
}

/** The key = value lines of one [program:name] section of a supervisord config. */
async function supervisorProgram(file: string, name: string): Promise<Record<string, string>> {
  const text = await readFile(file, "utf8");
  const body = text.split(/^\[/m).find((s) => s.startsWith(`program:${name}]`));
  assert.ok(body, `[program:${name}] in ${file}`);
  return Object.fromEntries(
    body
      .split("\n")
      .slice(1)
      .filter((l) => /^\w+\s*=/.test(l))
      .map((l) => {
        const [k, ...v] = l.split("=");
        return [k!.trim(), v.join("=").trim()];
      }),
  );
}

async function until<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>, detail = () => ""): Promise<T> {
  for (const deadline = Date.now() + timeoutMs; Date.now() < deadline; ) {
    const v = await probe();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${what} within ${timeoutMs} ms\n${detail()}`);
}

test("a release migrates PostgreSQL, serves /health and its assets under gunicorn, and its worker processes each task once", async () => {
  [pg, redis] = await Promise.all([startPostgres(), startRedis()]);

  // Lay the release out as a host has it: code layer + slipway.json, the venv and the shared
  // dirs linked in, and the .env that deploy.linked_files would link from <root>/shared.
  const release = path.join(root, "releases", BUILD_ID);
  await mkdir(release, { recursive: true });
  await sh("tar", ["-xf", path.join(unpacked, "code.tar.zst"), "-C", release]);
  await writeFile(path.join(release, "slipway.json"), await readFile(path.join(unpacked, "slipway.json")));
  await symlink(result.venv.path, path.join(release, "virtualenv"));
  await mkdir(path.join(root, "shared", "data"), { recursive: true });
  await symlink(path.join(root, "shared", "data"), path.join(release, "data"));
  await writeFile(
    path.join(root, "shared", ".env"),
    [
      "SECRET_KEY=a-test-secret-key-that-is-long-enough-for-django-0123456789",
      `DATABASE_URL=${pg.url}`,
      `CELERY_BROKER_URL=${redis.url}`,
      "ALLOWED_HOSTS=127.0.0.1,localhost",
      "",
    ].join("\n"),
  );
  await symlink(path.join(root, "shared", ".env"), path.join(release, ".env"));
  await symlink(`releases/${BUILD_ID}`, path.join(root, "current"));
  const current = path.join(root, "current");
  const py = path.join(current, "virtualenv", "bin", "python");
  const manage = (...args: string[]) => sh(py, ["manage.py", ...args], { cwd: current });

  // The migrations the config's [deploy.migrations] runs.
  assert.match(await manage("showmigrations", "--plan"), /\[ \]\s+orders\.0001_initial/);
  assert.match(await manage("migrate", "--noinput"), /Applying orders\.0001_initial\.\.\. OK/);
  assert.match(await manage("showmigrations", "--plan"), /\[X\]\s+orders\.0001_initial/);
  assert.equal(await pg.sql("SELECT count(*) FROM django_migrations WHERE app = 'orders'"), "1");
  // The environment wins over .env; a unix socket dir is a %-encoded host.
  const viaSocket = `postgres://${pg.user}@${encodeURIComponent(pg.socketDir)}:${pg.port}/${pg.database}`;
  assert.match(
    await sh(py, ["manage.py", "showmigrations", "--plan"], { cwd: current, env: pythonEnv({ DATABASE_URL: viaSocket }) }),
    /\[X\]\s+orders\.0001_initial/,
  );

  // gunicorn, from `current` as supervisord runs it.
  const port = await freePort();
  const web = start(path.join(current, "virtualenv", "bin", "gunicorn"), ["shop.wsgi:application", "--bind", `127.0.0.1:${port}`, "--workers", "1"], current);
  const health = await waitForJson(`http://127.0.0.1:${port}/health`, 30_000).catch((err: Error) => {
    throw new Error(`${err.message}\n${web.output()}`);
  });
  assert.deepEqual(health, { status: "ok", build_id: BUILD_ID, release: await realpath(release), database: "postgresql" });
  const page = await (await fetch(`http://127.0.0.1:${port}/`)).text();
  for (const ext of ["css", "js"]) {
    const url = new RegExp(`/static/shop/shop\\.[0-9a-f]{12}\\.${ext}`).exec(page)?.[0];
    assert.ok(url, `the page links the fingerprinted shop.${ext}:\n${page}`);
    const res = await fetch(`http://127.0.0.1:${port}${url}`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get("cache-control") ?? "", /immutable/);
    assert.equal(await res.text(), await layerFile(`staticfiles${url.slice("/static".length)}`), "served: the layer's minified bytes");
  }
  // A fingerprinted file added to STATIC_ROOT after the start (another release's, bridged
  // in during a rolling deploy) is served too.
  await writeFile(path.join(release, "staticfiles", "shop", "shop.0123456789ab.css"), "body{color:red}");
  assert.equal(await (await fetch(`http://127.0.0.1:${port}/static/shop/shop.0123456789ab.css`)).text(), "body{color:red}");
  process.kill(-web.child.pid!, "SIGTERM");
  await web.exited;

  // A task enqueued with no worker waits in Redis; a worker started later runs it once.
  const first = (await manage("place_order", "order-1")).trim();
  assert.match(first, /^[0-9a-f-]{36}$/);
  assert.equal(await redis.command("LLEN celery"), ":1\r\n", "the task waits in the broker");
  const pingArgs = ["manage.py", "worker_ping", "--timeout", "3"];
  await assert.rejects(sh(py, pingArgs, { cwd: current }), /no Celery worker answered a ping/, "no worker: unhealthy");

  // The worker as the example's supervisord program runs it (deploy/celery-worker.sh), here.
  const program = await supervisorProgram(path.join(app, "deploy", "supervisord.conf"), "shop-worker");
  const [cmd, ...args] = program.command!.replaceAll("/srv/django-shop/current", current).replaceAll("%%", "%").split(/\s+/);
  assert.equal(cmd, "/bin/sh");
  assert.equal(program.directory, "/srv/django-shop/current");
  const worker = start(cmd!, args, current);
  const runsOf = (taskId: string) =>
    pg.sql(`SELECT count(*), coalesce(max(duplicates), -1), coalesce(min(build_id), '') FROM orders_taskrun WHERE task_id = '${taskId}'`);
  assert.equal(
    await until("the first task ran", 60_000, async () => ((await runsOf(first)) === "0|-1|" ? undefined : runsOf(first)), worker.output),
    `1|0|${BUILD_ID}`,
    "processed exactly once, by this release",
  );
  assert.equal(await pg.sql("SELECT processed IS NOT NULL FROM orders_order WHERE reference = 'order-1'"), "t");

  // The worker role's health command: a worker answers, and it runs the build asked for.
  assert.match(await sh(py, pingArgs, { cwd: current, env: pythonEnv({ SLIPWAY_BUILD_ID: BUILD_ID }) }), /^1 worker\(s\) answered: shop-worker@/m);
  await assert.rejects(sh(py, pingArgs, { cwd: current, env: pythonEnv({ SLIPWAY_BUILD_ID: "shop-2" }) }), /no worker runs build shop-2/);

  // A slow task, then the worker stopped as the example's supervisord program stops it: its
  // warm shutdown finishes the task, once, and leaves nothing behind.
  assert.equal(program.stopsignal, "TERM");
  assert.ok(Number(program.stopwaitsecs) >= 60, "stopwaitsecs leaves a task time to finish");
  const second = (await manage("place_order", "order-2", "--seconds", "4")).trim();
  await until("the worker received the slow task", 30_000, async () => (worker.output().includes(`[${second}] received`) ? true : undefined), worker.output);
  process.kill(program.stopasgroup === "true" ? -worker.child.pid! : worker.child.pid!, `SIG${program.stopsignal}` as NodeJS.Signals);
  const code = await Promise.race([worker.exited, new Promise<string>((r) => setTimeout(() => r("timeout"), 60_000).unref())]);
  assert.equal(code, 0, `the worker stopped cleanly after its task:\n${worker.output()}`);
  assert.equal(await runsOf(second), `1|0|${BUILD_ID}`, "the task in flight at the stop ran exactly once");
  assert.equal(await redis.command("LLEN celery"), ":0\r\n", "nothing queued");
  assert.equal(await redis.command("HLEN unacked"), ":0\r\n", "nothing left unacknowledged to be delivered again");
  await assert.rejects(sh(py, pingArgs, { cwd: current }), /no Celery worker answered a ping/, "worker stopped: unhealthy");
});
