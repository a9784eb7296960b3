import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { lstat, mkdtemp, mkdir, readdir, readlink, readFile, rm, stat, symlink, writeFile } from "node:fs/promises";
import { existsSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { shJoin, shQuote } from "../../src/transport/quote.js";
import { parseDestination, sshArgv } from "../../src/transport/ssh.js";
import { acquireLock, parseLockReply, releaseLock, describeHolder, type LockInfo } from "../../src/deploy/lock.js";
import { switchCurrent, switchThenRun, SWITCHED, runInDir, appendLine } from "../../src/deploy/switch.js";
import { parsePeek, parseProbe, peekHost, probeHost } from "../../src/deploy/probe.js";
import { restartCommand, restartFailed, restartVerifyCommand } from "../../src/procman/restart.js";
import { SUPERVISORCTL_RESTART_PY } from "../../src/procman/supervisord-rpc.js";
import { tarExtract, receiveFile } from "../../src/deploy/stage.js";

/** An interpreter as a manifest names it (the probe's arguments; its answers are what the host gives). */
const PY = { executable: "/usr/bin/python3.11", implementation: "cpython", version: "3.11.2", abi: "cpython-311-x86_64-linux-gnu", platform: "linux-x86_64" };

/** What the remote shell receives over ssh: the argv joined and quoted, run by sh -c. */
const viaShell = (argv: string[], input?: string) => spawnSync("sh", ["-c", shJoin(argv)], { encoding: "utf8", input });

test("shQuote: plain words stay bare; everything else is single-quoted exactly", () => {
  assert.equal(shQuote("releases/b1"), "releases/b1");
  assert.equal(shQuote("a b"), "'a b'");
  assert.equal(shQuote("it's"), "'it'\\''s'");
  assert.equal(shQuote(""), "''");
  assert.throws(() => shQuote("a\0b"));
  const nasty = ["$(touch /tmp/pwned)", "`id`", "a;b", "x'y\"z", "\n", "*", "~", "-rf", "\\", "$HOME"];
  for (const arg of nasty) {
    const out = execFileSync("sh", ["-c", `printf '%s' ${shQuote(arg)}`], { encoding: "utf8" });
    assert.equal(out, arg, `round-trips through sh: ${JSON.stringify(arg)}`);
  }
});

test("sshArgv: one master per host, user's config/identity/known_hosts, port split off, no pty, -- before the destination", () => {
  const argv = sshArgv("deploy@app-02:2222", { config: "/etc/ssh/x", identity: "/k/id", known_hosts: "/k/kh", options: ["ConnectTimeout=5"] }, "/tmp/cm", [
    "echo",
    "a b",
  ]);
  assert.deepEqual(argv, [
    "ssh",
    "-o",
    "ConnectTimeout=5",
    "-o",
    "ConnectTimeout=10",
    "-o",
    "ServerAliveInterval=5",
    "-o",
    "ServerAliveCountMax=2",
    "-o",
    "BatchMode=yes",
    "-o",
    "ControlMaster=auto",
    "-o",
    "ControlPath=/tmp/cm",
    "-o",
    "ControlPersist=no",
    "-F",
    "/etc/ssh/x",
    "-i",
    "/k/id",
    "-o",
    "IdentitiesOnly=yes",
    "-o",
    "UserKnownHostsFile=/k/kh",
    "-p",
    "2222",
    "-T",
    "--",
    "deploy@app-02",
    "echo 'a b'",
  ]);
  assert.ok(!argv.includes("StrictHostKeyChecking=no"), "host keys stay checked");
  assert.deepEqual(parseDestination("app-01"), { target: "app-01", port: undefined });
  assert.deepEqual(parseDestination("root@[::1]:22"), { target: "root@::1", port: "22" });
});

const info = (token: string): LockInfo => ({
  token,
  user: "ci",
  from: "build-7",
  action: "deploy",
  target: "prod",
  build_id: "42",
  since: "2026-11-26T12:03:00Z",
  pid: 7,
});

test("lock: atomic mkdir — first acquires, second sees the holder; only the owner's token (or force) releases", async () => {
  const root = path.join(await mkdtemp(path.join(os.tmpdir(), "slw-lock-")), "srv", "app");
  const a = viaShell(acquireLock(root, info("tok-a")));
  assert.equal(a.status, 0);
  assert.deepEqual(parseLockReply(a.stdout), { state: "acquired" });
  const b = parseLockReply(viaShell(acquireLock(root, info("tok-b"))).stdout);
  assert.equal(b.state, "held");
  assert.equal(b.state === "held" && b.holder?.token, "tok-a");
  assert.equal(describeHolder(b.state === "held" ? b.holder : undefined), "ci@build-7 since 2026-11-26T12:03:00Z (deploy of 42, pid 7)");
  assert.match(viaShell(releaseLock(root, "tok-b")).stdout, /^not-ours/);
  assert.ok(existsSync(`${root}/.slipway/lock`));
  assert.match(viaShell(releaseLock(root, "tok-a")).stdout, /^released/);
  assert.ok(!existsSync(path.dirname(root)), "the dirs the lock had to create are removed again: the host is as it was");
  assert.ok(existsSync(path.dirname(path.dirname(root))), "but nothing above them");
  viaShell(acquireLock(root, info("tok-c")));
  assert.match(viaShell(releaseLock(root, "")).stdout, /^released/, "force");
  assert.match(viaShell(releaseLock(root, "tok-c")).stdout, /^absent/);
});

test("lock: acquire is idempotent for one run's token (a lost reply, tried again); release is by token", async () => {
  const root = path.join(await mkdtemp(path.join(os.tmpdir(), "slw-lock-")), "app");
  assert.deepEqual(parseLockReply(viaShell(acquireLock(root, info("tok-a"))).stdout), { state: "acquired" });
  assert.deepEqual(parseLockReply(viaShell(acquireLock(root, info("tok-a"))).stdout), { state: "acquired" }, "the same run again: still ours");
  assert.equal(parseLockReply(viaShell(acquireLock(root, info("tok-b"))).stdout).state, "held", "another run: held");
  assert.equal(parseLockReply(viaShell(acquireLock(root, info("tok"))).stdout).state, "held", "a prefix of our token is not our token");
  assert.match(viaShell(releaseLock(root, "tok-b")).stdout, /^not-ours/);
  assert.match(viaShell(releaseLock(root, "tok")).stdout, /^not-ours/);
  assert.ok(existsSync(`${root}/.slipway/lock`), "another token never removes it");
  assert.match(viaShell(releaseLock(root, "tok-a")).stdout, /^released/);
});

/** No pid is above pid_max (at most 2^22): a temp dir named with it (or one more) is a gone script's. */
const DEAD_PID = 4194305;

test("lock with clean: what a dead run left (temp dirs, received files, a non-dir incoming) goes; releases, venvs and a link's target stay", async () => {
  const base = await mkdtemp(path.join(os.tmpdir(), "slw-clean-"));
  const root = path.join(base, "app");
  const dirs = [
    "releases/b1",
    `releases/.tmp-b2-${DEAD_PID}/app`,
    "virtualenvs/0123456789abcdef",
    `virtualenvs/.tmp-0123456789abcdef-${DEAD_PID}`,
    "virtualenvs/.tmp-stale-0123456789abcdef-x1",
    ".slipway/incoming",
  ];
  for (const d of dirs) await mkdir(path.join(root, d), { recursive: true });
  await writeFile(path.join(root, ".slipway/incoming/.b2-r1-code.tar.zst.part"), "half");
  const locked = (tok: string) => {
    const r = viaShell(acquireLock(root, info(tok), true));
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(parseLockReply(r.stdout), { state: "acquired" });
    assert.match(viaShell(releaseLock(root, tok)).stdout, /^released/);
  };
  const tree = async () => (await readdir(root, { recursive: true })).map(String).sort();
  locked("tok-1");
  assert.deepEqual(await tree(), [".slipway", ".slipway/incoming", "releases", "releases/b1", "virtualenvs", "virtualenvs/0123456789abcdef"]);
  locked("tok-2");
  assert.deepEqual(
    await tree(),
    [".slipway", ".slipway/incoming", "releases", "releases/b1", "virtualenvs", "virtualenvs/0123456789abcdef"],
    "nothing stale: as it was",
  );
  // incoming as a file, then as a link to a dir elsewhere: replaced by a dir, the link's target untouched.
  await rm(path.join(root, ".slipway/incoming"), { recursive: true });
  await writeFile(path.join(root, ".slipway/incoming"), "x");
  locked("tok-3");
  assert.ok((await stat(path.join(root, ".slipway/incoming"))).isDirectory());
  const elsewhere = path.join(base, "elsewhere");
  await mkdir(elsewhere);
  await writeFile(path.join(elsewhere, "keep"), "k");
  await rm(path.join(root, ".slipway/incoming"), { recursive: true });
  await symlink(elsewhere, path.join(root, ".slipway/incoming"));
  locked("tok-4");
  assert.ok((await lstat(path.join(root, ".slipway/incoming"))).isDirectory(), "a real dir now");
  assert.deepEqual(await readdir(elsewhere), ["keep"]);
});

test("lock with clean: a temp dir whose script still runs (a killed deploy's, past unlock) is left to it", async () => {
  const root = path.join(await mkdtemp(path.join(os.tmpdir(), "slw-clean-live-")), "app");
  // This test's own pid stands for the host script that made the dir and will rename it into place.
  const live = [`virtualenvs/.tmp-0123456789abcdef-${process.pid}/bin`, `releases/.tmp-b2-${process.pid}/app`];
  const gone = [`virtualenvs/.tmp-0123456789abcdef-${DEAD_PID}`, `virtualenvs/.tmp-mark-0123456789abcdef-${DEAD_PID + 1}`];
  for (const d of [...live, ...gone]) await mkdir(path.join(root, d), { recursive: true });
  await writeFile(path.join(root, live[0] as string, "python"), "");
  const r = viaShell(acquireLock(root, info("tok-live"), true));
  assert.equal(r.status, 0, r.stderr);
  for (const d of live) assert.ok(existsSync(path.join(root, d)), `${d}: its script still runs, so it stays`);
  assert.ok(existsSync(path.join(root, live[0] as string, "python")), "nothing under it removed");
  for (const d of gone) assert.ok(!existsSync(path.join(root, d)), `${d}: its script is gone, so it goes`);
});

test("switch: rename(2) of a new symlink; old current becomes previous; idempotent; refuses a missing release", async () => {
  const root = await mkdtemp(path.join(os.tmpdir(), "slw-switch-"));
  await mkdir(`${root}/releases/b1`, { recursive: true });
  await mkdir(`${root}/releases/b2`, { recursive: true });
  assert.equal(viaShell(switchCurrent(root, "b1")).status, 0);
  assert.equal(await readlink(`${root}/current`), "releases/b1");
  assert.ok(!existsSync(`${root}/previous`));
  const r = viaShell(switchCurrent(root, "b2"));
  assert.match(r.stdout, /^old=releases\/b1$/m);
  assert.equal(await readlink(`${root}/current`), "releases/b2");
  assert.equal(await readlink(`${root}/previous`), "releases/b1");
  viaShell(switchCurrent(root, "b2"));
  assert.equal(await readlink(`${root}/previous`), "releases/b1", "switching to the current release changes nothing");
  const missing = viaShell(switchCurrent(root, "b9"));
  assert.equal(missing.status, 3);
  assert.equal(await readlink(`${root}/current`), "releases/b2");
  assert.ok(!existsSync(`${root}/.current.tmp`));
});

test("switchThenRun: switches, prints the marker, then runs the command (its exit status is the script's); no marker when the switch fails", async () => {
  const root = await mkdtemp(path.join(os.tmpdir(), "slw-switchrun-"));
  await mkdir(`${root}/releases/b1`, { recursive: true });
  await mkdir(`${root}/releases/b2`, { recursive: true });
  viaShell(switchCurrent(root, "b1"));
  const r = viaShell(switchThenRun(root, "b2", ["sh", "-c", 'readlink "$1"; printf "%s\\n" "$2"; exit 7', "x", `${root}/current`, "it's $(id)"]));
  assert.equal(r.status, 7, "the command's exit status");
  assert.deepEqual(
    r.stdout.split("\n"),
    ["old=releases/b1", "prev=", SWITCHED, "releases/b2", "it's $(id)", ""],
    "switched before the command ran; arguments are data",
  );
  assert.equal(await readlink(`${root}/previous`), "releases/b1");
  const again = viaShell(switchThenRun(root, "b2", ["true"]));
  assert.equal(again.status, 0);
  assert.match(again.stdout, new RegExp(`^old=releases/b2\n${SWITCHED}\n$`), "already current: nothing switched, the command still runs");
  const missing = viaShell(switchThenRun(root, "b9", ["touch", `${root}/ran`]));
  assert.equal(missing.status, 3);
  assert.ok(!missing.stdout.includes(SWITCHED));
  assert.ok(!existsSync(`${root}/ran`), "the command does not run when the switch failed");
  assert.equal(await readlink(`${root}/current`), "releases/b2");
});

test("peekHost: read-only lock state and listing in one script; a missing root is reported, not created", async () => {
  const base = await mkdtemp(path.join(os.tmpdir(), "slw-peek-"));
  const root = path.join(base, "app");
  const none = parsePeek(viaShell(peekHost(root)).stdout);
  assert.deepEqual(none.lock, { state: "free" });
  assert.deepEqual(none.listing.releases, []);
  assert.ok(!existsSync(root), "nothing written");
  await mkdir(`${root}/releases/b1`, { recursive: true });
  await mkdir(`${root}/releases/b2`, { recursive: true });
  viaShell(switchCurrent(root, "b1"));
  viaShell(switchCurrent(root, "b2"));
  viaShell(acquireLock(root, info("tok-p")));
  const p = parsePeek(viaShell(peekHost(root)).stdout);
  assert.equal(p.lock.state, "held");
  assert.equal(p.lock.state === "held" && p.lock.holder?.token, "tok-p");
  assert.equal(p.listing.current, "b2");
  assert.equal(p.listing.previous, "b1");
  assert.deepEqual(p.listing.releases.map((r) => r.id).sort(), ["b1", "b2"]);
});

test("runInDir: the user's command runs in the dir with the venv on PATH and SLIPWAY_* set; values are data, not code", async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), "slw-run-"));
  await mkdir(`${dir}/virtualenv/bin`, { recursive: true });
  const r = viaShell(runInDir(dir, 'pwd; echo "$SLIPWAY_BUILD_ID"; echo "$PATH" | cut -d: -f1', { SLIPWAY_BUILD_ID: "$(echo pwned)'" }));
  assert.equal(r.status, 0, r.stderr);
  const [pwd, id, first] = r.stdout.trim().split("\n");
  assert.equal(pwd, dir);
  assert.equal(id, "$(echo pwned)'");
  assert.equal(first, `${dir}/virtualenv/bin`);
  assert.equal(viaShell(runInDir(dir, "exit 5", {})).status, 5);
  assert.throws(() => runInDir(dir, "true", { "BAD NAME": "x" }));
});

