// A venv layer of OWN_COMMAND_BYTES or more (src/deploy/steps.ts) goes to a host by an ssh
// command of its own over the host's master connection, its stdin the layer's byte range of
// the artifact fed by dd (transport/range-send.ts), and the host unpacks it as it arrives
// (stage.ts stream_untar): no copy of the layer on the host's disk, none through node.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { appendFile } from "node:fs/promises";
import path from "node:path";
import { LAYER_SUFFIX } from "../../src/artifact/compress.js";
import { memberRange } from "../../src/artifact/member-range.js";
import { openMember, readAll } from "../../src/artifact/read.js";
import { OWN_COMMAND_BYTES } from "../../src/deploy/steps.js";
import { fleetApp, type FleetApp } from "../support/fleet-app.js";
import { buildWith } from "../support/build-app.js";
import { slipway } from "../support/cli.js";

let f: FleetApp;

before(async () => {
  f = await fleetApp(1);
});

after(async () => {
  await f?.stop();
});

/** A wheel holding `mib` MiB of random bytes (stored, so the venv layer is as big). */
function randomWheel(dir: string, mib: number): string {
  const file = path.join(dir, "bigrand-1.0.0-py3-none-any.whl");
  const py = `
import os, sys, zipfile
with zipfile.ZipFile(sys.argv[1], "w", zipfile.ZIP_STORED) as z:
    z.writestr("bigrand/__init__.py", "")
    z.writestr("bigrand/blob.bin", os.urandom(int(sys.argv[2]) << 20))
    z.writestr("bigrand-1.0.0.dist-info/METADATA", "Metadata-Version: 2.1\\nName: bigrand\\nVersion: 1.0.0\\n")
    z.writestr("bigrand-1.0.0.dist-info/WHEEL", "Wheel-Version: 1.0\\nGenerator: test\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n")
    z.writestr("bigrand-1.0.0.dist-info/RECORD", "")
`;
  const r = spawnSync("/usr/bin/python3", ["-c", py, file, String(mib)], { encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  return file;
}

test("a big venv layer goes straight from the artifact into the host's tar, whole and verified", { timeout: 300_000 }, async () => {
  const wheel = randomWheel(f.ws.dir, (OWN_COMMAND_BYTES >> 20) + 8);
  await appendFile(path.join(f.ws.app, "requirements.txt"), `${wheel}\n`);
  const { result } = await buildWith(f.ws, "b1");
  const artifact = result.artifact;
  const venv = { ...result.layers.venv, member: `venv${LAYER_SUFFIX[result.layers.venv.compression]}` };
  assert.ok(venv.size >= OWN_COMMAND_BYTES, `the venv layer is ${venv.size} bytes`);

  // The range found by reading the headers holds the same bytes the streaming reader gives.
  const range = await memberRange(artifact, venv.member);
  assert.ok(range, "the venv layer lies in the artifact as one range");
  assert.equal(range.length, venv.size);
  const viaRange = spawnSync(
    "sh",
    [
      "-c",
      'dd if="$1" bs=1M iflag=skip_bytes,count_bytes skip="$2" count="$3" status=none | sha256sum',
      "sh",
      artifact,
      String(range.offset),
      String(range.length),
    ],
    {
      encoding: "utf8",
    },
  );
  assert.equal(viaRange.stdout.split(" ")[0], venv.sha256);
  const streamed = await readAll(openMember(artifact, venv.member), venv.size + 1, "the venv layer");
  assert.equal(createHash("sha256").update(streamed).digest("hex"), venv.sha256);

  const r = slipway(["deploy", artifact, "--target", "fleet", "--json"], { cwd: f.ws.app, env: f.ws.env });
  assert.equal(r.code, 0, r.stderr + r.stdout.slice(-2000));
  const events = r.json();
  const step = events.find((e) => e["type"] === "host" && e["step"] === "venv" && e["status"] === "done");
  assert.match(String(step?.["detail"]), new RegExp(`^${venv.size} bytes sent straight from the artifact, unpacked as they arrived, verified$`));
  const transfers = events.filter((e) => e["type"] === "transfer" && e["layer"] === "venv").map((e) => Number(e["sent"]));
  assert.equal(transfers.at(-1), venv.size, "progress reaches the layer's size");

  assert.equal((await f.health(f.hosts[0]!)).build_id, "b1");
  const host = f.hosts[0]!;
  const blob = `${f.ws.root}/current/virtualenv/`;
  const onHost = await host.exec(["sh", "-c", 'find "$1" -name blob.bin -exec sha256sum {} +', "sh", blob]);
  const local = spawnSync("sh", ["-c", 'find "$1" -name blob.bin -exec sha256sum {} +', "sh", result.venv.path], { encoding: "utf8" });
  assert.equal(onHost.split(" ")[0], local.stdout.split(" ")[0], "the venv's files arrived whole");
  assert.equal((await host.exec(["sh", "-c", 'ls -A "$1"/.slipway/incoming 2>/dev/null || true', "sh", f.ws.root])).trim(), "", "no layer copy on the host");
  assert.equal(
    (await host.exec(["sh", "-c", 'ls -A "$1"/virtualenvs', "sh", f.ws.root])).trim().split("\n").length,
    1,
    "one venv, no temp dir, fifo or hash file",
  );
});
