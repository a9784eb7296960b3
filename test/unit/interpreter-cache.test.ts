// The interpreter probe is kept per binary (build/interpreter.ts): a warm build spawns no Python
// for it, and any change to the binary (a package upgrade replaces it) means a new probe.
import { test } from "node:test";
import assert from "node:assert/strict";
import { copyFile, mkdtemp, readdir, readFile, rm, utimes, writeFile, chmod } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { probeInterpreter } from "../../src/build/interpreter.js";

const SYSTEM_PYTHON = "/usr/bin/python3.11";

test("the probe is kept per ELF binary and redone when the binary changes; a wrapper script is never kept", async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), "slipway-interp-"));
  try {
    const env = { ...process.env, SLIPWAY_CACHE_DIR: path.join(dir, "cache") };
    const python = path.join(dir, "python3.11");
    await copyFile(SYSTEM_PYTHON, python);
    await chmod(python, 0o755);

    const first = await probeInterpreter(python, env);
    assert.equal(first.executable, python);
    assert.match(first.abi, /^cpython-311/);
    const kept = path.join(env.SLIPWAY_CACHE_DIR, "interpreters");
    const [name] = await readdir(kept);
    assert.ok(name?.endsWith(".json"));

    // Reused while the binary holds: a changed answer in the cache file is what comes back.
    const file = path.join(kept, name!);
    const record = JSON.parse(await readFile(file, "utf8"));
    record.info.version = "3.11.99";
    await writeFile(file, JSON.stringify(record));
    assert.equal((await probeInterpreter(python, env)).version, "3.11.99", "the kept probe is used");

    // The binary changes (mtime here): probed again, and the cache holds the true answer.
    await utimes(python, new Date(), new Date(Date.now() + 5000));
    assert.equal((await probeInterpreter(python, env)).version, first.version);

    // A wrapper script (a pyenv shim) answers for whatever it picks at run time: never kept.
    const shim = path.join(dir, "shim");
    await writeFile(shim, `#!/bin/sh\nexec ${python} "$@"\n`);
    await chmod(shim, 0o755);
    await rm(kept, { recursive: true });
    assert.equal((await probeInterpreter(shim, env)).executable, python);
    assert.deepEqual(await readdir(kept).catch(() => []), []);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