test("appendLine: one JSON line appended per record", async () => {
  const file = path.join(await mkdtemp(path.join(os.tmpdir(), "slw-hist-")), ".slipway", "history.jsonl");
  viaShell(appendLine(file, JSON.stringify({ a: "it's $HOME" })));
  viaShell(appendLine(file, JSON.stringify({ b: 2 })));
  assert.deepEqual(
    (await readFile(file, "utf8"))
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l)),
    [{ a: "it's $HOME" }, { b: 2 }],
  );
  assert.throws(() => appendLine(file, "a\nb"));
});

test("receiveFile: the host keeps the file only if its sha256 matches; a mismatch exits 3 and leaves nothing", async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), "slw-recv-"));
  const data = "payload\n";
  const sha = execFileSync("sha256sum", { input: data, encoding: "utf8" }).split(" ")[0]!;
  assert.equal(viaShell(receiveFile(`${dir}/a`, sha), data).status, 0);
  assert.equal(await readFile(`${dir}/a`, "utf8"), data);
  const bad = viaShell(receiveFile(`${dir}/b`, sha), "tampered\n");
  assert.equal(bad.status, 3);
  assert.match(bad.stderr, /sha256 mismatch/);
  assert.ok(!existsSync(`${dir}/b`) && !existsSync(`${dir}/b.part`));
});

