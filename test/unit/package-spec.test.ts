// rpm specs, systemd units and lintian overrides of `slipway package` (pure; rpmspec parses the spec).
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { lintianTags } from "../../src/package/lintian.js";
import { renderSpec, RPM_DEFINES } from "../../src/package/spec.js";
import { renderUnit } from "../../src/package/systemd.js";

const spec = () =>
  renderSpec({
    name: "ledger-release-42",
    version: "42",
    arch: "x86_64",
    summary: "Release 42 of ledger",
    description: "Build 42 of ledger, 100% tested, at /srv/ledger/releases/42.",
    requires: ["ledger-venv-0123456789abcdef = 1-1"],
    stage: "/tmp/stage",
    files: ["/srv/ledger/releases/42", "/srv/odd[1]%name"],
    scripts: { post: "#!/bin/sh\ndate +%Y\n", preun: '#!/bin/sh\n[ "$1" = 0 ] || exit 0\n' },
    packager: "Ops <ops@example.com>",
    change: "Build 42.",
    epoch: 1796083200,
  });

test("rpm spec: nothing of rpm's post-processing, no automatic requirements, values escaped", () => {
  const text = spec();
  assert.match(text, /^AutoReqProv: no$/m);
  assert.match(text, /^%define __os_install_post %\{nil\}$/m);
  assert.match(text, /^%define _build_id_links none$/m);
  assert.equal(RPM_DEFINES["debug_package"], "%{nil}");
  assert.match(text, /^Requires: ledger-venv-0123456789abcdef = 1-1$/m);
  assert.match(text, /^%post -p \/bin\/sh\ndate \+%%Y$/m, "a % in a script is not a macro");
  assert.match(text, /^"\/srv\/odd\\\[1\\\]%%name"$/m, "a file name is neither a glob nor a macro");
  assert.match(text, /^\* Tue Dec 01 2026 Ops <ops@example.com> - 42-1$/m);
  assert.throws(() => renderSpec({ ...JSON.parse("{}"), name: "a\nRequires: evil" }), /must be one non-empty line/);
  const dir = mkdtempSync(path.join(os.tmpdir(), "slipway-spec-"));
  writeFileSync(path.join(dir, "p.spec"), text);
  const parsed = spawnSync("rpmspec", ["-P", path.join(dir, "p.spec")], { encoding: "utf8" });
  assert.equal(parsed.status, 0, parsed.stderr);
  assert.match(parsed.stdout, /^date \+%Y$/m);
});

test("systemd unit: runs in <root>/current with the venv on PATH; a newline in a value is refused", () => {
  const unit = renderUnit("ledger", "/srv/ledger", {
    exec_start: "/srv/ledger/current/virtualenv/bin/gunicorn ledger.wsgi",
    user: "ledger",
    environment_file: "/srv/ledger/shared/.env",
    restart: "on-failure",
  });
  for (const line of [
    "WorkingDirectory=/srv/ledger/current",
    "User=ledger",
    "EnvironmentFile=-/srv/ledger/shared/.env",
    "ExecStart=/srv/ledger/current/virtualenv/bin/gunicorn ledger.wsgi",
    "Restart=on-failure",
    "WantedBy=multi-user.target",
  ])
    assert.ok(unit.split("\n").includes(line), line);
  assert.throws(() => renderUnit("x", "/srv/x", { exec_start: "a\nExecStartPre=evil", user: "", environment_file: "", restart: "no" }), /one line/);
});

test("lintian overrides follow app.root and the package kind", () => {
  assert.ok(lintianTags("venv", "srv/ledger").includes("dir-or-file-in-srv"));
  assert.ok(lintianTags("release", "opt/ledger").includes("dir-or-file-in-opt"));
  assert.ok(!lintianTags("release", "srv/ledger").includes("dir-or-file-in-opt"));
  assert.deepEqual(lintianTags("meta", "srv/ledger"), []);
  assert.deepEqual(lintianTags("meta", "srv/ledger", { systemd: true }), ["maintainer-script-calls-systemctl"]);
});
