import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fleetApp, type FleetApp } from "../support/fleet-app.js";
import { buildWith } from "../support/build-app.js";
import type { TestHost } from "../support/fleet.js";
import { deploy } from "../../src/commands/deploy.js";
import { prune } from "../../src/commands/prune.js";
import { releases } from "../../src/commands/releases.js";
import { rollback } from "../../src/commands/rollback.js";
import { unlock } from "../../src/commands/unlock.js";

/*
 * A reboot mid-prune (issue 14, defect 6). The host's `rm` is replaced, inside that host's
 * own mount namespace only, by a wrapper: while armed, a recursive remove of a release dir
 * (one holding a slipway.json) deletes the first half of its files — as far as rm had got —
 * then stops itself until the test SIGKILLs it; the test then kills every process sshd
 * started on the host, as a reboot would. Before the fix, prune deleted releases/<id> in place:
 * a gutted tree with its slipway.json stayed under the release's name, and the next deploy of
 * that build skipped staging and switched to it (and `rollback --to` accepted it).
 */

const FAULT = "/srv/.fault"; // inside the host
const WRAPPER = `#!/bin/sh
for a; do last=$a; done
if [ -e ${FAULT}/armed ] && [ -f "$last/slipway.json" ]; then
  files=$(find "$last" -type f ! -name slipway.json ! -name .slipway-complete | sort)
  n=$(printf '%s\\n' "$files" | wc -l)
  printf '%s\\n' "$files" | head -n $(( (n + 1) / 2 )) | xargs -r ${FAULT}/real-rm -f
  echo $$ > ${FAULT}/stopped
  kill -STOP $$
fi
exec ${FAULT}/real-rm "$@"
`;

let f: FleetApp;
let h: TestHost;
const artifacts: Record<string, string> = {};

before(async () => {
  f = await fleetApp(1, {
    fleet: {
      setup: () => [
        ["mkdir", "-p", FAULT],
        ["cp", "/usr/bin/rm", `${FAULT}/real-rm`],
        ["sh", "-c", 'printf "%s" "$1" > "$2/rm" && chmod 755 "$2/rm"', "sh", WRAPPER, FAULT],
        ["mount", "--bind", `${FAULT}/rm`, "/usr/bin/rm"],
      ],
    },
  });
  h = f.hosts[0]!;
  for (const id of ["b1", "b2", "b3"]) artifacts[id] = (await buildWith(f.ws, id)).result.artifact;
});
after(async () => {
  await f?.stop();
});

const onHost = (rel: string) => path.join(h.srv, path.relative("/srv", rel));
const opts = () => ({ cwd: f.ws.app, target: "fleet" });

/**
 * Every file of a release with its sha256, and every link with its target: what "whole" means.
 * Not __pycache__: the running app writes its .pyc files there.
 */
async function tree(id: string): Promise<string> {
  return h.exec([
    "sh",
    "-c",
    'cd "$1/releases/$2" && find . -name __pycache__ -prune -o \\( -type f -exec sha256sum {} + \\) -o \\( -type l -printf "%p -> %l\\n" \\) | sort',
    "sh",
    f.ws.root,
    id,
  ]);
}

async function temps(): Promise<string[]> {
  const out = await h.exec(["sh", "-c", 'ls -A "$1/releases" "$1/virtualenvs"', "sh", f.ws.root]);
  return out.split("\n").filter((n) => n.startsWith(".tmp"));
}

/** Kill what sshd started on the host (sessions, their shells and commands): the host "reboots"; sshd itself and the app stay up. */
function rebootSessions(): void {
  const parent = new Map<number, number>();
  for (const pid of h.pids()) {
    try {
      parent.set(
        pid,
        Number(
          readFileSync(`/proc/${pid}/stat`, "utf8")
            .replace(/^.*\) /, "")
            .split(" ")[1],
        ),
      );
    } catch {
      /* gone */
    }
  }
  const underSshd = (pid: number): boolean => {
    for (let p = parent.get(pid); p !== undefined && p > 1; p = parent.get(p)) if (p === h.sshdPid) return true;
    return false;
  };
  for (const pid of parent.keys()) {
    if (underSshd(pid)) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        /* gone */
      }
    }
  }
}