test("tarExtract: GNU tar with owners ignored, the right decompressor", () => {
  assert.deepEqual(tarExtract("/r/x.tar.zst", "zstd"), [
    "tar",
    "-x",
    "--use-compress-program=zstd",
    "-f",
    "/r/x.tar.zst",
    "--no-same-owner",
    "--no-same-permissions",
    "--no-overwrite-dir",
  ]);
  assert.equal(tarExtract("/r/x.tar.gz", "gzip")[2], "--gzip");
});

test("restart commands: supervisorctl's restart (not HUP), systemctl restart, or the user's command in current", () => {
  const base = {
    programs: ["gunicorn", "celery"],
    conf: "/etc/supervisor/supervisord.conf",
    command: "",
    scope: "system" as const,
    action: "restart" as const,
    sudo: false,
  };
  // supervisord: the release's Python speaks supervisorctl's XML-RPC (test/integration/supervisord-restart.test.ts)
  const sv = restartCommand({ ...base, manager: "supervisord" }, "/srv/a/current", {})!;
  assert.deepEqual(
    [sv[0], sv[1], ...sv.slice(3)],
    ["sh", "-c", "slipway", SUPERVISORCTL_RESTART_PY, "/srv/a/current/virtualenv/bin/python", "/etc/supervisor/supervisord.conf", "gunicorn", "celery"],
  );
  assert.deepEqual(restartCommand({ ...base, conf: "", manager: "supervisord" }, "/srv/a/current", {})!.slice(-3), ["", "gunicorn", "celery"]);
  assert.deepEqual(restartCommand({ ...base, manager: "systemd" }, "/srv/a/current", {}), ["systemctl", "restart", "gunicorn", "celery"]);
  assert.deepEqual(restartCommand({ ...base, manager: "systemd", scope: "user", action: "reload" }, "/srv/a/current", {}), [
    "systemctl",
    "--user",
    "reload",
    "gunicorn",
    "celery",
  ]);
  assert.deepEqual(restartVerifyCommand({ ...base, manager: "systemd", scope: "user" }), ["systemctl", "--user", "is-active", "gunicorn", "celery"]);
  assert.equal(restartVerifyCommand({ ...base, manager: "supervisord" }), undefined);
  assert.equal(restartCommand({ ...base, manager: "command" }, "/srv/a/current", {}), undefined);
  const cmd = restartCommand({ ...base, manager: "command", command: "kill -HUP $(cat app.pid)" }, "/srv/a/current", { SLIPWAY_BUILD_ID: "7" })!;
  assert.equal(cmd[0], "sh");
  assert.ok(cmd.includes("kill -HUP $(cat app.pid)") && cmd.includes("/srv/a/current") && cmd.includes("SLIPWAY_BUILD_ID=7"));
  assert.equal(restartFailed("supervisord", 0, "gunicorn: ERROR (spawn error)"), true);
  assert.equal(restartFailed("supervisord", 0, "gunicorn: stopped\ngunicorn: started"), false);
  assert.equal(restartFailed("supervisord", 0, "gunicorn: ERROR (not running)\ngunicorn: started"), false);
  assert.equal(restartFailed("supervisord", 0, "gunicorn: ERROR (no such process)"), true);
  assert.equal(restartFailed("command", 1, ""), true);
});

