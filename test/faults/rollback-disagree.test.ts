import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { fleetApp, type FleetApp } from "../support/fleet-app.js";
import { buildWith } from "../support/build-app.js";
import type { TestHost } from "../support/fleet.js";
import { deploy } from "../../src/commands/deploy.js";
import { rollback } from "../../src/commands/rollback.js";
import type { SlipwayError } from "../../src/errors.js";

/*
 * Hosts that disagree about `previous` (issue 14, defect 3, second half): after a deploy that
 * reached only some hosts, `rollback` without --to would send each host to its own
 * `previous` — the fleet split over two releases. It must refuse (exit 2), list each host's
 * choice, and change nothing; `--to` names one release for all.
 */

let f: FleetApp;
const artifacts: Record<string, string> = {};
before(async () => {
  f = await fleetApp(2);
  for (const id of ["b1", "b2", "b3"]) artifacts[id] = (await buildWith(f.ws, id)).result.artifact;
});
after(async () => {
  await f?.stop();
});

test("rollback refuses when the hosts' previous differ, naming each host's; --to works", async () => {
  const [h1, h2] = f.hosts as [TestHost, TestHost];
  const opts = { cwd: f.ws.app, target: "fleet" };
  await deploy({ ...opts, artifact: artifacts["b1"]! });
  await deploy({ ...opts, artifact: artifacts["b2"]! });
  await deploy({ ...opts, artifact: artifacts["b3"]!, hosts: h1.dest }); // only h1: previous b2 there, b1 on h2
  assert.deepEqual([await f.link(h1, "previous"), await f.link(h2, "previous")], ["releases/b2", "releases/b1"]);

  await assert.rejects(rollback(opts), (e: SlipwayError) => {
    assert.equal(e.exitCode, 2);
    assert.match(e.message, /the hosts disagree about the previous release — nothing was changed/);
    assert.match(e.message, new RegExp(`${h1.dest.replace(/\./g, "\\.")} +current b3, previous b2`));
    assert.match(e.message, new RegExp(`${h2.dest.replace(/\./g, "\\.")} +current b2, previous b1`));
    assert.match(e.hint ?? "", /--to BUILD_ID \(on every host: .*b2.*\)/);
    return true;
  });
  assert.deepEqual([await f.link(h1, "current"), await f.link(h2, "current")], ["releases/b3", "releases/b2"], "nothing was switched");
  assert.equal((await f.health(h1)).build_id, "b3");

  const r = await rollback({ ...opts, to: "b2" });
  assert.deepEqual(
    r.hosts.map((x) => x.result),
    ["ok", "ok"],
  );
  for (const h of [h1, h2]) assert.equal((await f.health(h)).build_id, "b2");
});
