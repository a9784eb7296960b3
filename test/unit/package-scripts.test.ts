// The maintainer scripts of `slipway package`, run by a real sh against a scratch root: the
// switch, the health check's switch back, and the release prerm's refusal.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdir, mkdtemp, readFile, readlink, rm, symlink, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { releaseScripts, switchScript, venvScripts } from "../../src/package/scripts.js";
import type { HealthConfig } from "../../src/config/schema.js";

async function scratchRoot(): Promise<string> {
  const root = await mkdtemp(path.join(os.tmpdir(), "slipway-pkg-scripts-"));
  await mkdir(path.join(root, "virtualenvs", "k", "bin"), { recursive: true });
  await symlink("/usr/bin/python3", path.join(root, "virtualenvs", "k", "bin", "python"));
  for (const id of ["a", "b"]) {
    const dir = path.join(root, "releases", id);
    await mkdir(dir, { recursive: true });
    const manifest = JSON.stringify({ build_id: id });
    await writeFile(path.join(dir, "slipway.json"), manifest);
    await writeFile(path.join(dir, ".slipway-complete"), `${createHash("sha256").update(manifest).digest("hex")}\n`);
    await symlink(path.join(root, "virtualenvs", "k"), path.join(dir, "virtualenv"));
  }
  // Only release a passes the health check.
  await writeFile(path.join(root, "releases", "a", "healthy"), "");
  return root;
}

const health: HealthConfig = { url: "", command: "test -f healthy", timeout: "1s", expect_build: true };

function runScript(text: string, ...args: string[]): { code: number; out: string } {
  const r = spawnSync("sh", ["-c", text, "script", ...args], { encoding: "utf8" });
  return { code: r.status ?? -1, out: r.stdout + r.stderr };
}

const postinst = (root: string, build: string) =>
  switchScript(
    {
      app: "ledger",
      root,
      buildId: build,
      restart: { manager: "command", programs: [], conf: "", command: 'echo "$SLIPWAY_APP" >> "$SLIPWAY_ROOT/restarts"' },
      health,
      linkedFiles: [],
    },
    "deb",
  );

test("postinst: switches current, restarts, checks health; a failing build is switched back and exits 1", async () => {
  const root = await scratchRoot();
  try {
    let r = runScript(postinst(root, "a"), "configure");
    assert.equal(r.code, 0, r.out);
    assert.equal(await readlink(path.join(root, "current")), "releases/a");
    r = runScript(postinst(root, "a"), "configure");
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /already current/);

    r = runScript(postinst(root, "b"), "configure");
    assert.equal(r.code, 1, r.out);
    assert.match(r.out, /the health check failed/);
    assert.equal(await readlink(path.join(root, "current")), "releases/a");
    await assert.rejects(readlink(path.join(root, "previous")), "previous is put back as it was (none)");
    assert.equal(await readFile(path.join(root, "restarts"), "utf8"), "ledger\nledger\nledger\n", "restarted for a, for b, and for a again");
    const history = (await readFile(path.join(root, ".slipway", "history.jsonl"), "utf8"))
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    assert.deepEqual(
      history.map((h) => [h.build_id, h.result, h.previous]),
      [
        ["a", "ok", ""],
        ["b", "rolled-back", "a"],
      ],
    );
    // Other actions do nothing; an incomplete release is refused before any switch.
    assert.equal(runScript(postinst(root, "b"), "abort-upgrade").code, 0);
    await writeFile(path.join(root, "releases", "b", ".slipway-complete"), "0\n");
    r = runScript(postinst(root, "b"), "configure");
    assert.equal(r.code, 1);
    assert.match(r.out, /incomplete/);
    assert.equal(await readlink(path.join(root, "current")), "releases/a");
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

test("release prerm refuses to remove current or previous; postrm clears a removed release's leftovers", async () => {
  const root = await scratchRoot();
  try {
    await symlink("releases/a", path.join(root, "current"));
    const a = releaseScripts({ root, buildId: "a", shared: ["media"] }, "deb");
    const b = releaseScripts({ root, buildId: "b", shared: ["media"] }, "deb");
    let r = runScript(a.prerm, "remove");
    assert.equal(r.code, 1);
    assert.match(r.out, /releases\/a is current/);
    assert.equal(runScript(a.prerm, "upgrade").code, 0);
    assert.equal(runScript(b.prerm, "remove").code, 0);
    r = runScript(b.postrm, "remove");
    assert.equal(r.code, 0, r.out);
    await assert.rejects(readlink(path.join(root, "releases", "b", "virtualenv")));
    assert.equal(runScript(a.postinst, "configure").code, 0);
    await readFile(path.join(root, "shared", "media", "..", "..", "releases", "a", "slipway.json"));
    const v = venvScripts({ root, key: "k" }, "deb");
    r = runScript(v.prerm, "remove");
    assert.equal(r.code, 1, "the current release runs on this venv");
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

test("every script is POSIX sh (dash -n), with values quoted", () => {
  const root = "/srv/it's here";
  const scripts = [
    switchScript(
      {
        app: "x",
        root,
        buildId: "1",
        restart: { manager: "supervisord", programs: ["web"], conf: "/etc/s.conf", command: "" },
        health: { ...health, url: "http://127.0.0.1:8000/health", command: "" },
        linkedFiles: [".env"],
        systemdUnit: "x.service",
      },
      "deb",
    ),
    switchScript(
      { app: "x", root, buildId: "1", restart: { manager: "systemd", programs: ["x.service"], conf: "", command: "" }, health, linkedFiles: [] },
      "rpm",
    ),
    ...Object.values(releaseScripts({ root, buildId: "1", shared: ["media"] }, "deb")),
    ...Object.values(venvScripts({ root, key: "k" }, "deb")),
  ];
  for (const s of scripts) {
    assert.ok(s.startsWith("#!/bin/sh\n"));
    const r = spawnSync("dash", ["-n"], { input: s, encoding: "utf8" });
    assert.equal(r.status, 0, r.stderr);
    assert.match(s, /'\/srv\/it'\\''s here'/);
  }
});
