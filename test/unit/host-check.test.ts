import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { chmod, copyFile, lstat, mkdir, readdir, writeFile } from "node:fs/promises";
import { existsSync } from "node:fs";
import path from "node:path";
import { createHash } from "node:crypto";
import { readFile, rm, stat, symlink } from "node:fs/promises";
import { parseProbe, probeHost } from "../../src/deploy/probe.js";
import { incompatibilities } from "../../src/deploy/plan.js";
import { interpreterFields } from "../../src/deploy/interpreter-mark.js";
import { PROBE_SCRIPT, type PythonInfo } from "../../src/build/interpreter.js";
import type { Manifest } from "../../src/artifact/manifest.js";
import { unpackRelease, unpackVenv } from "../../src/deploy/stage.js";
import { acquireLock } from "../../src/deploy/lock.js";
import { listHost, parseListing, removeItems } from "../../src/deploy/prune.js";
import { shJoin } from "../../src/transport/quote.js";
import { packLayer, rawEntry, type LayerEntry } from "../support/artifact-edit.js";
import { tmpDir } from "../support/tmp.js";

/*
 * The host's own check (src/deploy/host-check.ts), run as a host runs it: the unpack scripts
 * through sh, with real GNU tar and zstd, on layers the deployer's checks would have refused
 * — as if someone had got them past it. A refusal exits 3 and leaves the root as it was.
 */

const KEY = "0123456789abcdef";
const isRoot = process.getuid?.() === 0;

async function host() {
  const root = path.join(await tmpDir("slw-hostcheck"), "srv", "app");
  await mkdir(path.join(root, "releases"), { recursive: true });
  await mkdir(path.join(root, "virtualenvs"), { recursive: true });
  await mkdir(path.join(root, ".slipway", "incoming"), { recursive: true });
  return root;
}

const run = (argv: string[]) => spawnSync("sh", ["-c", shJoin(argv)], { encoding: "utf8" });

async function release(root: string, entries: LayerEntry[], buildId = "b1", interpreter?: { python: string; mark: string }) {
  const file = path.join(root, ".slipway", "incoming", `${buildId}-code.tar.zst`);
  const manifest = path.join(root, ".slipway", "incoming", `${buildId}-slipway.json`);
  await writeFile(file, await packLayer(entries, "zstd"));
  await writeFile(manifest, "{}\n");
  return { file, r: run(unpackRelease(root, buildId, KEY, file, manifest, ["data"], "zstd", interpreter)) };
}

async function venv(root: string, entries: LayerEntry[], interpreters?: string[], mark?: string) {
  const file = path.join(root, ".slipway", "incoming", "b1-venv.tar.zst");
  await writeFile(file, await packLayer(entries, "zstd"));
  return { file, r: run(unpackVenv(root, KEY, file, "zstd", interpreters, mark)) };
}

const f = (name: string, data = "x", mode = 0o644): LayerEntry => ({ header: { name, type: "file", mode }, data: Buffer.from(data) });
const l = (name: string, linkname: string): LayerEntry => ({ header: { name, type: "symlink", linkname } });
const GOOD: LayerEntry[] = [{ header: { name: "app/", type: "directory", mode: 0o755 } }, f("app/main.py"), l("app/link", "main.py")];

async function assertRefused(root: string, out: { file: string; r: ReturnType<typeof run> }, message: RegExp) {
  assert.equal(out.r.status, 3, out.r.stderr);
  assert.match(out.r.stderr, message);
  assert.deepEqual(await readdir(path.join(root, "releases")), [], "no release and no temp dir left behind");
  assert.deepEqual(await readdir(path.join(root, "virtualenvs")), [], "no venv and no temp dir left behind");
  assert.ok(!existsSync(out.file), "the received layer is removed too");
}