test("rollbackDestination: previous by default, --to among the host's releases; refusals say nothing changed", async () => {
  const { rollbackDestination } = await import("../../src/commands/rollback.js");
  const listing = {
    releases: [
      { id: "b3", mtime: 3, kb: 0 },
      { id: "b2", mtime: 2, kb: 0 },
      { id: "b1", mtime: 1, kb: 0 },
    ],
    venvs: [],
    current: "b3",
    previous: "b2",
    freeKb: 0,
  };
  assert.deepEqual(rollbackDestination("h1", listing), { from: "b3", to: "b2" });
  assert.deepEqual(rollbackDestination("h1", listing, "b1"), { from: "b3", to: "b1" });
  assert.throws(() => rollbackDestination("h1", listing, "b9"), /h1: release b9 is not on this host — nothing was changed/);
  assert.throws(() => rollbackDestination("h1", { ...listing, previous: undefined }), /h1: there is no previous release/);
});

test("rollback: an incomplete release is refused; hosts that disagree about previous are refused (exit 2), each host's choice listed", async () => {
  const { rollbackDestination, agreeOnPrevious } = await import("../../src/commands/rollback.js");
  const rel = (id: string, incomplete = false) => ({ id, mtime: 1, kb: 0, ...(incomplete ? { incomplete: true as const } : {}) });
  const a = { releases: [rel("b3"), rel("b2"), rel("b1")], venvs: [], current: "b3", previous: "b2", freeKb: 0 };
  const b = { releases: [rel("b3"), rel("b1", true), rel("bx")], venvs: [], current: "b3", previous: "bx", freeKb: 0 };
  assert.throws(() => rollbackDestination("h2", b, "b1"), /h2: release b1 is incomplete on this host .* nothing was changed/);
  assert.doesNotThrow(() =>
    agreeOnPrevious([
      ["h1", a],
      ["h2", { ...a }],
    ]),
  );
  assert.throws(
    () =>
      agreeOnPrevious([
        ["h1", a],
        ["h2", b],
      ]),
    (e: Error & { exitCode?: number; hint?: string }) => {
      assert.equal(e.exitCode, 2);
      assert.match(
        e.message,
        /the hosts disagree about the previous release — nothing was changed:\n {2}h1 {2}current b3, previous b2\n {2}h2 {2}current b3, previous bx/,
      );
      assert.match(e.hint ?? "", /--to BUILD_ID \(on every host: b3\)/, "b1 is incomplete on h2: not offered");
      return true;
    },
  );
  assert.throws(
    () =>
      agreeOnPrevious([
        ["h1", a],
        ["h2", { ...a, previous: undefined }],
      ]),
    /h2 {2}current b3, previous none/,
  );
});

