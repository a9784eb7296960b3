import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { appendFile, mkdir, readFile, readlink, writeFile } from "node:fs/promises";
import path from "node:path";
import { buildWith, exampleWorkspace, type Workspace } from "../support/build-app.js";
import { freePort, startSupervisor, waitForJson } from "../support/supervisor.js";
import { snapshotTree } from "../support/snapshot.js";
import { deploy } from "../../src/commands/deploy.js";
import { rollback } from "../../src/commands/rollback.js";
import { releases } from "../../src/commands/releases.js";
import { prune } from "../../src/commands/prune.js";
import { ArtifactError, LockedError, SlipwayError } from "../../src/errors.js";
import type { SlipwayEvent } from "../../src/events.js";

/** The example app with a local target run by a private supervisord on a free port. */
async function localTarget(ws: Workspace) {
  const port = await freePort();
  const sup = await startSupervisor(
    path.join(ws.dir),
    [
      "[program:hello]",
      `command=${ws.root}/current/virtualenv/bin/python -m hello.serve --port ${port}`,
      `directory=${ws.root}/current`,
      "autostart=false",
      "startsecs=0",
      "stopsignal=TERM",
      "stopwaitsecs=5",
    ].join("\n"),
  );
  const file = path.join(ws.app, "slipway.toml");
  const text = (await readFile(file, "utf8"))
    .replace(
      /\[targets\.local\.restart\][\s\S]*?(?=\[targets\.local\.health\])/,
      `[targets.local.restart]\nmanager = "supervisord"\nprograms = ["hello"]\nconf = "${sup.conf}"\n\n`,
    )
    .replace("http://127.0.0.1:8000/health", `http://127.0.0.1:${port}/health`);
  await writeFile(file, text);
  return { sup, url: `http://127.0.0.1:${port}/health` };
}

const run = async <T>(fn: (emit: (e: SlipwayEvent) => void) => Promise<T>) => {
  const events: SlipwayEvent[] = [];
  return { result: await fn((e) => events.push(e)), events };
};

test("local transport: deploy, code-only redeploy, rollback, --to, releases, prune, history", async () => {
  const ws = await exampleWorkspace("slipway-local");
  const { sup, url } = await localTarget(ws);
  try {
    const b1 = await buildWith(ws, "b1");
    const d1 = await run((emit) => deploy({ cwd: ws.app, artifact: b1.result.artifact, target: "local", emit }));
    assert.equal(d1.result.hosts[0]!.result, "ok");
    assert.equal(await readlink(path.join(ws.root, "current")), "releases/b1");
    assert.equal((await waitForJson(url, 10_000, (b) => b.build_id === "b1")).build_id, "b1");
    assert.equal(d1.result.migrations?.pending, 2);
    assert.ok(existsSync(path.join(ws.root, "releases/b1/data")), "shared dir linked");
    assert.equal(await readlink(path.join(ws.root, "releases/b1/data")), path.join(ws.root, "shared/data"));

    await appendFile(path.join(ws.app, "hello/app.py"), "\n# change\n");
    const b2 = await buildWith(ws, "b2");
    const d2 = await run((emit) => deploy({ cwd: ws.app, artifact: b2.result.artifact, target: "local", emit }));
    const sent = d2.result.hosts[0]!.bytes_sent;
    assert.ok(sent <= b2.result.layers.code.size * 1.05 + 4096, `code-only deploy sent ${sent} bytes (code layer ${b2.result.layers.code.size})`);
    assert.equal(d2.result.hosts[0]!.previous, "b1");
    await waitForJson(url, 10_000, (b) => b.build_id === "b2");
    assert.equal(await readlink(path.join(ws.root, "previous")), "releases/b1");

    await rollback({ cwd: ws.app, target: "local" });
    await waitForJson(url, 10_000, (b) => b.build_id === "b1");
    assert.equal(await readlink(path.join(ws.root, "current")), "releases/b1");
    await rollback({ cwd: ws.app, target: "local", to: "b2" });
    await waitForJson(url, 10_000, (b) => b.build_id === "b2");
    await assert.rejects(rollback({ cwd: ws.app, target: "local", to: "nope" }), /release nope is not on this host/);

    for (const id of ["b3", "b4", "b5"]) {
      await appendFile(path.join(ws.app, "hello/app.py"), `\n# ${id}\n`);
      await deploy({ cwd: ws.app, artifact: (await buildWith(ws, id)).result.artifact, target: "local" });
    }
    const listed = await releases({ cwd: ws.app, target: "local" });
    assert.deepEqual(listed.hosts[0]!.releases.map((r) => r.id).sort(), ["b1", "b2", "b3", "b4", "b5"]);
    assert.equal(listed.hosts[0]!.current, "b5");
    const pruned = await prune({ cwd: ws.app, target: "local", keep: "2" });
    assert.deepEqual(pruned.hosts[0]!.removeReleases.sort(), ["b1", "b2", "b3"]);
    assert.deepEqual(await readdirNames(path.join(ws.root, "releases")), ["b4", "b5"]);
    assert.ok(existsSync(b1.result.venv.path), "the venv used by kept releases stays");

    const history = (await readFile(path.join(ws.root, ".slipway/history.jsonl"), "utf8"))
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    assert.deepEqual(
      history.map((h) => `${h.action}:${h.build_id ?? ""}:${h.result}`),
      ["deploy:b1:ok", "deploy:b2:ok", "rollback:b1:ok", "rollback:b2:ok", "deploy:b3:ok", "deploy:b4:ok", "deploy:b5:ok", "prune::ok"],
    );
    assert.equal(history[1].previous, "b1");
    assert.ok(history.every((h) => h.user && h.from && h.at));
  } finally {
    sup.stop();
  }
});