describe("host check after unpacking (code layer)", () => {
  test("a clean layer unpacks into releases/<id> with its links", async () => {
    const root = await host();
    const { r } = await release(root, GOOD);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim(), "unpacked");
    assert.ok((await lstat(path.join(root, "releases", "b1", "app", "link"))).isSymbolicLink());
  });

  const cases: [string, LayerEntry[], RegExp, boolean?][] = [
    [
      "a symlink chain out of the dir (s -> ., x -> s/..)",
      [l("s", "."), l("x", "s/..")],
      /refused the code layer after unpacking it: a symlink in it resolves outside it, to .*\/releases$/m,
    ],
    ["an absolute symlink", [l("etc", "/etc")], /a symlink in it resolves outside it, to \/etc/],
    ["a FIFO", [{ header: { name: "pipe", type: "fifo" } }], /device node, FIFO, socket, setuid or setgid file, or a name with a newline: .*\/pipe/],
    ["a device node (created only as root)", [{ header: { name: "null", type: "character-device", devmajor: 1, devminor: 3 } }], /device node.*\/null/, true],
    ["a name with a newline", [f("a\nb")], /or a name with a newline/],
    ["its own slipway.json", [{ header: { name: "slipway.json/", type: "directory" } }], /it has slipway\.json, which the host creates itself/],
    ["its own virtualenv link", [l("virtualenv", "elsewhere")], /it has virtualenv, which the host creates itself/],
    ["its own completion mark", [f(".slipway-complete", "0".repeat(64))], /it has \.slipway-complete, which the host creates itself/],
    ["a .. member (GNU tar refuses it)", [f("../escape")], /refused the code layer after unpacking it: tar refused it: .*\.\./],
    [
      "a hard link to a host file (GNU tar keeps it inside)",
      [{ header: { name: "h", type: "link", linkname: "/etc/hostname" } }],
      /tar refused it: [\s\S]*Cannot hard link/,
    ],
  ];
  for (const [name, entries, message, rootOnly] of cases) {
    test(`refused: ${name}`, async (t) => {
      if (rootOnly && !isRoot) return t.skip("needs root");
      const root = await host();
      await assertRefused(root, await release(root, [...GOOD, ...entries]), message);
    });
  }

  test("a symlink loop inside the dir leads nowhere: the host lets it be (the deployer refuses it)", async () => {
    const root = await host();
    assert.equal((await release(root, [...GOOD, l("a", "b"), l("b", "a")])).r.status, 0);
  });

  test("setuid and setgid bits never survive tar (--no-same-permissions, even as root)", async () => {
    const root = await host();
    const { r } = await release(root, [...GOOD, f("su", "#!/bin/sh\n", 0o4755), f("sg", "#!/bin/sh\n", 0o2755)]);
    assert.equal(r.status, 0, r.stderr);
    for (const name of ["su", "sg"]) assert.equal((await lstat(path.join(root, "releases", "b1", name))).mode & 0o7000, 0, name);
  });

  test("a setgid <root> (shared group) hands its bit to new dirs: that is not refused", async () => {
    const root = await host();
    await chmod(path.join(root, "releases"), 0o2775);
    const { r } = await release(root, GOOD);
    assert.equal(r.status, 0, r.stderr);
    assert.ok(((await lstat(path.join(root, "releases", "b1", "app"))).mode & 0o2000) !== 0, "the dir did inherit setgid");
  });

  test("a symlink carrying data: tar-stream and GNU tar would disagree; the host still finds nothing unsafe or refuses", async () => {
    const root = await host();
    const raw = rawEntry({ name: "s", typeflag: "2", linkname: "app" }, Buffer.from("junk"));
    const { r } = await release(root, [...GOOD, { header: { name: "s" }, raw }]);
    assert.ok(r.status === 0 || r.status === 3, r.stderr);
    if (r.status === 0) assert.ok((await lstat(path.join(root, "releases", "b1", "s"))).isSymbolicLink());
  });
});

