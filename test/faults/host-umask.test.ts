import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { fleetApp, type FleetApp } from "../support/fleet-app.js";
import { buildWith } from "../support/build-app.js";
import type { TestHost } from "../support/fleet.js";
import { deploy } from "../../src/commands/deploy.js";

/*
 * A hardened umask on the host (issue 14, defect 10): the host's sshd — and so every command
 * slipway runs there — has umask 077, as a deploy user's hardened shell would. The app runs
 * as another user (here: nobody), which must still read the release, its manifest and its
 * venv. Before the fix the unpack applied the deploy user's umask: <root>, releases/, every
 * file 0700/0600.
 */

let f: FleetApp;
let h: TestHost;
let artifact: string;
const saved = process.umask();

before(async () => {
  f = await fleetApp(1, {
    fleet: {
      // Called just before the host's sshd starts, which inherits this process's umask.
      setup: () => {
        process.umask(0o077);
        return [];
      },
    },
  });
  process.umask(saved);
  h = f.hosts[0]!;
  artifact = (await buildWith(f.ws, "b1")).result.artifact;
});
after(async () => {
  process.umask(saved);
  await f?.stop();
});

test("umask 077 on the host: the release, its manifest and its venv stay readable by the app's user", async () => {
  assert.equal((await h.ssh("umask")).trim(), "0077", "the fault is in place: commands over ssh run with umask 077");
  const r = await deploy({ cwd: f.ws.app, target: "fleet", artifact });
  assert.equal(r.hosts[0]!.result, "ok", JSON.stringify(r.hosts));

  const root = f.ws.root;
  const modes = await h.exec([
    "sh",
    "-c",
    'cd "$1" && stat -c "%a %n" . releases virtualenvs current/ current/slipway.json current/hello/app.py current/virtualenv/ current/virtualenv/pyvenv.cfg current/virtualenv/.slipway-complete',
    "sh",
    root,
  ]);
  for (const line of modes.trim().split("\n")) {
    const [mode, name] = line.split(" ");
    assert.match(mode!, /^[67]55$|^644$/, `${name} is ${mode}`);
  }
  // As nobody (the app's user): every dir on the way, the manifest, the code and the venv.
  const asApp = (script: string) => h.exec(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "sh", "-c", script, "sh", root]);
  const read = await asApp(
    'cat "$1/current/slipway.json" "$1/current/hello/app.py" "$1/current/virtualenv/pyvenv.cfg" > /dev/null && ls "$1/current/virtualenv/bin" > /dev/null && echo readable',
  );
  assert.equal(read.trim(), "readable");
  const py = await asApp('cd "$1/current" && exec ./virtualenv/bin/python -B -c "import hello.app; print(\'imported\')"');
  assert.equal(py.trim(), "imported", "the app's user can import the app from the release with the release's venv");
});
