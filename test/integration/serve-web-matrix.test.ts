// The dashboard's routes × roles, on the real server (no host is contacted: every action here
// is refused, or finds nothing to do, before a deploy would start): logged out, viewer,
// deployer, admin, and an admin of another app; plus a cross-origin POST with a good session.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { copyExampleApp, tmpDir } from "../support/tmp.js";
import { startServer, type RunningServer } from "../../src/serve/server.js";
import { loadServerConfig } from "../../src/serve/config.js";
import { tokenCreate } from "../../src/serve/admin.js";

let server: RunningServer;
const cookies: Record<string, string> = {};
let deployId = 0;

before(async () => {
  const dir = await tmpDir("slipway-web-matrix");
  const app = await copyExampleApp("hello", path.join(dir, "app"), { root: "/srv/slw-web-matrix/hello", pipArgs: [] });
  const file = path.join(app, "slipway.toml");
  // A target whose host is never contacted (TEST-NET-1).
  await writeFile(file, `${await readFile(file, "utf8")}\n[targets.t]\nhosts = ["deploy@192.0.2.1"]\nrestart = { manager = "none" }\n`);
  await writeFile(path.join(dir, "slipway-server.toml"), `[server]\nlisten = "127.0.0.1:0"\ndata = "data"\n[apps.hello]\nconfig = "${file}"\n`);
  const config = await loadServerConfig(path.join(dir, "slipway-server.toml"));
  server = await startServer({ server: config, log: () => {} });
  // A finished deploy to look at.
  deployId = Number(
    server.db
      .prepare(
        "INSERT INTO deploys (app, target, kind, build_id, state, user, via, created_at, finished_at, duration_ms) VALUES ('hello', 't', 'deploy', 'b1', 'failed', 'ci', 'api', ?, ?, 5)",
      )
      .run(new Date().toISOString(), new Date().toISOString()).lastInsertRowid,
  );
  for (const [name, role, appName] of [
    ["viewer", "viewer", "hello"],
    ["deployer", "deployer", "hello"],
    ["admin", "admin", "hello"],
    ["other", "admin", "other"],
  ] as const) {
    const { token } = tokenCreate(config.dataDir, { name, role, app: appName });
    const res = await fetch(`${server.url}/login`, {
      method: "POST",
      headers: { origin: server.url, "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ token }),
      redirect: "manual",
    });
    assert.equal(res.status, 303, `${name} logs in`);
    const cookie = res.headers.get("set-cookie") ?? "";
    assert.match(cookie, /HttpOnly/i);
    assert.match(cookie, /SameSite=Lax/i);
    assert.ok(!cookie.includes(token), "the cookie is not the token");
    cookies[name] = cookie.split(";")[0]!;
  }
});

after(async () => {
  await server?.close();
});

test("dashboard: every route × every role, and cross-origin POSTs refused", async () => {
  const who = ["none", "viewer", "deployer", "admin", "other"] as const;
  // Expected status for: logged out, viewer, deployer, admin, other app's admin.
  const routes: [string, string, Record<string, string> | undefined, number[]][] = [
    ["GET", "/", undefined, [303, 200, 200, 200, 200]],
    ["GET", "/apps/hello/artifacts", undefined, [303, 200, 200, 200, 404]],
    ["GET", "/history", undefined, [303, 200, 200, 200, 200]],
    ["GET", `/deploys/${deployId}`, undefined, [303, 200, 200, 200, 404]],
    ["GET", `/deploys/${deployId}/live`, undefined, [303, 200, 200, 200, 404]],
    ["POST", "/apps/hello/targets/t/deploys", { build_id: "zz9", confirmed: "1" }, [303, 403, 404, 404, 404]],
    ["POST", "/apps/hello/targets/t/rollback", { to: "../x", confirmed: "1" }, [303, 403, 400, 400, 404]],
    ["POST", "/apps/hello/targets/t/lock", { reason: "" }, [303, 403, 400, 400, 404]],
    ["POST", "/apps/hello/targets/t/unlock", {}, [303, 403, 409, 409, 404]],
    ["POST", `/deploys/${deployId}/cancel`, {}, [303, 403, 409, 409, 404]],
  ];
  const wrong: string[] = [];
  for (const [method, url, form, expect] of routes) {
    for (const [i, role] of who.entries()) {
      const res = await fetch(`${server.url}${url}`, {
        method,
        redirect: "manual",
        headers: {
          ...(role === "none" ? {} : { cookie: cookies[role]! }),
          ...(method === "POST" ? { origin: server.url, "content-type": "application/x-www-form-urlencoded" } : {}),
        },
        body: form ? new URLSearchParams(form) : undefined,
      });
      await res.arrayBuffer();
      if (res.status !== expect[i]) wrong.push(`${method} ${url} as ${role}: ${res.status}, expected ${expect[i]}`);
    }
  }
  assert.deepEqual(wrong, []);

  // With a good session, a POST from another origin (or none at all) changes nothing.
  for (const headers of [{ origin: "http://evil.example" }, { referer: "http://evil.example/page" }, {}] as Record<string, string>[]) {
    const res = await fetch(`${server.url}/apps/hello/targets/t/lock`, {
      method: "POST",
      redirect: "manual",
      headers: { cookie: cookies.admin!, "content-type": "application/x-www-form-urlencoded", ...headers },
      body: new URLSearchParams({ reason: "csrf" }),
    });
    assert.equal(res.status, 403, JSON.stringify(headers));
  }
  assert.equal((server.db.prepare("SELECT count(*) AS n FROM locks").get() as { n: number }).n, 0, "no lock was taken");
  // Logging out ends the session.
  const out = await fetch(`${server.url}/logout`, { method: "POST", redirect: "manual", headers: { cookie: cookies.viewer!, origin: server.url } });
  assert.equal(out.status, 303);
  assert.equal((await fetch(`${server.url}/`, { redirect: "manual", headers: { cookie: cookies.viewer! } })).status, 303);
});