describe("host check after unpacking (venv layer)", () => {
  const VENV: LayerEntry[] = [
    { header: { name: "bin/", type: "directory", mode: 0o755 } },
    l("bin/python3", "/usr/bin/python3"),
    l("bin/python", "python3"),
    f("pyvenv.cfg"),
  ];
  const real = spawnSync("realpath", ["/usr/bin/python3"], { encoding: "utf8" }).stdout.trim();

  test("links to the manifest's interpreter are the one way out", async () => {
    const root = await host();
    const { r } = await venv(root, VENV, ["/usr/bin/python3", real]);
    assert.equal(r.status, 0, r.stderr);
    assert.ok(existsSync(path.join(root, "virtualenvs", KEY, ".slipway-complete")));
  });

  test("a link to anything else outside is refused", async () => {
    const root = await host();
    await assertRefused(
      root,
      await venv(root, [...VENV, l("bin/sh", "/bin/sh")], ["/usr/bin/python3", real]),
      /refused the venv layer after unpacking it: a symlink in it resolves outside it, to \/(usr\/)?bin\/(da)?sh/,
    );
  });

  test("its own completion marker is refused", async () => {
    const root = await host();
    await assertRefused(root, await venv(root, [...VENV, f(".slipway-complete")], [real]), /it has \.slipway-complete/);
  });

  test("without the interpreters (an older caller) an executable python* is allowed, nothing else", async () => {
    const root = await host();
    assert.equal((await venv(root, VENV)).r.status, 0);
    const other = await host();
    await assertRefused(other, await venv(other, [...VENV, l("bin/sh", "/bin/sh")]), /resolves outside it/);
  });
});

