// examples/django-shop on namespace hosts, as the issue describes a real deployment of it: h1
// and h2 run gunicorn (role web) behind a real HAProxy, h3 the Celery worker (role worker),
// PostgreSQL and Redis in the root namespace, each host's settings in <root>/shared/.env
// (deploy.linked_files). Under load through HAProxy: deploy b1, a code change b2 (new
// fingerprinted CSS), a model change b3 (a migration, policy run; new JS too), a rollback to
// b2. Asserted: no request through HAProxy fails; every asset URL of every version deployed so
// far answers 200 from every web host directly, from the moment any host switches to it; each
// task enqueued before a deploy runs exactly once; `current` everywhere as expected; the
// migration applied once, on h1.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { rmSync } from "node:fs";
import { mkdir, readFile, symlink, writeFile } from "node:fs/promises";
import http from "node:http";
import path from "node:path";
import { after, before, test } from "node:test";
import { promisify } from "node:util";
import { deploy } from "../../src/commands/deploy.js";
import { rollback } from "../../src/commands/rollback.js";
import type { SlipwayEvent } from "../../src/events.js";
import { buildWith, type Workspace } from "../support/build-app.js";
import { pythonEnv } from "../support/env.js";
import { startFleet, type TestFleet, type TestHost } from "../support/fleet.js";
import { startHaproxy, type TestHaproxy } from "../support/haproxy.js";
import { percentile, startLoad, type Sample } from "../support/load.js";
import { startPostgres, type TestPostgres } from "../support/postgres.js";
import { startRedis, type TestRedis } from "../support/redis.js";
import { copyExampleApp, tmpDir } from "../support/tmp.js";
import { ensureDjangoWheelhouse } from "../support/wheelhouse.js";

const exec = promisify(execFile);
const PORT = 8000;
const SUPERVISOR_CONF = "/srv/supervisord.conf";

let ws: Workspace;
let fleet: TestFleet;
let web: TestHost[];
let worker: TestHost;
let pg: TestPostgres;
let redis: TestRedis;
let lb: TestHaproxy;

