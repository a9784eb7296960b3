// Every program the tests, benches, demo and slipway itself start must come from a package
// that scripts/setup.sh installs, or be on a bare Debian 12 (priority required/important):
// otherwise a fresh machine fails `npm test` where this one, with something installed by
// hand, passes. Programs are found in the sources (argv[0] literals of spawn/exec calls and
// argv arrays), plus those started inside host-side sh scripts and by test helpers, listed here.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, realpathSync, statSync } from "node:fs";
import path from "node:path";

/** Started from sh scripts (host steps, the session driver, setup/demo, test helpers), not as a literal argv[0]. */
const FROM_SCRIPTS = [
  "sh",
  "tar",
  "zstd",
  "gzip",
  "sha256sum",
  "head",
  "cmp",
  "find",
  "stat",
  "base64",
  "mv",
  "ln",
  "readlink",
  "mkdir",
  "rm",
  "cat",
  "cut",
  "dirname",
  "basename",
  "df",
  "sleep",
  "unshare",
  "nsenter",
  "mount",
  "ip",
  "ssh",
  "ssh-keygen",
  "sshd",
  "supervisord",
  "supervisorctl",
  "haproxy",
  "git",
  "curl",
  "python3",
  "dpkg-query",
  "apt-get",
  "runuser",
  "redis-server",
  "id",
  "sudo",
  "visudo",
  "/usr/lib/postgresql/15/bin/initdb",
  "/usr/lib/postgresql/15/bin/pg_ctl",
  "/usr/lib/postgresql/15/bin/postgres",
  "psql",
  "kill",
];
/** Not Debian packages here: Node itself, and what npm installs. */
const NOT_FROM_APT = new Set(["node", "npm", "npx", "tsx", process.execPath]);
const SOURCE_DIRS = ["src", "test", "bench", "scripts"];

function sources(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    const p = path.join(dir, name);
    if (statSync(p).isDirectory()) sources(p, out);
    else if (/\.(ts|mjs|sh)$/.test(name)) out.push(p);
  }
  return out;
}

function programsInSources(): Set<string> {
  const found = new Set<string>(FROM_SCRIPTS);
  const patterns = [/\b(?:spawnSync|spawn|execFileSync|execFile)\(\s*"([^"\s]+)"/g, /\b(?:run|probe|runOk|exec)\(\s*\[\s*"([^"\s]+)"/g];
  for (const file of SOURCE_DIRS.flatMap((d) => sources(d))) {
    const text = readFileSync(file, "utf8");
    for (const re of patterns) for (const m of text.matchAll(re)) found.add(m[1]!);
  }
  // Shell builtins and words that are not programs.
  for (const builtin of ["cd", "echo", "exit", "printf", "true", "false", "set", "exec"]) found.delete(builtin);
  return found;
}

/** APT_PACKAGES=(...) in scripts/setup.sh. */
function setupPackages(): Set<string> {
  const text = readFileSync("scripts/setup.sh", "utf8");
  const m = /APT_PACKAGES=\(([^)]*)\)/.exec(text);
  assert.ok(m, "scripts/setup.sh has an APT_PACKAGES=(...) list");
  return new Set(m[1]!.split(/\s+/).filter(Boolean));
}

function which(program: string): string | undefined {
  if (program.startsWith("/")) return existsSync(program) ? program : undefined;
  for (const dir of ["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"]) {
    const file = path.join(dir, program);
    if (existsSync(file) && statSync(file).isFile()) return file;
  }
  return undefined;
}

/** The Debian package that owns `file` (merged /usr: dpkg may know it as /bin/x or /usr/bin/x). */
function owner(file: string): string | undefined {
  const names = new Set([file, realpathSync(file)]);
  for (const f of [...names]) {
    if (f.startsWith("/usr/")) names.add(f.slice(4));
    else names.add(`/usr${f}`);
  }
  for (const f of names) {
    const r = spawnSync("dpkg", ["-S", f], { encoding: "utf8" });
    // ("diversion by dash from: /bin/sh" lines name no package.)
    const line = r.stdout.split("\n").find((l) => /^[a-z0-9][a-z0-9+.-]*(:[a-z0-9]+)?(, [a-z0-9][a-z0-9+.:-]*)*: \//.test(l));
    if (r.status === 0 && line) return line.split(/[:,]/)[0]!.trim();
  }
  return undefined;
}

const priority = (pkg: string) => execFileSync("dpkg-query", ["-W", "-f=${Priority}", pkg], { encoding: "utf8" }).trim();

/** The listed packages and everything they depend on (what apt-get install brings along). */
function withDependencies(pkgs: Set<string>): Set<string> {
  const out = execFileSync(
    "apt-cache",
    ["depends", "--recurse", "--installed", "--no-recommends", "--no-suggests", "--no-conflicts", "--no-breaks", "--no-replaces", "--no-enhances", ...pkgs],
    { encoding: "utf8", maxBuffer: 64 << 20 },
  );
  const all = new Set(pkgs);
  for (const line of out.split("\n")) {
    const m = /^(?:\s+(?:\|)?(?:Pre)?Depends: )?<?([a-z0-9][a-z0-9+.-]+)(?::[a-z0-9]+)?>?$/.exec(line);
    if (m) all.add(m[1]!);
  }
  return all;
}

test("setup: every program the project starts is installed by scripts/setup.sh or on a bare Debian 12", () => {
  const listed = setupPackages();
  const wanted = withDependencies(listed);
  const problems: string[] = [];
  const seen: string[] = [];
  for (const program of [...programsInSources()].sort()) {
    if (NOT_FROM_APT.has(program)) continue;
    const file = which(program);
    if (!file) {
      problems.push(`${program}: not installed on this machine at all`);
      continue;
    }
    const pkg = owner(file);
    if (!pkg) {
      problems.push(`${program} (${file}): no Debian package owns it — installed by hand?`);
      continue;
    }
    const prio = priority(pkg);
    seen.push(`${program}:${pkg}:${prio}`);
    if (!wanted.has(pkg) && prio !== "required" && prio !== "important") {
      problems.push(
        `${program} comes from ${pkg} (priority ${prio}), which scripts/setup.sh does not install (nor any package it lists depends on): add it to APT_PACKAGES`,
      );
    }
  }
  assert.deepEqual(problems, [], seen.join(" "));
  assert.ok(seen.length >= 20, `checked ${seen.length} programs`);
});
