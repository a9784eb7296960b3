import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { chownSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { gitFiles } from "../../src/build/git-files.js";
import { gitInfo } from "../../src/build/git.js";
import { EnvironmentError } from "../../src/errors.js";
import { tmpDir } from "../support/tmp.js";

const env = { ...process.env, GIT_CONFIG_NOSYSTEM: "1", GIT_AUTHOR_DATE: "2026-01-02T03:04:05Z", GIT_COMMITTER_DATE: "2026-01-02T03:04:05Z" };
const git = (cwd: string, ...args: string[]) =>
  execFileSync("git", ["-c", "user.email=t@example.com", "-c", "user.name=t", ...args], { cwd, env, encoding: "utf8" }).trim();

async function repo(): Promise<string> {
  const dir = await tmpDir("slipway-git");
  git(dir, "init", "-q");
  writeFileSync(join(dir, "app.py"), "print(1)\n");
  writeFileSync(join(dir, ".gitignore"), ".env\n");
  writeFileSync(join(dir, ".env"), "SECRET=1\n");
  git(dir, "add", "-A");
  git(dir, "commit", "-qm", "app");
  return dir;
}

test("gitInfo: commit, commit time and dirty state; undefined outside git", async () => {
  const dir = await repo();
  const info = await gitInfo(dir, env);
  assert.equal(info?.commit, git(dir, "rev-parse", "HEAD"));
  assert.equal(info?.time, Date.parse("2026-01-02T03:04:05Z") / 1000);
  assert.equal(info?.dirty, false);
  writeFileSync(join(dir, "app.py"), "print(2)\n");
  assert.equal((await gitInfo(dir, env))?.dirty, true);
  assert.equal(await gitInfo(await tmpDir("slipway-nogit"), env), undefined);
});

test("gitFiles: what git would commit; undefined outside git; a repository git refuses is an error naming it", async () => {
  const dir = await repo();
  writeFileSync(join(dir, "new.py"), "\n");
  assert.deepEqual((await gitFiles(dir, env))?.sort(), [".gitignore", "app.py", "new.py"]);
  assert.equal(await gitFiles(await tmpDir("slipway-nogit"), env), undefined);
  // A repository owned by another user: git refuses it ("dubious ownership") when run as root.
  if (process.getuid?.() === 0) {
    const other = await repo();
    execFileSync("chown", ["-R", "nobody", other]);
    await assert.rejects(
      gitFiles(other, env),
      (err: unknown) => err instanceof EnvironmentError && err.message.includes(other) && /safe\.directory/.test(err.hint ?? ""),
    );
  }
  // A sub dir of a work tree lists its own files only.
  mkdirSync(join(dir, "sub"));
  writeFileSync(join(dir, "sub", "x.py"), "\n");
  chownSync(join(dir, "sub", "x.py"), 0, 0);
  assert.deepEqual(await gitFiles(join(dir, "sub"), env), ["x.py"]);
});
