// Package names, versions and control files of `slipway package` (pure).
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import type { Manifest } from "../../src/artifact/manifest.js";
import { debArchitecture, renderControl, rpmArchitecture, wrap } from "../../src/package/control.js";
import { interpreterDependency, metaPackage, packageVersion, releasePackage, venvPackage } from "../../src/package/names.js";

test("package names: lower case, no _, one per venv key and per build", () => {
  assert.equal(metaPackage("ledger"), "ledger");
  assert.equal(metaPackage("my_app"), "my-app");
  assert.equal(venvPackage("ledger", "0123456789abcdef"), "ledger-venv-0123456789abcdef");
  assert.equal(releasePackage("ledger", "20261130T120000Z.abc1234"), "ledger-release-20261130t120000z.abc1234");
  assert.equal(releasePackage("ledger", "42"), "ledger-release-42");
});

/** dpkg's own comparison: a < b. */
const debLess = (a: string, b: string) => spawnSync("dpkg", ["--compare-versions", a, "lt", b]).status === 0;
const debValid = (v: string) => spawnSync("dpkg", ["--validate-version", v]).status === 0;

test("deb versions: valid for dpkg, and newer build ids sort newer", () => {
  const ids = ["1", "2", "10", "42", "20261130T120000Z.abc1234", "20261201T000000Z.0123abc", "b1", "b2", "build_7", "1.2-rc1", "9+local"];
  for (const id of ids) assert.ok(debValid(packageVersion(id, "deb")), `${id} → ${packageVersion(id, "deb")}`);
  assert.equal(packageVersion("42", "deb"), "42");
  assert.equal(packageVersion("b1", "deb"), "0~b1");
  assert.equal(packageVersion("1.2-rc1", "deb"), "1.2.rc1");
  assert.equal(packageVersion("build_7", "rpm"), "build.7");
  for (const [a, b] of [
    ["1", "2"],
    ["2", "10"],
    ["20261130T120000Z.abc1234", "20261201T000000Z.0123abc"],
    ["b1", "b2"],
    ["b9", "1"],
  ] as const) {
    assert.ok(debLess(packageVersion(a, "deb"), packageVersion(b, "deb")), `${a} < ${b}`);
  }
});

function manifest(executable: string, version: string): Manifest {
  return { env: { python: { executable, version } } } as unknown as Manifest;
}

test("the venv package depends on the interpreter it was built with, when a package provides it", () => {
  assert.equal(interpreterDependency(manifest("/usr/bin/python3.11", "3.11.2"), "deb"), "python3.11");
  assert.equal(interpreterDependency(manifest("/usr/bin/python3.12", "3.12.1"), "rpm"), "/usr/bin/python3.12");
  assert.equal(interpreterDependency(manifest("/root/.pyenv/versions/3.12.1/bin/python3.12", "3.12.1"), "deb"), undefined);
});

test("control file: fields in order, the description wrapped under 80 columns; a newline in a value is refused", () => {
  const text = renderControl({
    package: "ledger-release-42",
    version: "42",
    architecture: "amd64",
    maintainer: "Ops <ops@example.com>",
    depends: ["ledger-venv-0123456789abcdef (= 1)"],
    section: "misc",
    priority: "optional",
    installedSize: 12,
    summary: "release 42 of ledger",
    description: `Build 42 of ledger at /srv/ledger/releases/42. ${"x ".repeat(60)}`,
  });
  const lines = text.trimEnd().split("\n");
  assert.deepEqual(lines.slice(0, 9), [
    "Package: ledger-release-42",
    "Version: 42",
    "Architecture: amd64",
    "Maintainer: Ops <ops@example.com>",
    "Installed-Size: 12",
    "Depends: ledger-venv-0123456789abcdef (= 1)",
    "Section: misc",
    "Priority: optional",
    "Description: release 42 of ledger",
  ]);
  for (const l of lines.slice(9)) {
    assert.match(l, /^ \S/);
    assert.ok(l.length <= 80, l);
  }
  assert.throws(() => renderControl({ ...base(), maintainer: "a\nPackage: evil" }), /Maintainer must be one non-empty line/);
  assert.deepEqual(wrap("aa bb cc", 5), ["aa bb", "cc"]);
});

function base() {
  return {
    package: "p",
    version: "1",
    architecture: "all",
    maintainer: "m <m@example.com>",
    depends: [],
    section: "misc",
    priority: "optional" as const,
    installedSize: 1,
    summary: "s",
    description: "d",
  };
}

test("architectures from the manifest's platform", () => {
  assert.equal(debArchitecture("linux-x86_64/glibc-2.36"), "amd64");
  assert.equal(debArchitecture("linux-aarch64"), "arm64");
  assert.equal(rpmArchitecture("linux-x86_64/glibc-2.34"), "x86_64");
  assert.throws(() => debArchitecture("linux-mips"), /no Debian architecture/);
});
