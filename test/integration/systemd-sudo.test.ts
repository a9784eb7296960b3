// restart.sudo with the real sudo (Debian's), as a deploy user that is not root. There is no
// systemd on the test machines, so `systemctl` is a fake that records who ran it and with what:
// this proves the sudo path and its message, not systemd. A refused sudo prints the sudoers
// line; that exact line, installed, lets the same command run as root.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { chmod, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { restartCommand } from "../../src/procman/restart.js";

const USER = "slipway-sudo-test";
const SUDOERS = `/etc/sudoers.d/slipway-test-${process.pid}`;
let bin: string;

before(async () => {
  assert.equal(spawnSync("sudo", ["-V"]).status, 0, "sudo is installed (scripts/setup.sh)");
  if (spawnSync("id", ["-u", USER]).status !== 0) {
    const r = spawnSync("useradd", ["-M", "-s", "/bin/sh", USER], { encoding: "utf8" });
    assert.equal(r.status, 0, r.stderr);
  }
  bin = await mkdtemp(path.join(os.tmpdir(), "slw-sudo-bin-"));
  await chmod(bin, 0o755);
  await writeFile(path.join(bin, "systemctl"), `#!/bin/sh\necho "$(id -u) $*" >> "${bin}/calls"\necho "systemctl $*: done"\n`);
  await chmod(path.join(bin, "systemctl"), 0o755);
});
after(async () => {
  await rm(SUDOERS, { force: true });
  spawnSync("userdel", [USER]);
  if (bin) await rm(bin, { recursive: true, force: true });
});

/** The restart argv as the deploy user runs it on a host (the fake systemctl first on its PATH). */
function restartAsUser(): { code: number | null; stdout: string; stderr: string } {
  const argv = restartCommand(
    { manager: "systemd", programs: ["shop.service"], conf: "", command: "", scope: "system", action: "restart", sudo: true },
    "/srv/shop/current",
    {},
  )!;
  const r = spawnSync("runuser", ["-u", USER, "--", "env", `PATH=${bin}:/usr/bin:/bin`, ...argv], { encoding: "utf8", cwd: "/" });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test("restart.sudo as a user without rights: sudo -n refuses at once (no prompt) and the output names the sudoers line; with that line it runs as root", async () => {
  const refused = restartAsUser();
  assert.equal(refused.code, 1, refused.stderr);
  assert.match(refused.stderr, /^sudo: a password is required$/m, "sudo's own words, no password prompt");
  const line = /^ {2}(.+ NOPASSWD: .+)$/m.exec(refused.stderr)?.[1];
  assert.equal(line, `${USER} ALL=(root) NOPASSWD: ${bin}/systemctl restart shop.service`, refused.stderr);
  await readFile(path.join(bin, "calls"), "utf8").then(
    () => assert.fail("systemctl ran without the sudoers line"),
    () => undefined,
  );

  // secure_path: sudo resolves systemctl through it, not the user's PATH; here it must find the fake.
  await writeFile(SUDOERS, `Defaults:${USER} secure_path="${bin}:/usr/bin:/bin"\n${line}\n`, { mode: 0o440 });
  const check = spawnSync("visudo", ["-cf", SUDOERS], { encoding: "utf8" });
  assert.equal(check.status, 0, `the printed line is valid sudoers: ${check.stdout}${check.stderr}`);
  const allowed = restartAsUser();
  assert.equal(allowed.code, 0, allowed.stderr);
  assert.match(allowed.stderr, /systemctl restart shop\.service: done/);
  assert.doesNotMatch(allowed.stderr, /slipway:/);
  assert.equal(await readFile(path.join(bin, "calls"), "utf8"), "0 restart shop.service\n", "systemctl ran once, as root, with exactly those arguments");
});