describe("the venv's mark names the interpreter it was checked against; the probe starts it again only when that changed", () => {
  const VENV: LayerEntry[] = [{ header: { name: "bin/", type: "directory", mode: 0o755 } }, f("pyvenv.cfg")];
  const real = spawnSync("realpath", ["/usr/bin/python3"], { encoding: "utf8" }).stdout.trim();
  const answer = JSON.parse(spawnSync(real, ["-I", "-c", PROBE_SCRIPT], { encoding: "utf8" }).stdout) as PythonInfo;
  const plan = { sendVenv: false, releasePresent: false, bytes: 0 };

  async function setup() {
    const root = await host();
    const bin = path.join(path.dirname(root), "bin");
    await mkdir(bin);
    // The configured interpreter is a link, as /usr/bin/python3 is: the line follows it to the file.
    const py = path.join(bin, "python3");
    await symlink(real, py);
    const python = { ...answer, configured: py };
    const probe = (p = python) => parseProbe(run(probeHost(root, p, "b9", KEY)).stdout);
    const mark = path.join(root, "virtualenvs", KEY, ".slipway-complete");
    const repoint = async (to: string) => {
      await rm(py);
      await symlink(to, py);
    };
    return { root, bin, py, python, probe, mark, repoint };
  }

  test("checked once, then compared: the unpack writes the line the probe made; the next probe does not start Python", async () => {
    const { root, py, python, probe, mark } = await setup();
    const first = probe();
    assert.equal(first.venvPresent, false);
    assert.ok(first.python, "no venv yet: asked");
    assert.match(first.pythonMark ?? "", /^python \d+ \d+ \d+ \d+ \d+ \S+( \S+)? [0-9a-f]{16}$/);
    const st = await stat(real);
    assert.deepEqual(first.pythonMark!.split(" ").slice(1, 4).map(Number), [st.dev, st.ino, st.size], "the file the link leads to");
    assert.equal(first.pythonMark!.split(" ").at(-1), interpreterFields(python));
    const { r } = await venv(root, VENV, [py, real], first.pythonMark);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(await readFile(mark, "utf8"), `${first.pythonMark}\n`);
    const again = probe();
    assert.equal(again.venvPresent, true);
    assert.equal(again.pythonUnchanged, true);
    assert.equal(again.python, undefined, "Python was not started");
    assert.equal(again.pythonMark, undefined);
    assert.deepEqual(incompatibilities(manifestFor(python), "s", again, plan), []);
    // Another artifact of the same key claiming other interpreter fields: its line differs, so it is asked, and refused.
    const other = probe({ ...python, version: "3.11.99" });
    assert.equal(other.pythonUnchanged, false);
    assert.match(incompatibilities(manifestFor({ ...python, version: "3.11.99" }), "s", other, plan).join("\n"), /version is/);
  });

  test("a re-pointed link, a copy, a missing interpreter: asked again, and the answer compared", async () => {
    const { root, bin, py, python, probe, repoint } = await setup();
    const { r } = await venv(root, VENV, [py, real], probe().pythonMark);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(probe().pythonUnchanged, true);
    const stub = path.join(bin, "python-stub");
    await writeFile(stub, `#!/bin/sh\necho '${JSON.stringify({ ...answer, executable: stub, version: "3.12.1" })}'\n`, { mode: 0o755 });
    await repoint(stub);
    const moved = probe();
    assert.equal(moved.pythonUnchanged, false);
    assert.equal(moved.python?.version, "3.12.1", "asked");
    assert.equal(moved.pythonMark, undefined, "not the file the build probed: no line");
    assert.match(incompatibilities(manifestFor(python), "s", moved, plan).join("\n"), /version is 3\.12\.1/);
    const copy = path.join(bin, "python3-copy");
    await copyFile(real, copy);
    await chmod(copy, 0o755);
    await repoint(copy);
    const copied = probe();
    assert.equal(copied.pythonUnchanged, false, "a copy is another file");
    assert.equal(copied.python?.executable, copy);
    await rm(py);
    const gone = probe();
    assert.equal(gone.pythonUnchanged, false);
    assert.match(incompatibilities(manifestFor(python), "s", gone, plan).join("\n"), /is missing or does not run/);
  });

  test("a wrapper (a pyenv-style shim) never gets a line: it runs whatever it picks, so it is asked every time", async () => {
    const { root, bin, python, probe } = await setup();
    const shim = path.join(bin, "python-shim");
    await writeFile(shim, `#!/bin/sh\nexec ${real} "$@"\n`, { mode: 0o755 });
    const viaShim = { ...python, configured: shim };
    const first = probe(viaShim);
    assert.equal(first.pythonMark, undefined);
    assert.equal(first.python?.executable, real, "the shim answers for the real binary");
    assert.equal((await venv(root, VENV, [shim, real], first.pythonMark ?? "")).r.status, 0);
    const again = probe(viaShim);
    assert.equal(again.venvPresent, true);
    assert.equal(again.pythonUnchanged, false);
    assert.ok(again.python, "asked again");
    // A command name rather than a path: no line either.
    assert.equal(probe({ ...python, configured: "python3" }).pythonMark, undefined);
  });

  test("the interpreter replaced between the probe and the unpack: the mark stays empty", async () => {
    const { root, bin, py, probe, mark, repoint } = await setup();
    const line = probe().pythonMark;
    assert.ok(line);
    const copy = path.join(bin, "python3-copy");
    await copyFile(real, copy);
    await chmod(copy, 0o755);
    await repoint(copy);
    assert.equal((await venv(root, VENV, [py, real], line)).r.status, 0);
    assert.equal(await readFile(mark, "utf8"), "\n");
    assert.equal(probe().pythonUnchanged, false);
  });

  test("a venv marked by an older slipway (empty) gets the line when a release is staged, and only if the file is still the one checked", async () => {
    const { root, py, probe, mark } = await setup();
    assert.equal((await venv(root, VENV, [py, real])).r.status, 0);
    assert.equal(await readFile(mark, "utf8"), "\n", "no line given: empty, as an older slipway's");
    const checked = probe();
    assert.equal(checked.venvPresent, true);
    assert.equal(checked.pythonUnchanged, false);
    assert.ok(checked.python && checked.pythonMark);
    const { r } = await release(root, GOOD, "b9", { python: py, mark: checked.pythonMark! });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(await readFile(mark, "utf8"), `${checked.pythonMark}\n`);
    assert.deepEqual(await readdir(path.join(root, "virtualenvs")), [KEY], "its temp file was beside the venvs, and is gone");
    assert.deepEqual((await readdir(path.join(root, "virtualenvs", KEY))).sort(), [".slipway-complete", "bin", "pyvenv.cfg"], "nothing left in the venv");
    assert.equal(probe().pythonUnchanged, true);
    // A line for another file is never written.
    const other = await host();
    assert.equal((await venv(other, VENV, [py, real])).r.status, 0);
    const wrong = checked.pythonMark!.replace(/^python (\d+) (\d+)/, "python $1 1");
    assert.equal((await release(other, GOOD, "b9", { python: py, mark: wrong })).r.status, 0);
    assert.equal(await readFile(path.join(other, "virtualenvs", KEY, ".slipway-complete"), "utf8"), "\n");
  });
});

