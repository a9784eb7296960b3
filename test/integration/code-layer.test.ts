// What goes into the code layer: inside git, what git would commit (never a gitignored .env,
// .venv or database); outside git, the walk minus the usual suspects; never a secret; minify
// before or after the steps; --require-clean. One workspace: the venv is built once.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { appendFile, cp, mkdir, readFile, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { build } from "../../src/commands/build.js";
import { inspect } from "../../src/commands/inspect.js";
import { SecretsError } from "../../src/build/secrets.js";
import { EnvironmentError, UsageError } from "../../src/errors.js";
import { exampleWorkspace, type Workspace } from "../support/build-app.js";

const git = (ws: Workspace, ...args: string[]) =>
  execFileSync("git", ["-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "init.defaultBranch=main", ...args], { cwd: ws.app, encoding: "utf8" });

const codeFiles = (artifact: string) =>
  execFileSync("sh", ["-c", 'tar -xOf "$1" code.tar.zst | zstd -dc | tar -t', "sh", artifact], { encoding: "utf8" })
    .split("\n")
    .filter(Boolean)
    .map((l) => l.replace(/^\.\//, "").replace(/\/$/, ""));

const codeFile = (artifact: string, rel: string) =>
  execFileSync("sh", ["-c", 'tar -xOf "$1" code.tar.zst | zstd -dc | tar -xO "$2"', "sh", artifact, rel], { encoding: "utf8" });

async function setBuild(ws: Workspace, lines: Record<string, string>): Promise<void> {
  const file = path.join(ws.app, "slipway.toml");
  let text = await readFile(file, "utf8");
  for (const [key, value] of Object.entries(lines)) {
    const re = new RegExp(`^${key}\\s*=.*$`, "m");
    text = re.test(text) ? text.replace(re, `${key} = ${value}`) : text.replace(/^\[build\]$/m, `[build]\n${key} = ${value}`);
  }
  await writeFile(file, text);
}

const buildAs = (ws: Workspace, id: string, extra: { requireClean?: boolean } = {}) => build({ cwd: ws.app, env: ws.env, buildId: id, ...extra });

/** The local clutter a developer's checkout has and .gitignore lists. */
async function clutter(ws: Workspace): Promise<void> {
  await writeFile(path.join(ws.app, ".env"), "SECRET_KEY=do-not-ship-me\n");
  await mkdir(path.join(ws.app, ".venv", "lib"), { recursive: true });
  await writeFile(path.join(ws.app, ".venv", "lib", "big.bin"), Buffer.alloc(5 * 1024 * 1024, 7));
  await writeFile(path.join(ws.app, "db.sqlite3"), "SQLite format 3\0");
}

test("code layer: outside git, .venv, venv, .env and *.sqlite3 stay out; inside git, only what git would commit", async () => {
  const ws = await exampleWorkspace("slipway-code");
  await clutter(ws);
  await mkdir(path.join(ws.app, "venv"));
  await writeFile(path.join(ws.app, "venv", "pyvenv.cfg"), "home = /usr/bin\n");

  // Outside git.
  const plain = await buildAs(ws, "p1");
  const plainFiles = codeFiles(plain.artifact);
  for (const absent of [".env", ".venv", ".venv/lib/big.bin", "venv", "db.sqlite3"]) assert.ok(!plainFiles.includes(absent), `${absent} left out outside git`);
  assert.ok(plainFiles.includes("hello/app.py"));
  assert.ok(plain.layers.code.size < 1024 * 1024, `code layer ${plain.layers.code.size} bytes: the 5 MB under .venv is not in it`);
  const seen = await inspect({ cwd: ws.app, artifact: plain.artifact });
  assert.ok(seen.code.largest.length > 3 && seen.code.largest.every((f, i, all) => i === 0 || all[i - 1]!.size >= f.size), "largest first");
  assert.ok(seen.code.largest.some((f) => f.rel === "static/css/site.css"));
  assert.equal(seen.code.warning, undefined);

  // A git work tree whose .gitignore lists them; an untracked, not ignored file comes along.
  await rm(path.join(ws.app, "venv"), { recursive: true });
  await appendFile(path.join(ws.app, ".gitignore"), ".venv/\n.env\n*.sqlite3\nassets/dist/\nscratch.txt\n");
  await mkdir(path.join(ws.app, "assets", "dist"), { recursive: true });
  await writeFile(path.join(ws.app, "assets", "dist", "bundle.js"), "console.log('built before slipway');\n");
  await writeFile(path.join(ws.app, "scratch.txt"), "ignored, never shipped\n");
  git(ws, "init", "-q");
  git(ws, "add", "-A");
  git(ws, "commit", "-qm", "app");
  await writeFile(path.join(ws.app, "NOTES.md"), "untracked, not ignored: shipped\n");
  await setBuild(ws, { steps: JSON.stringify(["python -c \"open('made_by_step.txt','w').write('x')\""]) });
  git(ws, "commit", "-qam", "a step");

  const inGit = await buildAs(ws, "g1");
  const files = codeFiles(inGit.artifact);
  for (const absent of [".env", ".venv", "db.sqlite3", "assets/dist/bundle.js", "scratch.txt", ".git"])
    assert.ok(!files.includes(absent), `${absent} is ignored: not shipped`);
  for (const present of ["hello/app.py", "NOTES.md", "made_by_step.txt", ".gitignore"]) assert.ok(files.includes(present), `${present} shipped`);
  const manifest = JSON.parse(execFileSync("tar", ["-xOf", inGit.artifact, "slipway.json"], { encoding: "utf8" }));
  assert.equal(manifest.git.dirty, true, "NOTES.md is untracked: the tree is dirty");

  // build.include_ignored brings a named ignored path in.
  await setBuild(ws, { include_ignored: '["assets/dist"]' });
  const withAssets = codeFiles((await buildAs(ws, "g2")).artifact);
  assert.ok(withAssets.includes("assets/dist/bundle.js"));
  assert.ok(!withAssets.includes(".env"));

  // --require-clean: refused while NOTES.md and the config change are uncommitted; built once committed.
  await assert.rejects(buildAs(ws, "g3", { requireClean: true }), (e: unknown) => e instanceof UsageError && /not committed/.test(e.message));
  git(ws, "add", "-A");
  git(ws, "commit", "-qm", "notes");
  const clean = await buildAs(ws, "g4", { requireClean: true });
  assert.equal(JSON.parse(execFileSync("tar", ["-xOf", clean.artifact, "slipway.json"], { encoding: "utf8" })).git.dirty, false);
});

test("code layer: a gitignored wheelhouse that pip_args names still feeds pip, and never ships", async () => {
  const ws = await exampleWorkspace("slipway-wheels");
  await cp(ws.wheelhouse, path.join(ws.app, "wheels"), { recursive: true });
  await appendFile(path.join(ws.app, ".gitignore"), "wheels/\n");
  await setBuild(ws, { pip_args: '["--no-index", "--find-links", "wheels"]' });
  git(ws, "init", "-q");
  git(ws, "add", "-A");
  git(ws, "commit", "-qm", "app");
  const b = await buildAs(ws, "w1");
  assert.equal(b.venv.cache, "miss", "pip installed from ./wheels");
  assert.ok(!codeFiles(b.artifact).some((f) => f.startsWith("wheels")), "the ignored wheelhouse is not in the code layer");
});

test("code layer: an app dir that git ignores whole is an error, not an empty layer", async () => {
  const ws = await exampleWorkspace("slipway-ignored");
  await writeFile(path.join(ws.app, ".gitignore"), "*\n");
  git(ws, "init", "-q");
  await assert.rejects(buildAs(ws, "i1"), (e: unknown) => e instanceof EnvironmentError && /git lists no file/.test(e.message));
});

test("code layer: over 50 MB, build and inspect warn and name the largest files", async () => {
  const ws = await exampleWorkspace("slipway-big");
  await mkdir(path.join(ws.app, "data-dump"));
  await writeFile(path.join(ws.app, "data-dump", "export.csv"), Buffer.alloc(51 * 1024 * 1024, 0x2c));
  const events: { type: string; level?: string; message?: string }[] = [];
  const big = await build({ cwd: ws.app, env: ws.env, buildId: "big1", emit: (e) => events.push(e) });
  assert.ok(events.some((e) => e.type === "log" && e.level === "warn" && /code layer holds \d+ bytes .*data-dump\/export\.csv/.test(e.message ?? "")));
  const seen = await inspect({ cwd: ws.app, artifact: big.artifact });
  assert.equal(seen.code.largest[0]?.rel, "data-dump/export.csv");
  assert.match(seen.code.warning ?? "", /over 52428800/);
});

test("code layer: a committed .env, a key file or a private key block fails the build (exit 2) naming each; build.allow lets a path through", async () => {
  const ws = await exampleWorkspace("slipway-secrets");
  git(ws, "init", "-q");
  await writeFile(path.join(ws.app, ".env"), "SECRET_KEY=committed-by-mistake\n");
  await writeFile(path.join(ws.app, ".env.example"), "SECRET_KEY=\n");
  await mkdir(path.join(ws.app, "certs"));
  await writeFile(path.join(ws.app, "certs", "site.pem"), "not really a cert\n");
  await writeFile(
    path.join(ws.app, "hello", "deploy_notes.txt"),
    "x\n-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n",
  );
  git(ws, "add", "-A");
  git(ws, "commit", "-qm", "oops");

  const outDir = path.join(ws.app, "dist");
  await assert.rejects(buildAs(ws, "s1"), (e: unknown) => {
    assert.ok(e instanceof SecretsError, String(e));
    assert.equal(e.exitCode, 2);
    assert.deepEqual(e.findings.map((f) => f.rel).sort(), [".env", "certs/site.pem", "hello/deploy_notes.txt"]);
    assert.match(e.message, /\.env: its name/);
    assert.match(e.message, /hello\/deploy_notes\.txt: it holds a private key/);
    return true;
  });
  await assert.rejects(readFile(path.join(outDir, "hello-s1.tar")), "no artifact was written");

  await setBuild(ws, { allow: JSON.stringify(["certs/*.pem", "hello/deploy_notes.txt"]) });
  await assert.rejects(buildAs(ws, "s2"), (e: unknown) => e instanceof SecretsError && e.findings.map((f) => f.rel).join() === ".env");
  git(ws, "rm", "-q", "--cached", ".env");
  await appendFile(path.join(ws.app, ".gitignore"), ".env\n");
  const ok = await buildAs(ws, "s3");
  const files = codeFiles(ok.artifact);
  assert.ok(files.includes(".env.example") && files.includes("certs/site.pem") && !files.includes(".env"));
});

test("build.minify_when: before-steps minifies the sources, so a step that fingerprints them names the minified bytes", async () => {
  const ws = await exampleWorkspace("slipway-minify");
  // A collectstatic in miniature: copy app.js to collected/app.<md5[:12]>.js.
  const collect = [
    "import hashlib, os, shutil",
    "b = open('static/js/app.js', 'rb').read()",
    "os.makedirs('collected', exist_ok=True)",
    "open('collected/app.%s.js' % hashlib.md5(b).hexdigest()[:12], 'wb').write(b)",
  ].join("; ");
  await writeFile(path.join(ws.app, "collect.py"), collect.replaceAll("; ", "\n"));
  await setBuild(ws, { steps: '["python collect.py"]', minify_when: '"before-steps"' });
  const before = await buildAs(ws, "m1");
  const source = await readFile(path.join(ws.app, "static/js/app.js"), "utf8");
  const collected = codeFiles(before.artifact).filter((f) => /^collected\/app\.[0-9a-f]{12}\.js$/.test(f));
  assert.equal(collected.length, 1);
  const served = codeFile(before.artifact, collected[0]!);
  assert.ok(served.length < source.length * 0.8, `the collected file is minified: ${source.length} → ${served.length}`);
  assert.equal(collected[0], `collected/app.${createHash("md5").update(served).digest("hex").slice(0, 12)}.js`, "its fingerprint is of the minified bytes");

  await setBuild(ws, { minify_when: '"after-steps"' });
  const after = await buildAs(ws, "m2");
  const collectedAfter = codeFiles(after.artifact).find((f) => f.startsWith("collected/"))!;
  assert.equal(codeFile(after.artifact, collectedAfter), source, "after-steps: the step saw (and collected) the unminified source");
});