/** One [program:name] section of the example's supervisord.conf, as text. */
function programSection(conf: string, name: string): string {
  const body = conf.split(/^(?=\[)/m).find((s) => s.startsWith(`[program:${name}]`));
  assert.ok(body, `[program:${name}] in the example's deploy/supervisord.conf`);
  return body;
}

before(async () => {
  const dir = await tmpDir("slipway-django-fleet");
  // The venv is built at the app root on this machine, and unpacked at the same path on each
  // host (whose /srv is its own): a root under /srv, unique to this run.
  const root = `/srv/slw-${randomBytes(4).toString("hex")}/django-shop`;
  process.on("exit", () => rmSync(path.dirname(root), { recursive: true, force: true }));
  const wheelhouse = await ensureDjangoWheelhouse();
  const app = await copyExampleApp("django-shop", path.join(dir, "app"), { root, pipArgs: ["--no-index", "--find-links", wheelhouse] });
  const cache = path.join(dir, "cache");
  ws = { dir, app, root, cache, wheelhouse, env: pythonEnv({ SLIPWAY_CACHE_DIR: cache }) };

  // The example's own programs, at this root, gunicorn listening on the host's address (HAProxy
  // and the asset checker reach it there), started by slipway's first restart.
  const conf = (await readFile(path.join(app, "deploy", "supervisord.conf"), "utf8")).replaceAll("/srv/django-shop", root);
  const adapt = (section: string) => section.replace(/^autostart=true$/m, "autostart=false");
  const webProgram = adapt(programSection(conf, "shop-web")).replace("--bind 127.0.0.1:8000", `--bind 0.0.0.0:${PORT}`);
  assert.match(webProgram, /--workers 2 /);
  const workerProgram = adapt(programSection(conf, "shop-worker"));
  assert.match(workerProgram, /^stopasgroup=false$/m, "the example's graceful worker stop");
  fleet = await startFleet(3, { supervisorPrograms: (i) => (i < 2 ? webProgram : workerProgram) });
  web = fleet.hosts.slice(0, 2);
  worker = fleet.hosts[2]!;
  await Promise.all(fleet.hosts.map((h) => symlink(h.supervisorConf!, path.join(h.srv, path.relative("/srv", SUPERVISOR_CONF)))));

  [pg, redis] = await Promise.all([startPostgres({ listen: [fleet.gateway], allow: [fleet.subnet] }), startRedis({ listen: [fleet.gateway] })]);
  // Django's host check: HAProxy's own checks name a Host; clients use 127.0.0.1 or a host's IP.
  lb = await startHaproxy(
    dir,
    web.map((h) => ({ name: h.name, addr: `${h.ip}:${PORT}` })),
    {
      checkHost: "localhost",
    },
  );

  // Each host's settings: <root>/shared/.env, put there by "configuration management".
  const dotenv = [
    "SECRET_KEY=a-fleet-test-secret-key-long-enough-for-django-0123456789abcdef",
    `DATABASE_URL=${pg.urlAt(fleet.gateway)}`,
    `CELERY_BROKER_URL=${redis.urlAt(fleet.gateway)}`,
    `ALLOWED_HOSTS=${[...fleet.hosts.map((h) => h.ip), "127.0.0.1", "localhost"].join(",")}`,
    "",
  ].join("\n");
  for (const h of fleet.hosts) {
    const shared = path.join(h.srv, path.relative("/srv", root), "shared");
    await mkdir(shared, { recursive: true });
    await writeFile(path.join(shared, ".env"), dotenv, { mode: 0o600 });
  }

  const config = path.join(app, "slipway.toml");
  let toml = await readFile(config, "utf8");
  // The example links its .env, bridges its assets and migrates on the web role as it is.
  assert.match(toml, /^linked_files = \[".env"\]$/m);
  assert.match(toml, /^assets = "staticfiles"$/m);
  assert.match(toml, /^role\s*= "web"/m);
  assert.match(toml, /^run\s*= "python manage\.py migrate --noinput"$/m);
  assert.match(toml, /^policy\s*= "run"$/m);
  const servers = web.map((h) => `"${h.dest}" = "${h.name}"`).join(", ");
  toml += `
[targets.fleet]
ssh = { identity = "${fleet.ssh.identity}", known_hosts = "${fleet.ssh.known_hosts}" }
[targets.fleet.roles.web]
hosts = ${JSON.stringify(web.map((h) => h.dest))}
restart = { manager = "supervisord", programs = ["shop-web"], conf = "${SUPERVISOR_CONF}" }
health = { url = "http://127.0.0.1:${PORT}/health", timeout = "60s" }
haproxy = { socket = "${lb.socket}", host = "local", backend = "app", servers = { ${servers} }, drain_timeout = "15s" }
[targets.fleet.roles.worker]
hosts = ["${worker.dest}"]
restart = { manager = "supervisord", programs = ["shop-worker"], conf = "${SUPERVISOR_CONF}" }
health = { command = "python manage.py worker_ping --timeout 2", timeout = "90s" }
`;
  await writeFile(config, toml);
});

after(async () => {
  lb?.stop();
  await fleet?.stop();
  pg?.stop();
  redis?.stop();
});

// --- the versions ---------------------------------------------------------------------------

async function editFile(rel: string, from: string | RegExp, to: string): Promise<void> {
  const file = path.join(ws.app, rel);
  const text = await readFile(file, "utf8");
  const next = text.replace(from, to);
  assert.notEqual(next, text, `edit of ${rel} applied`);
  await writeFile(file, next);
}

const MIGRATION_0002 = `from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [("orders", "0001_initial")]

    # Nullable: the release still running elsewhere inserts orders without it.
    operations = [migrations.AddField(model_name="order", name="note", field=models.CharField(max_length=200, null=True, blank=True))]
`;

/** The asset URLs a build's pages link: its staticfiles.json, read from the artifact. */
async function assetUrls(artifact: string, id: string): Promise<string[]> {
  const out = path.join(ws.dir, `layer-${id}`);
  await mkdir(out);
  await exec("tar", ["-xf", artifact, "-C", out, "code.tar.zst"]);
  const { stdout } = await exec("tar", ["-xOf", path.join(out, "code.tar.zst"), "staticfiles/staticfiles.json"], { maxBuffer: 16 << 20 });
  const manifest = JSON.parse(stdout) as { paths: Record<string, string> };
  return Object.values(manifest.paths)
    .map((p) => `/static/${p}`)
    .sort();
}

// --- what is checked while it runs ----------------------------------------------------------

function get(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { timeout: 10_000 }, (res) => {
      let body = "";
      res.on("data", (c) => (body += c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", reject);
  });
}

interface AssetProblem {
  at: number;
  host: string;
  url: string;
  status?: number;
  error?: string;
}

/**
 * Requests every URL of `urls` (which grows) from every web host directly, over and over. A
 * host whose gunicorn is being restarted answers nothing for a moment (it is out of HAProxy's
 * rotation then): connection errors are kept with their time, to be matched with restarts.
 */
function startAssetChecker(urls: Set<string>) {
  let running = true;
  let checks = 0;
  const answers: AssetProblem[] = [];
  const unanswered: AssetProblem[] = [];
  const loop = (async () => {
    while (running) {
      for (const h of web) {
        for (const url of [...urls]) {
          const at = performance.now();
          checks++;
          try {
            const res = await get(`http://${h.ip}:${PORT}${url}`);
            if (res.status !== 200) answers.push({ at, host: h.dest, url, status: res.status });
          } catch (err) {
            unanswered.push({ at, host: h.dest, url, error: (err as Error).message });
          }
        }
      }
      await new Promise((r) => setTimeout(r, 150));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return { checks, answers, unanswered };
    },
  };
}

/** When each host was out of service: from its drain (or restart) to its health check passing. */
class Windows {
  readonly spans: { host: string; from: number; to: number }[] = [];
  private open = new Map<string, number>();
  event(e: SlipwayEvent): void {
    if (e.type !== "host") return;
    const now = performance.now();
    if ((e.step === "drain" || e.step === "restart") && e.status === "start" && !this.open.has(e.host)) this.open.set(e.host, now);
    if ((e.step === "health" || e.step === "ready") && e.status !== "start" && this.open.has(e.host)) {
      this.spans.push({ host: e.host, from: this.open.get(e.host)!, to: now });
      this.open.delete(e.host);
    }
  }
  covers(p: AssetProblem): boolean {
    return this.spans.some((s) => s.host === p.host && p.at >= s.from && p.at <= s.to) || this.open.has(p.host);
  }
}

// --- the test -------------------------------------------------------------------------------

test("django-shop on 2 web hosts behind HAProxy and a worker host: code change, migration, rollback under load", { timeout: 900_000 }, async () => {
  const [h1, h2] = web as [TestHost, TestHost];
  const currentOf = (h: TestHost) => h.exec(["sh", "-c", 'readlink "$1" || true', "sh", `${ws.root}/current`]).then((s) => s.trim());
  const expectCurrent = async (id: string, step: string) => {
    for (const h of fleet.hosts) assert.equal(await currentOf(h), `releases/${id}`, `after ${step}: ${h.name}'s current`);
  };

  // Three versions, built before the load starts (builds take the CPU a load would want).
  const b1 = (await buildWith(ws, "b1")).result.artifact;
  await editFile("shop/static/shop/shop.css", /$/, "\n/* b2: a code change */\n.shop h1 {\n    letter-spacing: 0.02em;\n}\n");
  const b2 = (await buildWith(ws, "b2")).result.artifact;
  await editFile(
    "orders/models.py",
    "    processed = models.DateTimeField(null=True, blank=True)\n",
    "    processed = models.DateTimeField(null=True, blank=True)\n    note = models.CharField(max_length=200, null=True, blank=True)\n",
  );
  await writeFile(path.join(ws.app, "orders", "migrations", "0002_order_note.py"), MIGRATION_0002);
  await editFile("shop/static/shop/shop.js", '"healthy: build "', '"healthy, build "');
  const b3 = (await buildWith(ws, "b3")).result.artifact;
  const assets = { b1: await assetUrls(b1, "b1"), b2: await assetUrls(b2, "b2"), b3: await assetUrls(b3, "b3") };
  const cssJs = (urls: string[]) => urls.filter((u) => /\/shop\.[0-9a-f]{12}\.(css|js)$/.test(u));
  assert.equal(cssJs(assets.b1).length, 2);
  assert.notDeepEqual(cssJs(assets.b2), cssJs(assets.b1), "b2's CSS has a new name");
  assert.notDeepEqual(cssJs(assets.b3), cssJs(assets.b2), "b3's JS has a new name");

  const checked = new Set<string>();
  const windows = new Windows();
  const wall: Record<string, number> = {};
  const migrateHosts: Record<string, string[]> = {};
  /** Runs a deploy or rollback; `to`'s asset URLs join the checked ones when a host first switches to it. */
  const workerRestart: Record<string, number> = {};
  const step = async (label: string, to: keyof typeof assets, run: (emit: (e: SlipwayEvent) => void) => Promise<unknown>, also?: (e: SlipwayEvent) => void) => {
    migrateHosts[label] = [];
    const emit = (e: SlipwayEvent) => {
      windows.event(e);
      also?.(e);
      if (e.type === "host" && e.host === worker.dest && e.step === "restart" && e.status === "done") workerRestart[label] = e.ms;
      if (e.type === "host" && (e.step === "switch" || e.step === "rollback") && e.status === "start") for (const u of assets[to]) checked.add(u);
      // The check and the run are each a "migrate" step: count hosts.
      if (e.type === "host" && e.step === "migrate" && e.status === "start" && !migrateHosts[label]!.includes(e.host)) migrateHosts[label]!.push(e.host);
    };
    const t0 = performance.now();
    await run(emit);
    wall[label] = Math.round(performance.now() - t0);
    for (const u of assets[to]) checked.add(u);
  };

  // A task enqueued on the worker host, from its current release; it must run exactly once.
  const tasks: { label: string; id: string; reference: string }[] = [];
  const enqueue = async (label: string, seconds = 2) => {
    const reference = `order-${label.replaceAll(" ", "-")}`;
    const out = await worker.exec([
      "sh",
      "-c",
      'cd "$1/current" && exec virtualenv/bin/python manage.py place_order "$2" --seconds "$3"',
      "sh",
      ws.root,
      reference,
      String(seconds),
    ]);
    const id = out.trim().split("\n").at(-1)!;
    assert.match(id, /^[0-9a-f-]{36}$/, out);
    tasks.push({ label, id, reference });
  };
  const ranOnce = async (t: (typeof tasks)[number]) => {
    const query = `SELECT count(*), coalesce(max(duplicates), -1) FROM orders_taskrun WHERE task_id = '${t.id}'`;
    for (const deadline = Date.now() + 120_000; Date.now() < deadline; ) {
      if ((await pg.sql(query)) !== "0|-1") break;
      await new Promise((r) => setTimeout(r, 500));
    }
    const broker = `broker: ${(await redis.command("LLEN celery")).trim()} queued, ${(await redis.command("HLEN unacked")).trim()} unacked`;
    assert.equal(await pg.sql(query), "1|0", `the task enqueued at ${t.label} ran exactly once (${broker})`);
    assert.equal(await pg.sql(`SELECT processed IS NOT NULL FROM orders_order WHERE reference = '${t.reference}'`), "t");
  };
  const pageLinks = async (id: string) => {
    const page = await get(`http://127.0.0.1:${lb.port}/`);
    assert.equal(page.status, 200);
    assert.ok(page.body.includes(`<code id="build-id">${id}</code>`), `the page comes from ${id}`);
    const linked = [...page.body.matchAll(/\/static\/[^"]+/g)].map((m) => m[0]).sort();
    assert.deepEqual(linked, cssJs(assets[id as keyof typeof assets]), `${id}'s page links its own fingerprinted files`);
  };

  // b1, before any load: migrations create the schema, on h1 only.
  await step("deploy b1", "b1", (emit) => deploy({ cwd: ws.app, artifact: b1, target: "fleet", emit }));
  await expectCurrent("b1", "deploy b1");
  assert.deepEqual(migrateHosts["deploy b1"], [h1.dest], "migrations ran on the web role's first host");
  for (const h of fleet.hosts) assert.equal((await h.exec(["readlink", `${ws.root}/releases/b1/.env`])).trim(), `${ws.root}/shared/.env`);
  await pageLinks("b1");

  const pages = startLoad(`http://127.0.0.1:${lb.port}/`, { concurrency: 2, maxMs: 600_000 });
  const healths = startLoad(`http://127.0.0.1:${lb.port}/health`, { concurrency: 1, maxMs: 600_000 });
  const checker = startAssetChecker(checked);
  const phase = (l: string) => {
    pages.phase(l);
    healths.phase(l);
  };
  let samples: Sample[] = [];
  let healthSamples: Sample[] = [];
  let assetResult: Awaited<ReturnType<ReturnType<typeof startAssetChecker>["stop"]>> | undefined;
  try {
    await new Promise((r) => setTimeout(r, 2000));

    await enqueue("deploy b2");
    phase("deploy b2");
    await step("deploy b2", "b2", (emit) => deploy({ cwd: ws.app, artifact: b2, target: "fleet", emit }));
    phase("after deploy b2");
    await expectCurrent("b2", "deploy b2");
    await pageLinks("b2");
    assert.equal(await pg.sql("SELECT count(*) FROM django_migrations WHERE app = 'orders'"), "1", "b2 has no new migration");

    await enqueue("deploy b3");
    phase("deploy b3");
    // One more, slow, enqueued as the web role's last host is checked, around the worker's
    // restart: the old worker's warm shutdown finishes it, or the new worker takes it from the
    // queue; either way it runs exactly once.
    let during: Promise<void> | undefined;
    await step(
      "deploy b3",
      "b3",
      (emit) => deploy({ cwd: ws.app, artifact: b3, target: "fleet", emit }),
      (e) => {
        if (e.type === "host" && e.host === h2.dest && e.step === "health" && e.status === "start") during ??= enqueue("deploy b3 (web done)", 6);
      },
    );
    assert.ok(during, "a task was enqueued during deploy b3");
    await during;
    phase("after deploy b3");
    await expectCurrent("b3", "deploy b3");
    await pageLinks("b3");
    assert.deepEqual(migrateHosts["deploy b3"], [h1.dest], "b3's migration ran on h1 only");

    await enqueue("rollback");
    phase("rollback");
    await step("rollback", "b2", (emit) => rollback({ cwd: ws.app, target: "fleet", emit }));
    phase("after rollback");
    await expectCurrent("b2", "rollback");
    await pageLinks("b2");
    await new Promise((r) => setTimeout(r, 2000));
  } finally {
    assetResult = await checker.stop();
    samples = await pages.stop();
    healthSamples = await healths.stop();
  }

  // Each task once, and nothing run twice.
  for (const t of tasks) await ranOnce(t);
  assert.equal(await pg.sql("SELECT count(*), coalesce(sum(duplicates), 0) FROM orders_taskrun"), `${tasks.length}|0`);

  // The migration: applied once, kept by the rollback (which runs no migration).
  assert.equal(await pg.sql("SELECT count(*) FROM django_migrations WHERE app = 'orders' AND name = '0002_order_note'"), "1");
  assert.equal(await pg.sql("SELECT count(*) FROM information_schema.columns WHERE table_name = 'orders_order' AND column_name = 'note'"), "1");
  assert.deepEqual(migrateHosts["rollback"], []);

  // The worker runs b2 again; the web hosts answer as b2.
  assert.match(
    await worker.exec(["sh", "-c", 'cd "$1/current" && SLIPWAY_BUILD_ID=b2 exec virtualenv/bin/python manage.py worker_ping --timeout 3', "sh", ws.root]),
    /1 worker\(s\) answered: shop-worker@h3/,
  );
  for (const h of web) assert.equal(JSON.parse((await get(`http://${h.ip}:${PORT}/health`)).body).build_id, "b2");

  // Through HAProxy: nothing failed, and after each step every answer came from its build.
  const all = [...samples, ...healthSamples];
  const failed = all.filter((s) => s.error || s.status < 200 || s.status >= 300);
  assert.equal(failed.length, 0, `failed requests through HAProxy: ${JSON.stringify(failed.slice(0, 5))}`);
  for (const [label, id] of [
    ["after deploy b2", "b2"],
    ["after deploy b3", "b3"],
    ["after rollback", "b2"],
  ] as const) {
    const window = healthSamples.filter((s) => s.phase === label);
    assert.ok(window.length > 0, `health requests ${label}`);
    assert.deepEqual([...new Set(window.map((s) => s.build))], [id], `${label}: every /health answer from ${id}`);
  }

  // Assets: every answer a 200; no answer at all only while that host was out of service.
  const { checks, answers, unanswered } = assetResult!;
  assert.equal(answers.length, 0, `asset answers other than 200: ${JSON.stringify(answers.slice(0, 5))}`);
  const stray = unanswered.filter((p) => !windows.covers(p));
  assert.equal(stray.length, 0, `asset requests unanswered outside a restart: ${JSON.stringify(stray.slice(0, 5))}`);
  assert.equal(checked.size, new Set([...assets.b1, ...assets.b2, ...assets.b3]).size, "every version's URLs were checked");

  const ranBy = await Promise.all(tasks.map(async (t) => `${t.label}: by ${await pg.sql(`SELECT build_id FROM orders_taskrun WHERE task_id = '${t.id}'`)}`));
  const why = [...new Set(unanswered.map((p) => p.error))].join(", ");
  const lat = all.map((s) => s.end - s.start);
  const figures = [
    `django-fleet: ${all.length} requests through HAProxy (${samples.length} pages, ${healthSamples.length} /health), ${failed.length} failed`,
    `  latency through HAProxy: p50 ${percentile(lat, 50).toFixed(1)} ms, p99 ${percentile(lat, 99).toFixed(1)} ms, max ${Math.max(...lat).toFixed(1)} ms`,
    `  asset checks (every URL of every version so far, each web host directly): ${checks}, ${answers.length} non-200, ` +
      `${unanswered.length} unanswered (${why || "none"}; all while that host was out of rotation for its restart), ${checked.size} URLs at the end`,
    `  wall time: ${Object.entries(wall)
      .map(([k, v]) => `${k} ${(v / 1000).toFixed(1)} s`)
      .join(", ")}`,
    `  worker restart (h3): ${Object.entries(workerRestart)
      .map(([k, v]) => `${k} ${(v / 1000).toFixed(1)} s`)
      .join(", ")}`,
    `  tasks: ${tasks.length} enqueued (before each deploy, one during b3), each processed exactly once (${ranBy.join(", ")}); migration 0002 applied once (on ${h1.name})`,
  ];
  for (const l of figures) console.log(l);
});
