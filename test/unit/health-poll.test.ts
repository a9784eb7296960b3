// The health poller (health/check.ts) run as a host runs it — sh, then the release's Python
// (Debian's here) — against a real local HTTP server: what it reports, attempts, redirects.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdir, mkdtemp, symlink } from "node:fs/promises";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { healthCommand, parseHealth, type HealthOutcome } from "../../src/health/check.js";

async function release(): Promise<string> {
  const current = path.join(await mkdtemp(path.join(os.tmpdir(), "slw-health-")), "current");
  await mkdir(path.join(current, "virtualenv", "bin"), { recursive: true });
  await symlink("/usr/bin/python3", path.join(current, "virtualenv", "bin", "python"));
  return current;
}

/** Run the poll (asynchronously: the server answering it lives in this process). */
function poll(
  current: string,
  check: { url?: string; command?: string; build?: string },
  timeout = "2s",
): Promise<{ code: number | null; outcome?: HealthOutcome; stdout: string }> {
  const health = { url: check.url ?? "", command: check.command ?? "", timeout, expect_build: check.build !== undefined };
  const build = check.build ?? "7";
  const [cmd, ...args] = healthCommand(health, current, { build, dir: `/srv/a/releases/${build}` })!;
  return new Promise((resolve) => {
    const child = spawn(cmd!, args, { stdio: ["ignore", "pipe", "inherit"] });
    let stdout = "";
    child.stdout.on("data", (c) => (stdout += c));
    child.on("close", (code) => resolve({ code, outcome: parseHealth(stdout), stdout }));
  });
}

test("health poll: 2xx, errors with their body, a redirect followed, attempts counted, a command's exit", async () => {
  const current = await release();
  let hits = 0;
  const seen: string[] = [];
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    seen.push(`${req.method} ${req.url} host=${req.headers.host}`);
    if (req.url === "/ok?probe=1") return res.writeHead(200, { "content-type": "application/json" }).end('{"status": "ok"}');
    if (req.url === "/flaky") return ++hits < 3 ? res.writeHead(503).end("warming up") : res.writeHead(204).end();
    if (req.url === "/broken") return res.writeHead(500).end(`quote " backslash \\ newline \n tab \t ${"x".repeat(400)}`);
    if (req.url === "/moved") return res.writeHead(301, { location: "/ok?probe=1" }).end();
    if (req.url === "/unicode") return res.writeHead(200).end("h\u00e9llo \u{1F680}");
    res.writeHead(404).end("nope");
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  try {
    const ok = await poll(current, { url: `${base}/ok?probe=1` });
    assert.equal(ok.code, 0, ok.stdout);
    assert.deepEqual({ ...ok.outcome, ms: 0 }, { ok: true, ms: 0, attempts: 1, status: 200, body: '{"status": "ok"}' });
    assert.equal(seen.at(-1), `GET /ok?probe=1 host=127.0.0.1:${(server.address() as AddressInfo).port}`);

    const flaky = await poll(current, { url: `${base}/flaky` });
    assert.deepEqual([flaky.code, flaky.outcome?.ok, flaky.outcome?.attempts, flaky.outcome?.status], [0, true, 3, 204]);

    const broken = await poll(current, { url: `${base}/broken` }, "300ms");
    assert.equal(broken.code, 1);
    assert.equal(broken.outcome?.status, 500);
    assert.ok(broken.outcome!.attempts >= 2, "it kept trying until the timeout");
    assert.ok(broken.outcome!.body!.startsWith('quote " backslash \\ newline \n tab \t x'), "the body excerpt, exactly, through JSON");
    assert.equal(broken.outcome!.body!.length, 300);

    const moved = await poll(current, { url: `${base}/moved` });
    assert.deepEqual([moved.code, moved.outcome?.status, moved.outcome?.body], [0, 200, '{"status": "ok"}'], "a redirect is followed, as urllib does");

    const uni = await poll(current, { url: `${base}/unicode` });
    assert.equal(uni.outcome?.body, "h\u00e9llo \u{1F680}", "non-ASCII bodies survive, as ASCII JSON");
    assert.ok(/^[\x20-\x7e\n]*$/.test(uni.stdout), `the JSON line is ASCII: ${uni.stdout}`);

    const cmd = await poll(current, { command: "echo no broker >&2; exit 2" }, "300ms");
    assert.deepEqual([cmd.code, cmd.outcome?.ok, cmd.outcome?.status, cmd.outcome?.body], [1, false, 2, "no broker\n"]);
    assert.equal((await poll(current, { command: "python -c 'import sys; sys.exit(0)'" })).code, 0, "the release's bin is on PATH");
    const env = await poll(current, { command: 'echo "$SLIPWAY_BUILD_ID $SLIPWAY_RELEASE_DIR"; exit 1', build: "42" }, "300ms");
    assert.equal(env.outcome?.body, "42 /srv/a/releases/42\n", "a health command is told which release must answer");
    assert.equal(env.outcome?.named, undefined, "expect_build is for url checks only");
  } finally {
    server.close();
  }
  // A server that answers and keeps the connection open (Content-Length, no close): healthy at once.
  const { createServer: rawServer } = await import("node:net");
  const open: import("node:net").Socket[] = [];
  const keepAlive = rawServer((c) => {
    open.push(c);
    c.once("data", () => c.write("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"));
  });
  await new Promise<void>((r) => keepAlive.listen(0, "127.0.0.1", r));
  try {
    const kept = await poll(current, { url: `http://127.0.0.1:${(keepAlive.address() as AddressInfo).port}/health` }, "3s");
    assert.deepEqual([kept.code, kept.outcome?.status, kept.outcome?.body, kept.outcome?.attempts], [0, 200, "ok", 1]);
    assert.ok(kept.outcome!.ms < 1000, `no waiting for the server to close: ${kept.outcome!.ms} ms`);
  } finally {
    for (const c of open) c.destroy();
    keepAlive.close();
  }
  const refused = await poll(current, { url: base }, "300ms");
  assert.equal(refused.code, 1);
  assert.match(refused.outcome?.error ?? "", /ConnectionRefusedError/);
});

