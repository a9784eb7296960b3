// The package's library entry, as a deploy server or a script imports it: `import … from "slipway"`
// resolves through package.json `exports` to the built dist/ (npm test builds first).
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";

test("library: package.json exports name files the build writes, and `slipway` imports with every command and error", async () => {
  const pkg = JSON.parse(readFileSync("package.json", "utf8"));
  for (const file of [pkg.exports["."].default, pkg.exports["."].types, pkg.types, pkg.bin.slipway]) {
    assert.ok(existsSync(path.resolve(file)), `${file} is written by npm run build`);
  }
  const lib = await import("slipway");
  for (const fn of ["build", "deploy", "rollback", "releases", "prune", "unlock", "inspect", "init", "keygen", "loadConfig"] as const) {
    assert.equal(typeof lib[fn], "function", fn);
  }
  assert.equal(new lib.UsageError("x").exitCode, lib.ExitCode.usage);
  assert.equal(new lib.LockedError("x").exitCode, 4);
  // A call fails with the library's own typed error, and prints nothing.
  await assert.rejects(
    lib.inspect({ cwd: process.cwd(), artifact: "no-such.tar" }),
    (e: unknown) => e instanceof lib.UsageError && /no such file/.test((e as Error).message),
  );
  await assert.rejects(lib.deploy({ cwd: "/nonexistent-app", artifact: "x.tar", target: "t" }), (e: unknown) => e instanceof lib.SlipwayError);
});