test("local transport: a held lock (exit 4), a failing hook and blocked migrations change nothing", async () => {
  const ws = await exampleWorkspace("slipway-local");
  const { sup, url } = await localTarget(ws);
  try {
    const b1 = await buildWith(ws, "b1");
    await deploy({ cwd: ws.app, artifact: b1.result.artifact, target: "local" });
    await waitForJson(url, 10_000, (b) => b.build_id === "b1");
    await appendFile(path.join(ws.app, "hello/app.py"), "\n# change\n");
    const b2 = await buildWith(ws, "b2");
    const before = await snapshotTree(ws.root);

    await mkdir(path.join(ws.root, ".slipway/lock"));
    await writeFile(
      path.join(ws.root, ".slipway/lock/info"),
      JSON.stringify({ token: "t", user: "ci", from: "build-7", action: "deploy", target: "local", build_id: "7", since: "2026-11-26T12:03:00Z", pid: 1 }),
    );
    const locked = await snapshotTree(ws.root);
    await assert.rejects(deploy({ cwd: ws.app, artifact: b2.result.artifact, target: "local" }), (err: unknown) => {
      assert.ok(err instanceof LockedError);
      assert.equal(err.exitCode, 4);
      assert.match(err.message, /locked by ci@build-7 since 2026-11-26T12:03:00Z \(deploy of 7, pid 1\)/);
      assert.match(err.hint!, /slipway unlock --target local/);
      return true;
    });
    assert.deepEqual(await snapshotTree(ws.root), locked, "nothing changed while locked");
    await import("node:fs/promises").then((fs) => fs.rm(path.join(ws.root, ".slipway/lock"), { recursive: true }));
    assert.deepEqual(await snapshotTree(ws.root), before);

    const config = path.join(ws.app, "slipway.toml");
    const original = await readFile(config, "utf8");
    await writeFile(
      config,
      original.replace("[deploy.migrations]", '[deploy.hooks]\nbefore_switch = ["echo checking", "echo hook broke >&2; exit 9"]\n\n[deploy.migrations]'),
    );
    await assert.rejects(deploy({ cwd: ws.app, artifact: b2.result.artifact, target: "local" }), (err: unknown) => {
      assert.ok(err instanceof SlipwayError);
      assert.match(err.message, /localhost: hooks failed \(exit 9\)/);
      assert.match(err.message, /hook broke/);
      return true;
    });
    assert.equal(await readlink(path.join(ws.root, "current")), "releases/b1");
    assert.equal((await waitForJson(url)).build_id, "b1", "still serving the old release");
    assert.ok(!existsSync(path.join(ws.root, ".slipway/lock")), "unlocked after the failure");

    await writeFile(config, original.replace('policy = "warn"', 'policy = "block"'));
    await assert.rejects(
      deploy({ cwd: ws.app, artifact: b2.result.artifact, target: "local" }),
      /2 migration\(s\) pending and deploy\.migrations\.policy = "block"/,
    );
    assert.equal(await readlink(path.join(ws.root, "current")), "releases/b1");

    await writeFile(config, original.replace('policy = "warn"', 'policy = "run"\nrun = "python -m hello.migrations --apply"'));
    const ok = await deploy({ cwd: ws.app, artifact: b2.result.artifact, target: "local" });
    assert.equal(ok.migrations?.pending, 2, "checked before running");
    assert.match(await readFile(path.join(ws.root, "shared/data/applied_migrations.txt"), "utf8"), /0002_add_notes/);
    await waitForJson(url, 10_000, (b) => b.build_id === "b2");

    const history = (await readFile(path.join(ws.root, ".slipway/history.jsonl"), "utf8"))
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    assert.deepEqual(
      history.map((h) => h.result),
      ["ok", "not-switched", "not-switched", "ok"],
    );
    await assert.rejects(deploy({ cwd: ws.app, artifact: b2.result.artifact, target: "nope" }), /no target named "nope"/);
  } finally {
    sup.stop();
  }
});

