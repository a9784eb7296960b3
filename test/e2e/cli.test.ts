import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { chmod, mkdir, open, readFile, writeFile, copyFile, truncate, stat } from "node:fs/promises";
import path from "node:path";
import { slipway } from "../support/cli.js";
import { exampleWorkspace } from "../support/build-app.js";
import { tmpDir } from "../support/tmp.js";

const VERSION = JSON.parse(await readFile(new URL("../../package.json", import.meta.url), "utf8")).version as string;

test("cli: --version, --help, unknown commands and bad flags", async () => {
  const cwd = await tmpDir("slipway-e2e");
  const v = slipway(["--version"], { cwd });
  assert.equal(v.code, 0);
  assert.equal(v.stdout.trim(), VERSION);
  assert.equal(slipway(["--help"], { cwd }).code, 0);
  assert.equal(slipway(["frobnicate"], { cwd }).code, 2);
  assert.equal(slipway(["build", "--no-such-flag"], { cwd }).code, 2);
  const none = slipway(["build"], { cwd });
  assert.equal(none.code, 2);
  assert.match(none.stderr, /no slipway\.toml here/);
  assert.match(none.stderr, /slipway init/);
});

test("cli: build --json, inspect, inspect --verify; a flipped byte in each member exits 3 naming it", async () => {
  const ws = await exampleWorkspace("slipway-e2e");
  const b = slipway(["build", "--build-id", "e2e1", "--json"], { cwd: ws.app, env: ws.env });
  assert.equal(b.code, 0, b.stderr);
  const lines = b.json();
  const result = lines.at(-1)!;
  assert.equal(result.type, "result");
  assert.equal(result.ok, true);
  assert.ok(lines.some((l) => l.type === "phase" && l.phase === "venv" && l.status === "done"));
  const artifact = result.artifact as string;
  assert.equal(artifact, path.join(ws.app, "dist", "hello-e2e1.tar"));

  const human = slipway(["build", "--build-id", "e2e2"], { cwd: ws.app, env: ws.env });
  assert.equal(human.code, 0, human.stderr);
  assert.match(human.stdout, /^built dist\/hello-e2e2\.tar/);
  assert.match(human.stdout, /\(hit; layer reused from cache\)/);

  const shown = slipway(["inspect", artifact], { cwd: ws.app });
  assert.equal(shown.code, 0);
  assert.match(shown.stdout, /build\s+e2e1/);
  assert.match(shown.stdout, /venv key\s+[0-9a-f]{16}/);
  const ok = slipway(["inspect", artifact, "--verify", "--json"], { cwd: ws.app });
  assert.equal(ok.code, 0, ok.stderr);
  assert.equal((ok.json().at(-1)!.verified as { checksumFile: string }).checksumFile, "matched");

  // Offsets of each member's data inside the uncompressed outer tar.
  const members = await memberOffsets(artifact);
  for (const [member, why] of [
    ["code.tar.zst", /layer code/],
    ["venv.tar.zst", /layer venv/],
    ["slipway.json", /slipway\.json|sha256/],
  ] as const) {
    const copy = path.join(ws.dir, `flipped-${member}.tar`);
    await copyFile(artifact, copy);
    const m = members.get(member)!;
    await flipByte(copy, m.offset + Math.floor(m.size / 2));
    const r = slipway(["inspect", copy, "--verify"], { cwd: ws.app });
    assert.equal(r.code, 3, `${member}: ${r.stderr}`);
    assert.match(r.stderr, why);
    assert.doesNotMatch(r.stderr, /\n\s+at /, "no stack trace");
  }
  const truncated = path.join(ws.dir, "truncated.tar");
  await copyFile(artifact, truncated);
  await truncate(truncated, Math.floor((await stat(truncated)).size / 2));
  const t = slipway(["inspect", truncated, "--verify"], { cwd: ws.app });
  assert.equal(t.code, 3, t.stderr);

  // The .sha256 beside the artifact is checked too.
  await writeFile(`${artifact}.sha256`, `${"0".repeat(64)}  ${path.basename(artifact)}\n`);
  const side = slipway(["inspect", artifact, "--verify"], { cwd: ws.app });
  assert.equal(side.code, 3);
  assert.match(side.stderr, /hello-e2e1\.tar\.sha256 says 0{64}/);
});