test("manifest delta: zstd (zstd layers) or deflate against the host's current manifest, expanded on the host, sha256-checked; a wrong dictionary is refused", async () => {
  const { manifestPayloads } = await import("../../src/deploy/manifest-delta.js");
  const { stageRelease } = await import("../../src/deploy/stage.js");
  const { createHash } = await import("node:crypto");
  const { writeFile: write } = await import("node:fs/promises");
  const root = await mkdtemp(path.join(os.tmpdir(), "slw-delta-"));
  const old = Buffer.from(
    JSON.stringify({ format: 1, app: "hello", build_id: "b1", layers: [{ sha256: "a".repeat(64), size: 7000 }], builder: { hostname: "ci" } }, null, 2),
  );
  const now = Buffer.from(old.toString().replace(/b1/g, "b2").replace("a".repeat(64), "b".repeat(64)));
  await mkdir(`${root}/releases/b1`, { recursive: true });
  await write(`${root}/releases/b1/slipway.json`, old);
  const tools = (zstd: boolean) => ({ tar: true, zstd, gzip: true, sha256sum: true, teeP: true });
  const states = new Map([
    ["h1", { current: "b1", currentManifest: old, tools: tools(true) }],
    ["h2", { current: "b1", currentManifest: old, tools: tools(false) }],
    ["h3", { current: undefined, tools: tools(true) }],
  ]);
  const payloads = await manifestPayloads(now, root, states, "zstd", root);
  const [zstd, deflate] = [payloads.get("h1")!, payloads.get("h2")!];
  assert.deepEqual(zstd.delta, { dictionary: `${root}/releases/b1/slipway.json`, codec: "zstd" });
  assert.deepEqual(deflate.delta, { dictionary: `${root}/releases/b1/slipway.json`, codec: "deflate" }, "a host without zstd gets deflate");
  for (const p of [zstd, deflate]) assert.ok(p.bytes.length < now.length / 3, `the delta is small: ${p.bytes.length} of ${now.length} bytes`);
  assert.deepEqual(payloads.get("h3"), { bytes: now }, "no current release: sent as is");
  assert.equal(
    (await manifestPayloads(now, root, new Map([["h1", states.get("h1")!]]), "gzip", root)).get("h1")!.delta?.codec,
    "deflate",
    "gzip layers: deflate",
  );
  const failing = await manifestPayloads(now, root, new Map([["h1", states.get("h1")!]]), "zstd", root, async () => {
    throw new Error("no zstd here");
  });
  assert.equal(failing.get("h1")!.delta?.codec, "deflate", "zstd failing here: deflate");
  // A code layer: an empty tar, zstd-compressed.
  const code = execFileSync("sh", ["-c", "tar -cf - -T /dev/null | zstd -q -c"]);
  const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");
  // Stage `build` as a code-only deploy does: the delta, then the code layer, on stdin.
  const stage = (build: string, p: typeof zstd) =>
    spawnSync(
      "sh",
      [
        "-c",
        shJoin(
          stageRelease(
            root,
            build,
            "0123456789abcdef",
            {
              code: `${root}/.slipway/incoming/code.tar.zst`,
              codeSha: sha(code),
              manifest: `${root}/.slipway/incoming/slipway.json`,
              manifestSha: sha(now),
              manifestSize: p.bytes.length,
              manifestDelta: p.delta,
              python: "/usr/bin/python3",
            },
            [],
            "zstd",
          ),
        ),
      ],
      { input: Buffer.concat([p.bytes, code]) },
    );
  for (const [build, p] of [
    ["b2", zstd],
    ["b2d", deflate],
  ] as const) {
    const ok = stage(build, p);
    assert.equal(ok.status, 0, ok.stderr.toString());
    assert.deepEqual(await readFile(`${root}/releases/${build}/slipway.json`), now, `${p.delta!.codec}: the host holds the new manifest, byte for byte`);
  }
  // Against another file than the one it was made with: expands to something else (or fails), refused either way.
  await write(`${root}/releases/b1/slipway.json`, Buffer.from(old.toString().replace("ci", "xx")));
  for (const [build, p] of [
    ["b3", zstd],
    ["b3d", deflate],
  ] as const) {
    const bad = stage(build, p);
    assert.equal(bad.status, 3, bad.stderr.toString());
    assert.match(bad.stderr.toString(), /sha256 mismatch for slipway\.json|cannot expand the delta of slipway\.json/);
    assert.ok(!existsSync(`${root}/releases/${build}`));
  }
});

