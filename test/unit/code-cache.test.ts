import { test } from "node:test";
import assert from "node:assert/strict";
import { bundleOf, codeCacheDir, codeCacheName } from "../../src/code-cache.js";

test("codeCacheDir: off with SLIPWAY_CODE_CACHE=0, its own dir when named, else beside slipway's other caches", () => {
  assert.equal(codeCacheDir({ SLIPWAY_CODE_CACHE: "0", SLIPWAY_CACHE_DIR: "/c" }), undefined);
  assert.equal(codeCacheDir({ SLIPWAY_CODE_CACHE: "/x/v8" }), "/x/v8");
  assert.equal(codeCacheDir({ SLIPWAY_CACHE_DIR: "/c" }), "/c/code");
  assert.equal(codeCacheDir({ XDG_CACHE_HOME: "/xdg" }), "/xdg/slipway/code");
});

test("codeCacheName: two bundles of the same length never share an entry; each command has its own", () => {
  // V8 checks only the source's length: the name must tell these two apart.
  const a = codeCacheName("var x = 1;", "build", "0123abcd");
  const b = codeCacheName("var y = 1;", "build", "0123abcd");
  assert.notEqual(a, b);
  assert.equal(codeCacheName("var x = 1;", "build", "0123abcd"), a, "same bundle, same name");
  assert.notEqual(codeCacheName("var x = 1;", "deploy", "0123abcd"), a);
  assert.notEqual(codeCacheName("var x = 1;", "build", "ffffffff"), a, "another node or other flags");
  assert.match(a, /^[0-9a-f]{16}-0123abcd-build\.v8$/);
});

test("codeCacheName: an argument that is not a command name shares the 'other' entry", () => {
  for (const arg of [undefined, "--version", "-h", "../../etc", "Build", "a".repeat(40), "build\n"]) {
    assert.match(codeCacheName("s", arg, "0123abcd"), /-other\.v8$/, String(arg));
  }
});

test("bundleOf: reads the bundle hash from an entry's name, and nothing from other files", () => {
  const name = codeCacheName("bundle", "build");
  assert.equal(bundleOf(name), name.slice(0, 16));
  for (const other of ["notes.txt", `${name}.123.tmp`, "0123456789abcdef-0123abcd-build.v8.bak", "0123-0123abcd-build.v8"]) {
    assert.equal(bundleOf(other), undefined, other);
  }
});