async function waitForFile(file: string, ms: number): Promise<string> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (existsSync(file)) return readFileSync(file, "utf8").trim();
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${file} did not appear within ${ms} ms`);
}

test("rm SIGKILLed mid-prune, then the host's processes killed: the next deploy of that build restages it whole", async () => {
  for (const id of ["b1", "b2", "b3"]) await deploy({ ...opts(), artifact: artifacts[id]! });
  const before = await tree("b1");
  assert.match(before, /\.\/hello\/app\.py/, "b1 is there, whole");

  writeFileSync(onHost(`${FAULT}/armed`), "");
  const pruning = prune({ ...opts(), keep: "1" }).then(
    () => "finished",
    (e: Error) => `failed: ${e.message}`,
  );
  const pid = Number(await waitForFile(onHost(`${FAULT}/stopped`), 60_000));
  rmSync(onHost(`${FAULT}/armed`));
  process.kill(pid, "SIGKILL");
  rebootSessions();
  const outcome = await pruning;
  rmSync(onHost(`${FAULT}/stopped`));
  await unlock({ ...opts(), confirm: async () => true }); // the prune's lock, if its release did not get through

  const listed = (await releases(opts())).hosts[0]!;
  const b1 = listed.releases.find((r) => r.id === "b1");
  assert.ok(!b1 || b1.incomplete, `after the killed prune (${outcome}), b1 is gone or listed as incomplete, never as a release to use: ${JSON.stringify(b1)}`);
  assert.ok(
    (await temps()).some((n) => n.startsWith(".tmp-prune-b1-")),
    "the fault hit: the killed rm left its half-deleted tree, under a temp name",
  );
  await assert.rejects(rollback({ ...opts(), to: "b1" }), /release b1 is (not on|incomplete on) this host .*nothing was changed/);
  assert.equal(await f.link(h, "current"), "releases/b3", "the refused rollback switched nothing");

  const again = await deploy({ ...opts(), artifact: artifacts["b1"]! });
  assert.equal(again.hosts[0]!.result, "ok", JSON.stringify(again.hosts));
  assert.ok(again.hosts[0]!.bytes_sent > 0, "b1 was staged again, not reused");
  assert.equal(await tree("b1"), before, "releases/b1 is whole: every file and link as before the prune");
  assert.equal(await f.link(h, "current"), "releases/b1");
  assert.equal((await f.health(h)).build_id, "b1");
  assert.deepEqual(await temps(), [], "the killed prune's renamed dir is gone");
});

test("a release gutted in place (as an older slipway's prune left it): rollback --to refuses it, a deploy restages it", async () => {
  // Here: current b1, previous b3 (the test above), b2 kept.
  const before = await tree("b2");
  await h.exec([
    "sh",
    "-c",
    `cd "$1/releases/b2" && rm -f .slipway-complete && find . -type f ! -name slipway.json | sort | head -n 3 | xargs ${FAULT}/real-rm -f`,
    "sh",
    f.ws.root,
  ]);
  assert.notEqual(await tree("b2"), before, "b2 is gutted");

  await assert.rejects(rollback({ ...opts(), to: "b2" }), /release b2 is incomplete on this host .* nothing was changed/);
  assert.equal(await f.link(h, "current"), "releases/b1", "nothing switched");
  assert.equal((await f.health(h)).build_id, "b1");

  const again = await deploy({ ...opts(), artifact: artifacts["b2"]! });
  assert.equal(again.hosts[0]!.result, "ok", JSON.stringify(again.hosts));
  assert.ok(again.hosts[0]!.bytes_sent > 0, "restaged");
  assert.equal((await tree("b2")).replace(/^.*\.slipway-complete\n/m, ""), before.replace(/^.*\.slipway-complete\n/m, ""), "whole again");
  assert.equal((await f.health(h)).build_id, "b2");
  const rolled = await rollback({ ...opts(), to: "b1" });
  assert.equal(rolled.hosts[0]!.result, "ok");
  assert.equal((await f.health(h)).build_id, "b1");
});