test("list_host: releases (with their venv), venvs (complete or not), current, previous, sizes when asked; temporary dirs and a missing root", async () => {
  const { listHost, parseListing } = await import("../../src/deploy/prune.js");
  const { symlink, writeFile: write, utimes } = await import("node:fs/promises");
  const root = path.join(await mkdtemp(path.join(os.tmpdir(), "slw-list-")), "app");
  for (const d of [
    "releases/b1",
    "releases/b2",
    "releases/.tmp-b3-12",
    "virtualenvs/aaaaaaaaaaaaaaaa",
    "virtualenvs/bbbbbbbbbbbbbbbb",
    "virtualenvs/.tmp-cccccccccccccccc-9",
  ])
    await mkdir(`${root}/${d}`, { recursive: true });
  await write(`${root}/virtualenvs/aaaaaaaaaaaaaaaa/.slipway-complete`, "");
  // b1 and b2 have no completion mark (an older slipway's) but are previous and current: complete.
  for (const id of ["b1", "b2"]) await write(`${root}/releases/${id}/slipway.json`, "{}\n");
  await write(`${root}/virtualenvs/aaaaaaaaaaaaaaaa/big`, Buffer.alloc(64 * 1024));
  await symlink(`${root}/virtualenvs/aaaaaaaaaaaaaaaa`, `${root}/releases/b1/virtualenv`);
  await utimes(`${root}/releases/b1`, 1000, 1000);
  await utimes(`${root}/releases/b2`, 2000, 2000);
  await symlink("releases/b2", `${root}/current`);
  await symlink("releases/b1", `${root}/previous`);
  const run = (sizes: boolean) => {
    const r = viaShell(listHost(root, sizes));
    assert.equal(r.status, 0, r.stderr);
    return parseListing(r.stdout);
  };
  const l = run(false);
  assert.deepEqual(l.releases, [
    { id: "b2", mtime: 2000, kb: 0 },
    { id: "b1", mtime: 1000, kb: 0, venv: "aaaaaaaaaaaaaaaa" },
  ]);
  assert.deepEqual(l.venvs, [
    { key: "aaaaaaaaaaaaaaaa", kb: 0, complete: true },
    { key: "bbbbbbbbbbbbbbbb", kb: 0, complete: false },
  ]);
  assert.deepEqual([l.current, l.previous], ["b2", "b1"]);
  assert.ok(l.freeKb > 0);
  assert.ok(run(true).venvs[0]!.kb >= 64, "sizes when asked");
  const none = viaShell(listHost(path.join(root, "nope")));
  assert.deepEqual([none.status, none.stdout.trim()], [0, "missing"]);
  const empty = path.join(root, "..", "empty");
  await mkdir(empty);
  assert.deepEqual(parseListing(viaShell(listHost(empty)).stdout).releases, [], "no releases yet: an empty list, exit 0");
});

test("probeHost: tee -p through /dev/fd is found where it works, and missing where tee rejects -p (BusyBox, coreutils < 8.24)", async () => {
  const root = await mkdtemp(path.join(os.tmpdir(), "slw-probe-"));
  const argv = probeHost(root, { ...PY, configured: "/usr/bin/python3" }, "b1", "0123456789abcdef");
  const run = (env: NodeJS.ProcessEnv) => parseProbe(spawnSync("sh", ["-c", shJoin(argv)], { encoding: "utf8", env }).stdout);
  assert.equal(run(process.env).tools.teeP, true);
  // A tee that knows no -p, first on PATH.
  const bin = path.join(root, "old-bin");
  await mkdir(bin);
  await writeFile(path.join(bin, "tee"), '#!/bin/sh\ncase $1 in -p) echo "tee: unrecognized option -p" >&2; exit 1;; esac\nexec /usr/bin/tee "$@"\n', {
    mode: 0o755,
  });
  const old = run({ ...process.env, PATH: `${bin}:${process.env["PATH"]}` });
  assert.equal(old.tools.teeP, false);
  assert.equal(old.tools.tar, true, "the other tools are still found");
});