/** A manifest whose interpreter is `python`. */
function manifestFor(python: PythonInfo & { configured: string }): Manifest {
  return {
    root: "/srv/app",
    build_id: "b9",
    env: { key: KEY, python, inputs: [] },
    layers: [
      { name: "code", member: "code.tar.zst", compression: "zstd", sha256: "", size: 1, unpacked_size: 1, files: 1 },
      { name: "venv", member: "venv.tar.zst", compression: "zstd", sha256: "", size: 1, unpacked_size: 1, files: 1 },
    ],
  } as unknown as Manifest;
}

/** Run an unpack script whose tar (an argument) is preceded by `racer`: another run's work, done while this one unpacks. */
function raced(argv: string[], racer: string[]) {
  const at = argv.indexOf("tar", 4);
  return run([...argv.slice(0, at), ...racer, ...argv.slice(at)]);
}

describe("unpack scripts never clobber what another run installed", () => {
  test("an incomplete venv dir left behind (no .slipway-complete) is replaced by the complete one", async () => {
    const root = await host();
    await mkdir(path.join(root, "virtualenvs", KEY, "lib"), { recursive: true });
    await writeFile(path.join(root, "virtualenvs", KEY, "lib", "half"), "x");
    const { r } = await venv(root, [{ header: { name: "bin/", type: "directory", mode: 0o755 } }, f("pyvenv.cfg", "home = /usr/bin\n")]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim(), "unpacked");
    assert.ok(existsSync(path.join(root, "virtualenvs", KEY, ".slipway-complete")));
    assert.ok(!existsSync(path.join(root, "virtualenvs", KEY, "lib", "half")), "the leftover is gone");
    assert.deepEqual(
      (await readdir(path.join(root, "virtualenvs"))).filter((n) => n.startsWith(".tmp")),
      [],
      "no temp dir left",
    );
  });

  test("a complete venv that appears while this run unpacks (another run's) is never removed or moved into", async () => {
    const root = await host();
    const file = path.join(root, ".slipway", "incoming", "b1-venv.tar.zst");
    await writeFile(file, await packLayer([{ header: { name: "bin/", type: "directory", mode: 0o755 } }, f("pyvenv.cfg", "home = /usr/bin\n")], "zstd"));
    const final = path.join(root, "virtualenvs", KEY);
    const r = raced(unpackVenv(root, KEY, file, "zstd"), [
      "sh",
      "-c",
      'mkdir -p "$1" && : > "$1/theirs" && : > "$1/.slipway-complete" && shift && exec "$@"',
      "racer",
      final,
    ]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim(), "present");
    assert.deepEqual((await readdir(final)).sort(), [".slipway-complete", "theirs"], "the other run's venv is exactly as it was");
    assert.deepEqual(
      (await readdir(path.join(root, "virtualenvs"))).filter((n) => n.startsWith(".tmp")),
      [],
      "this run's temp dir is gone",
    );
  });

  test("the next deploy's clean-up while a killed deploy's unpack still runs (past unlock): a venv's temp dir is left to it and arrives whole; a release's fails cleanly", async () => {
    const LOCK = { token: "next", user: "u", from: "f", action: "deploy", target: "t", since: "s", pid: 1 } as const;
    // After this run's tar, before its check and rename: the next deploy takes the lock with clean.
    const cleanAfterTar = (root: string) => ["sh", "-c", 'clean=$1; shift; "$@" || exit; sh -c "$clean"', "racer", shJoin(acquireLock(root, LOCK, true))];
    const root = await host();
    const file = path.join(root, ".slipway", "incoming", "b1-venv.tar.zst");
    await writeFile(
      file,
      await packLayer([{ header: { name: "bin/", type: "directory", mode: 0o755 } }, f("bin/python", "#!"), f("pyvenv.cfg", "home = /usr/bin\n")], "zstd"),
    );
    const v = raced(unpackVenv(root, KEY, file, "zstd"), cleanAfterTar(root));
    assert.equal(v.status, 0, v.stderr);
    assert.equal(v.stdout.trim(), "unpacked");
    assert.deepEqual((await readdir(path.join(root, "virtualenvs", KEY))).sort(), [".slipway-complete", "bin", "pyvenv.cfg"]);
    assert.ok(existsSync(path.join(root, "virtualenvs", KEY, "bin", "python")), "the venv is whole");
    const rel = await host();
    const code = path.join(rel, ".slipway", "incoming", "b2-code.tar.zst");
    const manifest = path.join(rel, ".slipway", "incoming", "b2-slipway.json");
    await writeFile(code, await packLayer(GOOD, "zstd"));
    await writeFile(manifest, "{}\n");
    // The received manifest goes with .slipway/incoming: that script fails, and never leaves a gutted release.
    const r = raced(unpackRelease(rel, "b2", KEY, code, manifest, [], "zstd"), cleanAfterTar(rel));
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /b2-slipway\.json/);
    assert.deepEqual(
      (await readdir(path.join(rel, "releases"))).filter((n) => !n.startsWith(".tmp-b2-")),
      [],
      "no release b2, whole or not",
    );
    assert.equal(run(acquireLock(rel, LOCK, true)).status, 0);
    assert.deepEqual(await readdir(path.join(rel, "releases")), [], "its temp dir goes at the next clean-up, its script gone");
  });

  test("a release that is already there is reused (early check)", async () => {
    const root = await host();
    const first = await release(root, GOOD, "b7");
    assert.equal(first.r.status, 0, first.r.stderr);
    const again = await release(root, GOOD, "b7");
    assert.equal(again.r.status, 0, again.r.stderr);
    assert.equal(again.r.stdout.trim(), "present");
  });

  test("a release that appears while this run unpacks (another run's) is never moved into: same manifest ⇒ present, other ⇒ exit 3", async () => {
    for (const [theirs, status, out] of [
      ["{}\n", 0, /^present$/],
      ['{"other": 1}\n', 3, /another release b8 is there/],
    ] as const) {
      const root = await host();
      const file = path.join(root, ".slipway", "incoming", "b8-code.tar.zst");
      const manifest = path.join(root, ".slipway", "incoming", "b8-slipway.json");
      await writeFile(file, await packLayer(GOOD, "zstd"));
      await writeFile(manifest, "{}\n");
      const r = raced(unpackRelease(root, "b8", KEY, file, manifest, [], "zstd"), [
        "sh",
        "-c",
        'mkdir -p "$1" && printf "%s" "$2" > "$1/slipway.json" && sha256sum < "$1/slipway.json" | cut -d" " -f1 > "$1/.slipway-complete" && shift 2 && exec "$@"',
        "racer",
        path.join(root, "releases", "b8"),
        theirs,
      ]);
      assert.equal(r.status, status, r.stderr);
      assert.match(status === 0 ? r.stdout.trim() : r.stderr, out);
      assert.deepEqual(
        (await readdir(path.join(root, "releases", "b8"))).sort(),
        [".slipway-complete", "slipway.json"],
        "the other run's release is untouched: nothing moved into it",
      );
      assert.deepEqual(
        (await readdir(path.join(root, "releases"))).filter((n) => n.startsWith(".tmp")),
        [],
        "this run's temp dir is gone",
      );
      assert.ok(!existsSync(file), "the received layer is removed");
    }
  });
});