test("cli: config errors exit 2 with file:line, key path and the fix; bad build ids exit 2", async () => {
  const ws = await exampleWorkspace("slipway-e2e");
  const file = path.join(ws.app, "slipway.toml");
  const text = await readFile(file, "utf8");
  await writeFile(file, text.replace(/^exclude\s*=/m, "exlude ="));
  const line = text.split("\n").findIndex((l) => /^exclude\s*=/.test(l)) + 1;
  const r = slipway(["build"], { cwd: ws.app, env: ws.env });
  assert.equal(r.code, 2);
  assert.match(r.stderr, new RegExp(`slipway\\.toml:${line}: build\\.exlude: unknown key \\(did you mean \`exclude\`\\?\\)`));
  await writeFile(file, text);
  const bad = slipway(["build", "--build-id", "../evil"], { cwd: ws.app, env: ws.env });
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /build id "\.\.\/evil" \(from --build-id\) is not valid/);
  const fromEnv = slipway(["build"], { cwd: ws.app, env: { ...ws.env, BUILD_NUMBER: "7 8" } });
  assert.equal(fromEnv.code, 2);
  assert.match(fromEnv.stderr, /from \$BUILD_NUMBER/);
  assert.ok(!existsSync(path.join(ws.app, "dist")), "nothing was built");
});

test("cli: a failing step exits 1 with the step, its exit code and output", async () => {
  const ws = await exampleWorkspace("slipway-e2e");
  const file = path.join(ws.app, "slipway.toml");
  await writeFile(file, (await readFile(file, "utf8")).replace(/^steps\s*=.*$/m, 'steps = ["python -c \\"import sys; print(\'collecting\'); sys.exit(3)\\""]'));
  const r = slipway(["build", "--build-id", "s1"], { cwd: ws.app, env: ws.env });
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /build step 1 .* failed: .* exited with code 3/);
  assert.match(r.stderr, /collecting/);
  assert.ok(!existsSync(path.join(ws.app, "dist", "hello-s1.tar")));
});

test("cli: an unwritable root exits 2 and says how to make it writable", async () => {
  const ws = await exampleWorkspace("slipway-e2e");
  await chmod(ws.dir, 0o755);
  const root = path.join(ws.dir, "locked-root");
  await mkdir(root, { mode: 0o755 });
  const file = path.join(ws.app, "slipway.toml");
  await writeFile(file, (await readFile(file, "utf8")).replace(/^root\s*=.*$/m, `root = "${root}"`));
  const cache = path.join(ws.dir, "nobody-cache");
  await mkdir(cache, { mode: 0o777 });
  await chmod(cache, 0o777);
  const r = slipway(["build", "--out", path.join(cache, "dist")], {
    cwd: ws.app,
    env: { ...ws.env, HOME: cache, SLIPWAY_CACHE_DIR: cache },
    prefix: ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"],
  });
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, new RegExp(`${root} is not writable by nobody`));
  assert.match(r.stderr, /sudo mkdir -p .* && sudo chown nobody/);
});

test("cli: init writes a commented config detected from the app, and refuses to overwrite it", async () => {
  const dir = await tmpDir("slipway-e2e-init");
  const app = path.join(dir, "shop");
  await mkdir(path.join(app, "static/js"), { recursive: true });
  await writeFile(path.join(app, "manage.py"), "");
  await writeFile(path.join(app, "requirements.txt"), "django\n");
  const r = slipway(["init"], { cwd: app });
  assert.equal(r.code, 0, r.stderr);
  const config = await readFile(path.join(app, "slipway.toml"), "utf8");
  assert.match(config, /^name\s+= "shop"/m);
  assert.match(config, /collectstatic --noinput/);
  assert.match(config, /"static\/\*\*\/\*\.js"/);
  assert.match(config, /^# /m);
  const again = slipway(["init"], { cwd: app });
  assert.equal(again.code, 2);
  assert.match(again.stderr, /already exists/);
  assert.equal(slipway(["init", "--yes"], { cwd: app }).code, 0);
});

async function memberOffsets(file: string): Promise<Map<string, { offset: number; size: number }>> {
  const data = await readFile(file);
  const out = new Map<string, { offset: number; size: number }>();
  let pos = 0;
  while (pos + 512 <= data.length) {
    const name = data
      .subarray(pos, pos + 100)
      .toString("utf8")
      .replace(/\0.*$/s, "");
    if (!name) break;
    const size = parseInt(
      data
        .subarray(pos + 124, pos + 136)
        .toString("utf8")
        .replace(/\0.*$/s, "")
        .trim(),
      8,
    );
    out.set(name, { offset: pos + 512, size });
    pos += 512 + Math.ceil(size / 512) * 512;
  }
  return out;
}

async function flipByte(file: string, offset: number): Promise<void> {
  const fh = await open(file, "r+");
  try {
    const buf = Buffer.alloc(1);
    await fh.read(buf, 0, 1, offset);
    buf[0] = buf[0]! ^ 0xff;
    await fh.write(buf, 0, 1, offset);
  } finally {
    await fh.close();
  }
}
