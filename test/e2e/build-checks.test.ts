import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { slipway } from "../support/cli.js";
import { exampleWorkspace } from "../support/build-app.js";

test("cli: build refuses a layer deploy would refuse, naming the entry and the fix (exit 1, no artifact)", async () => {
  const ws = await exampleWorkspace("slipway-e2e");
  // A local virtualenv dir left in the app: on a host it would collide with the release's venv link.
  await mkdir(path.join(ws.app, "virtualenv", "bin"), { recursive: true });
  await writeFile(path.join(ws.app, "virtualenv", "bin", "activate"), "# local\n");
  const r = slipway(["build", "--build-id", "rc1"], { cwd: ws.app, env: ws.env });
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /the code layer would be refused by deploy: entry "virtualenv" uses the name "virtualenv", which the host creates itself/);
  assert.match(r.stderr, /hint: exclude it in build\.exclude/);
  assert.ok(!existsSync(path.join(ws.app, "dist", "hello-rc1.tar")), "no artifact was written");
});