/*
 * Completeness (src/deploy/complete.ts): a release counts as there only while its completion
 * mark (written last, before the rename) holds the sha256 of its slipway.json. A gutted tree
 * left by a crash mid-prune is staged again, never reused.
 */
describe("a release is present only when its completion mark and manifest agree", () => {
  const sha = (b: string | Buffer) => createHash("sha256").update(b).digest("hex");
  const states = async (root: string) =>
    parseListing(run(listHost(root)).stdout)
      .releases.map((r) => `${r.id}${r.incomplete ? " incomplete" : ""}`)
      .sort();

  test("the unpack writes the mark last: the sha256 of the release's slipway.json", async () => {
    const root = await host();
    assert.equal((await release(root, GOOD)).r.stdout.trim(), "unpacked");
    const dir = path.join(root, "releases", "b1");
    assert.equal((await readFile(path.join(dir, ".slipway-complete"), "utf8")).trim(), sha(await readFile(path.join(dir, "slipway.json"))));
    assert.deepEqual(await states(root), ["b1"]);
  });

  test("a gutted release (its slipway.json left, the rest half deleted) is staged again, whole", async () => {
    for (const gut of [
      async (dir: string) => {
        await rm(path.join(dir, "app"), { recursive: true });
        await rm(path.join(dir, ".slipway-complete"));
      }, // mark deleted
      async (dir: string) => {
        await rm(path.join(dir, "app"), { recursive: true });
        await writeFile(path.join(dir, "slipway.json"), '{"x"');
      }, // manifest cut short
    ]) {
      const root = await host();
      await release(root, GOOD);
      await gut(path.join(root, "releases", "b1"));
      assert.deepEqual(await states(root), ["b1 incomplete"], "listed as incomplete");
      const again = await release(root, GOOD);
      assert.equal(again.r.status, 0, again.r.stderr);
      assert.equal(again.r.stdout.trim(), "unpacked", "not reused: staged again");
      assert.ok(existsSync(path.join(root, "releases", "b1", "app", "main.py")), "the tree is whole again");
      assert.deepEqual(await states(root), ["b1"]);
      assert.deepEqual(
        (await readdir(path.join(root, "releases"))).filter((n) => n.startsWith(".")),
        [],
        "the gutted tree and the temp dir are gone",
      );
    }
  });

  test("an incomplete release that is current is never replaced under the app: exit 3, untouched", async () => {
    const root = await host();
    await release(root, GOOD);
    await rm(path.join(root, "releases", "b1", ".slipway-complete"));
    await writeFile(path.join(root, "releases", "b1", ".slipway-complete"), "0".repeat(64));
    await symlink("releases/b1", path.join(root, "current"));
    const again = await release(root, GOOD);
    assert.equal(again.r.status, 3);
    assert.match(again.r.stderr, /release b1 on this host is incomplete .* and it is current: roll back or deploy another build first/);
    assert.ok(existsSync(path.join(root, "releases", "b1", "app", "main.py")));
  });

  test("a release from an older slipway (no mark): complete while current or previous, else incomplete", async () => {
    const root = await host();
    for (const id of ["old1", "old2", "old3"]) {
      await mkdir(path.join(root, "releases", id), { recursive: true });
      await writeFile(path.join(root, "releases", id, "slipway.json"), "{}\n");
    }
    await symlink("releases/old3", path.join(root, "current"));
    await symlink("releases/old2", path.join(root, "previous"));
    assert.deepEqual(await states(root), ["old1 incomplete", "old2", "old3"]);
    const again = await release(root, GOOD, "old3");
    assert.equal(again.r.stdout.trim(), "present", "the current one is reused");
  });

  test("prune renames before it deletes; a killed prune's renamed dirs are removed by the next", async () => {
    const root = await host();
    await release(root, GOOD, "b1");
    await release(root, GOOD, "b2");
    await mkdir(path.join(root, "releases", ".tmp-prune-b0-77", "app"), { recursive: true });
    await writeFile(path.join(root, "releases", ".tmp-prune-b0-77", "slipway.json"), "{}\n");
    const r = run(removeItems(root, { keep: ["b2"], removeReleases: ["b1"], removeVenvs: [] })!);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(await readdir(path.join(root, "releases")), ["b2"]);
  });
});

