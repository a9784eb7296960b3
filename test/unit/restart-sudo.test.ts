// restart.sudo: the argv (`sudo -n systemctl …` in a constant script, units as arguments) and
// what a refused sudo prints. The script is run here with fake `sudo` / `systemctl` on PATH;
// test/integration/systemd-sudo.test.ts runs it with the real sudo as a user without rights.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { chmod, mkdtemp, symlink, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { restartCommand, restartVerifyCommand, SUDO_SYSTEMCTL_SH } from "../../src/procman/restart.js";

const base = {
  manager: "systemd" as const,
  programs: ["shop.service", "worker.service"],
  conf: "",
  command: "",
  scope: "system" as const,
  action: "restart" as const,
  sudo: true,
};

test("restart.sudo: sudo -n systemctl in a constant script, the action and units as its arguments; is-active needs no sudo", () => {
  assert.deepEqual(restartCommand(base, "/srv/a/current", {}), ["sh", "-c", SUDO_SYSTEMCTL_SH, "slipway", "restart", "shop.service", "worker.service"]);
  assert.deepEqual(restartCommand({ ...base, action: "reload" }, "/srv/a/current", {})!.slice(4), ["reload", "shop.service", "worker.service"]);
  assert.match(SUDO_SYSTEMCTL_SH, /sudo -n systemctl "\$@"/, "never a password prompt");
  assert.ok(!SUDO_SYSTEMCTL_SH.includes("shop"), "no value is part of the script");
  assert.deepEqual(restartVerifyCommand(base), ["systemctl", "is-active", "shop.service", "worker.service"]);
  assert.deepEqual(restartCommand({ ...base, sudo: false }, "/srv/a/current", {}), ["systemctl", "restart", "shop.service", "worker.service"]);
});

async function fakeBin(sudo: string | undefined): Promise<string> {
  const bin = await mkdtemp(path.join(os.tmpdir(), "slw-sudo-"));
  const put = async (name: string, body: string) => {
    await writeFile(path.join(bin, name), `#!/bin/sh\n${body}\n`);
    await chmod(path.join(bin, name), 0o755);
  };
  if (sudo !== undefined) await put("sudo", sudo);
  await put("systemctl", 'echo "systemctl $*"');
  await symlink("/usr/bin/id", path.join(bin, "id"));
  return bin;
}

function run(bin: string): { code: number | null; stdout: string; stderr: string } {
  const [, ...args] = restartCommand(base, "/srv/a/current", {})!;
  const r = spawnSync("/bin/sh", args, { env: { PATH: bin }, encoding: "utf8" });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test("a refused sudo: its own words, then the sudoers line that allows exactly this command, for this user and systemctl", async () => {
  const me = os.userInfo().username;
  for (const refusal of [
    "sudo: a password is required",
    `Sorry, user ${me} is not allowed to execute '/usr/bin/systemctl restart shop.service' as root on app-01.`,
  ]) {
    const bin = await fakeBin(`echo "${refusal}" >&2; exit 1`);
    const r = run(bin);
    assert.equal(r.code, 1, "sudo's exit status");
    const lines = r.stderr.trimEnd().split("\n");
    assert.equal(lines[0], refusal);
    assert.equal(lines[1], `slipway: sudo refused ${me}; restart.sudo needs this line on the host (visudo -f /etc/sudoers.d/slipway):`);
    assert.equal(lines[2], `  ${me} ALL=(root) NOPASSWD: ${bin}/systemctl restart shop.service worker.service`);
  }
});

test("sudo allowed: systemctl's output, exit 0, no advice; sudo missing: said so", async () => {
  const ok = run(await fakeBin('shift; exec "$@"'));
  assert.deepEqual([ok.code, ok.stderr], [0, "systemctl restart shop.service worker.service\n"]);
  const failing = run(await fakeBin('echo "Job for shop.service failed." >&2; exit 1'));
  assert.deepEqual([failing.code, failing.stderr], [1, "Job for shop.service failed.\n"], "a unit's failure is not a sudoers problem");
  const missing = run(await fakeBin(undefined));
  assert.equal(missing.code, 127);
  assert.match(missing.stderr, /slipway: sudo is not installed on this host \(restart\.sudo = true\)/);
});
