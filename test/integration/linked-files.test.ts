// deploy.linked_files on namespace hosts: a host that lacks one stops the deploy before anything
// is written (exit 3, naming host and file); present, each release links it from <root>/shared;
// a code layer holding a linked path is refused at build (exit 2).
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { deploy } from "../../src/commands/deploy.js";
import { ArtifactError, ConfigError } from "../../src/errors.js";
import { buildWith } from "../support/build-app.js";
import { fleetApp, type FleetApp } from "../support/fleet-app.js";

let f: FleetApp;
before(async () => {
  f = await fleetApp(2);
  const config = path.join(f.ws.app, "slipway.toml");
  await writeFile(config, (await readFile(config, "utf8")).replace("[deploy]\n", '[deploy]\nlinked_files = [".env", "config/local.py"]\n'));
});
after(async () => {
  await f?.stop();
});

const tree = (h: (typeof f.hosts)[number]) => h.exec(["sh", "-c", 'cd "$1" && find . | sort', "sh", f.ws.root]).catch(() => "");

test("linked files: a host without one refuses the deploy (exit 3) before anything is written; then every release links them", async () => {
  const [h1, h2] = f.hosts;
  const b1 = await buildWith(f.ws, "l1");
  for (const h of f.hosts) await h.exec(["sh", "-c", 'mkdir -p "$1/shared/config" && echo "SECRET_KEY=on-the-host" > "$1/shared/.env"', "sh", f.ws.root]);
  await h1!.exec(["sh", "-c", 'echo "DEBUG = False" > "$1/shared/config/local.py"', "sh", f.ws.root]);
  const before = await Promise.all(f.hosts.map(tree));

  await assert.rejects(deploy({ cwd: f.ws.app, artifact: b1.result.artifact, target: "fleet" }), (e: unknown) => {
    assert.ok(e instanceof ArtifactError, String(e));
    assert.equal(e.exitCode, 3);
    assert.match(e.message, new RegExp(`${h2!.dest.replaceAll(".", "\\.")}: ${f.ws.root}/shared/config/local\\.py is missing`));
    assert.doesNotMatch(e.message, new RegExp(`${h1!.dest.replaceAll(".", "\\.")}:`), "h1 has both");
    return true;
  });
  assert.deepEqual(await Promise.all(f.hosts.map(tree)), before, "nothing written anywhere: no lock, no release, no incoming file");

  await h2!.exec(["sh", "-c", 'echo "DEBUG = False" > "$1/shared/config/local.py"', "sh", f.ws.root]);
  await deploy({ cwd: f.ws.app, artifact: b1.result.artifact, target: "fleet" });
  for (const h of f.hosts) {
    assert.equal(await f.read(h, "current/.env"), "SECRET_KEY=on-the-host\n");
    assert.equal((await h.exec(["readlink", `${f.ws.root}/releases/l1/config/local.py`])).trim(), `${f.ws.root}/shared/config/local.py`);
  }
});

test("linked files: a code layer that holds a linked path is a config error at build (exit 2)", async () => {
  await mkdir(path.join(f.ws.app, "config"), { recursive: true });
  await writeFile(path.join(f.ws.app, "config", "local.py"), "DEBUG = True\n");
  await assert.rejects(
    buildWith(f.ws, "l2"),
    (e: unknown) => e instanceof ConfigError && e.exitCode === 2 && /deploy\.linked_files\[1\]: config\/local\.py is in the code layer too/.test(e.message),
  );
});