test("redeploying a build id: the same artifact is reused; a different one under the same id is refused (exit 3)", async () => {
  const ws = await exampleWorkspace("slipway-local");
  const config = path.join(ws.app, "slipway.toml");
  await writeFile(config, (await readFile(config, "utf8")).replace(/\[targets\.local\.restart\][\s\S]*$/, '[targets.local.restart]\nmanager = "none"\n'));
  const b1 = await buildWith(ws, "same");
  await deploy({ cwd: ws.app, artifact: b1.result.artifact, target: "local" });
  const again = await deploy({ cwd: ws.app, artifact: b1.result.artifact, target: "local" });
  assert.equal(again.hosts[0]!.bytes_sent, 0, "an identical release is reused, nothing sent");
  assert.equal(again.plan.hosts[0]!.release, "present");
  const before = await snapshotTree(ws.root);
  await appendFile(path.join(ws.app, "hello/app.py"), "\n# different code, same id\n");
  const other = await buildWith(ws, "same");
  await assert.rejects(deploy({ cwd: ws.app, artifact: other.result.artifact, target: "local" }), (err: unknown) => {
    assert.ok(err instanceof ArtifactError);
    assert.match(err.message, /release same already exists with different contents/);
    return true;
  });
  assert.deepEqual(await snapshotTree(ws.root), before, "nothing changed");
});

test("deploy refuses an artifact for another root or app before touching any host", async () => {
  const ws = await exampleWorkspace("slipway-local");
  const b1 = await buildWith(ws, "b1");
  const config = path.join(ws.app, "slipway.toml");
  await writeFile(config, (await readFile(config, "utf8")).replace(/^root\s*=.*$/m, `root = "${ws.root}-other"`));
  await assert.rejects(deploy({ cwd: ws.app, artifact: b1.result.artifact, target: "local" }), (err: unknown) => {
    assert.ok(err instanceof ArtifactError);
    assert.match(err.message, /built for root .*, the config's app\.root is .*-other/);
    return true;
  });
  assert.ok(!existsSync(`${ws.root}-other`));
});

async function readdirNames(dir: string): Promise<string[]> {
  const { readdir } = await import("node:fs/promises");
  return (await readdir(dir)).filter((n) => !n.startsWith(".")).sort();
}
