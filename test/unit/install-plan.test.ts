import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { planInstall } from "../../src/build/install-plan.js";

describe("planInstall", () => {
  test("requirements files go to pip as -r, in order", () => {
    assert.deepEqual(planInstall(["requirements.txt", "reqs/dev.txt", "constraints/extra.in"]), [
      { kind: "requirements", file: "requirements.txt" },
      { kind: "requirements", file: "reqs/dev.txt" },
      { kind: "requirements", file: "constraints/extra.in" },
    ]);
  });

  test("nothing configured, nothing to install", () => {
    assert.deepEqual(planInstall([]), []);
  });

  test("pyproject.toml + uv.lock: exported by uv (frozen, no dev, no hashes, no project), pyproject not installed twice", () => {
    assert.deepEqual(planInstall(["pyproject.toml", "uv.lock"]), [
      {
        kind: "export",
        tool: "uv",
        argv: ["uv", "export", "--frozen", "--no-dev", "--no-emit-project", "--no-hashes", "--format", "requirements-txt", "--project", "."],
      },
    ]);
  });

  test("uv.lock in a subdirectory exports that project", () => {
    const [src] = planInstall(["backend/pyproject.toml", "backend/uv.lock"]);
    assert.equal(src?.kind, "export");
    assert.deepEqual(src.kind === "export" ? src.argv.slice(-2) : [], ["--project", "backend"]);
  });

  test("pyproject.toml + poetry.lock: exported by poetry without hashes", () => {
    assert.deepEqual(planInstall(["sub/pyproject.toml", "sub/poetry.lock"]), [
      {
        kind: "export",
        tool: "poetry",
        argv: ["poetry", "export", "--format", "requirements.txt", "--without-hashes", "--directory", "sub"],
      },
    ]);
  });

  test("the lock may be listed before pyproject.toml", () => {
    assert.deepEqual(
      planInstall(["uv.lock", "pyproject.toml"]).map((s) => s.kind),
      ["export"],
    );
  });

  test("a bare pyproject.toml contributes its [project] dependencies", () => {
    assert.deepEqual(planInstall(["pyproject.toml"]), [{ kind: "pyproject-dependencies", file: "pyproject.toml" }]);
  });

  test("pylock.toml is unsupported, with a hint to export a requirements file", () => {
    const plan = planInstall(["pyproject.toml", "pylock.toml"]);
    const unsupported = plan.find((s) => s.kind === "unsupported");
    assert.ok(unsupported && unsupported.kind === "unsupported");
    assert.equal(unsupported.file, "pylock.toml");
    assert.match(unsupported.hint, /pip cannot install from pylock\.toml/);
    assert.match(unsupported.hint, /build\.requirements/);
  });

  test("requirements files alongside a lock are all kept", () => {
    assert.deepEqual(
      planInstall(["pyproject.toml", "uv.lock", "requirements-extra.txt"]).map((s) => s.kind),
      ["export", "requirements"],
    );
  });

  test("only the basename decides: a dir named uv.lock-ish does not confuse it", () => {
    assert.deepEqual(planInstall(["uv.lock.d/requirements.txt"]), [{ kind: "requirements", file: "uv.lock.d/requirements.txt" }]);
  });
});