describe("a hardened umask on the host (077) does not make the release unreadable to the app's user", () => {
  const with077 = (argv: string[]) => spawnSync("sh", ["-c", `umask 077; ${shJoin(argv)}`], { encoding: "utf8" });
  const mode = async (p: string) => (await stat(p)).mode & 0o777;

  test("lock dirs, release, manifest, mark, venv: the layer's modes, minus group/other write", async () => {
    const base = await tmpDir("slw-umask");
    const root = path.join(base, "srv", "app");
    const lock = with077(acquireLock(root, { token: "t", user: "u", from: "f", action: "deploy", target: "t", since: "s", pid: 1 }, true));
    assert.equal(lock.status, 0, lock.stderr);
    for (const d of ["srv", "srv/app", "srv/app/releases", "srv/app/virtualenvs"]) assert.equal(await mode(path.join(base, d)), 0o755, d);
    const file = path.join(root, ".slipway", "incoming", "b1-code.tar.zst");
    const manifest = path.join(root, ".slipway", "incoming", "b1-slipway.json");
    await writeFile(file, await packLayer([...GOOD, f("app/secret.py", "x", 0o600), f("app/gw.py", "x", 0o664), f("app/run.sh", "x", 0o755)], "zstd"));
    await writeFile(manifest, "{}\n", { mode: 0o600 });
    const r = with077(unpackRelease(root, "b1", KEY, file, manifest, ["data"], "zstd"));
    assert.equal(r.status, 0, r.stderr);
    const rel = path.join(root, "releases", "b1");
    const want: [string, number][] = [
      ["", 0o755],
      ["app", 0o755],
      ["app/main.py", 0o644],
      ["app/secret.py", 0o600],
      ["app/gw.py", 0o644],
      ["app/run.sh", 0o755],
      [".slipway-complete", 0o644],
      ["../../shared/data", 0o755],
    ];
    for (const [p, m] of want) assert.equal((await mode(path.join(rel, p))).toString(8), m.toString(8), p || "the release dir");
    assert.equal((await mode(path.join(rel, "slipway.json"))).toString(8), "644", "the manifest, handed over 0600, is made readable");

    const vfile = path.join(root, ".slipway", "incoming", "b1-venv.tar.zst");
    await writeFile(vfile, await packLayer([{ header: { name: "bin/", type: "directory", mode: 0o755 } }, f("pyvenv.cfg", "home = /usr/bin\n")], "zstd"));
    const v = with077(unpackVenv(root, KEY, vfile, "zstd"));
    assert.equal(v.status, 0, v.stderr);
    for (const [p, m] of [
      ["", 0o755],
      ["bin", 0o755],
      ["pyvenv.cfg", 0o644],
      [".slipway-complete", 0o644],
    ] as const) {
      assert.equal((await mode(path.join(root, "virtualenvs", KEY, p))).toString(8), m.toString(8), `venv ${p}`);
    }
  });
});