test("health poll with expect_build: the old build answering 2xx is not healthy; the new one is, by header, JSON or release path", async () => {
  const current = await release();
  let oldFor = 0; // /switching answers as build 41 this many times, then as 42
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    if (req.url === "/header") return res.writeHead(200, { "x-build-id": "42" }).end("ok");
    if (req.url === "/json-old") return res.writeHead(200, { "content-type": "application/json" }).end('{"status": "ok", "build_id": "41", "workers": 42}');
    if (req.url === "/path") return res.writeHead(200).end("serving /srv/a/releases/42\n");
    if (req.url === "/prefix") return res.writeHead(200).end("serving /srv/a/releases/420");
    if (req.url === "/switching") return oldFor-- > 0 ? res.writeHead(200, { "x-build-id": "41" }).end() : res.writeHead(200, { "x-build-id": "42" }).end();
    if (req.url === "/moved-old") return res.writeHead(302, { location: "/json-old" }).end();
    if (req.url === "/moved-header") return res.writeHead(302, { location: "/header" }).end();
    if (req.url === "/big") return res.writeHead(200).end(`${"x ".repeat(5000)} build 42 `);
    res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  try {
    const header = await poll(current, { url: `${base}/header`, build: "42" });
    assert.deepEqual([header.code, header.outcome?.named, header.outcome?.seen], [0, true, "42"]);
    const old = await poll(current, { url: `${base}/json-old`, build: "42" }, "400ms");
    assert.deepEqual(
      [old.code, old.outcome?.ok, old.outcome?.status, old.outcome?.named, old.outcome?.seen],
      [1, false, 200, false, "41"],
      "a JSON build_id decides alone: 42 elsewhere in the body does not count",
    );
    assert.ok(old.outcome!.attempts >= 2, "it kept polling: the new process may still take the port");
    assert.equal((await poll(current, { url: `${base}/path`, build: "42" })).code, 0, "the release path names the build");
    const prefix = await poll(current, { url: `${base}/prefix`, build: "42" }, "300ms");
    assert.deepEqual([prefix.code, prefix.outcome?.named, prefix.outcome?.seen], [1, false, undefined], "42 inside 420 is not the build");
    oldFor = 3;
    const switching = await poll(current, { url: `${base}/switching`, build: "42" });
    assert.deepEqual([switching.code, switching.outcome?.attempts], [0, 4], "healthy once the new build answers");
    assert.equal((await poll(current, { url: `${base}/big`, build: "42" })).code, 0, "the build is looked for past the 300 bytes reported");
    assert.equal((await poll(current, { url: `${base}/json-old` })).code, 0, "expect_build = false: any 2xx");
    const viaUrllib = await poll(current, { url: `${base}/moved-old`, build: "42" }, "300ms");
    assert.deepEqual([viaUrllib.code, viaUrllib.outcome?.status, viaUrllib.outcome?.seen], [1, 200, "41"], "urllib's path (a redirect) checks the same way");
    assert.deepEqual((await poll(current, { url: `${base}/moved-header`, build: "42" })).outcome?.seen, "42", "and reads X-Build-Id there too");
  } finally {
    server.close();
  }
});
