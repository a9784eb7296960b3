import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { venvKey, type VenvKeyParts } from "../../src/build/venv-key.js";
import type { PythonInfo } from "../../src/build/interpreter.js";

const A = "a".repeat(64);
const B = "b".repeat(64);

function parts(): VenvKeyParts {
  return {
    root: "/srv/acc",
    python: "/usr/bin/python3",
    interpreter: {
      executable: "/usr/bin/python3.11",
      implementation: "cpython",
      version: "3.11.2",
      abi: "cpython-311-x86_64-linux-gnu",
      platform: "linux-x86_64/glibc-2.36",
    },
    pipArgs: ["--no-index", "--find-links", "wheelhouse"],
    inputs: [
      { path: "requirements.txt", sha256: A },
      { path: "reqs/base.txt", sha256: B },
    ],
  };
}

describe("venvKey", () => {
  test("is 16 lower-case hex characters", () => {
    assert.match(venvKey(parts()), /^[0-9a-f]{16}$/);
  });

  test("is equal for identical parts (built separately)", () => {
    assert.equal(venvKey(parts()), venvKey(parts()));
  });

  test("is pinned: the same parts give the same key across slipway versions", () => {
    // If this changes, every cached venv on every build machine is rebuilt: bump
    // VENV_KEY_FORMAT on purpose and update this value, never by accident.
    assert.equal(venvKey(parts()), "c3c25538345f221e");
    assert.equal(venvKey(structuredClone(parts())), "c3c25538345f221e");
  });

  const interpreterFields: (keyof PythonInfo)[] = ["executable", "implementation", "version", "abi", "platform"];
  for (const field of interpreterFields) {
    test(`changes when interpreter.${field} changes`, () => {
      const p = parts();
      p.interpreter = { ...p.interpreter, [field]: `${p.interpreter[field]}-other` };
      assert.notEqual(venvKey(p), venvKey(parts()));
    });
  }

  test("changes when the configured python changes (same interpreter)", () => {
    const p = parts();
    p.python = "/usr/bin/python3.11";
    assert.notEqual(venvKey(p), venvKey(parts()));
  });

  test("changes when root changes", () => {
    const p = parts();
    p.root = "/srv/acc2";
    assert.notEqual(venvKey(p), venvKey(parts()));
  });

  test("changes when pip_args change: a value, an added arg, the order", () => {
    const base = venvKey(parts());
    const keys = [
      { ...parts(), pipArgs: ["--no-index", "--find-links", "wheels"] },
      { ...parts(), pipArgs: [...parts().pipArgs, "--pre"] },
      { ...parts(), pipArgs: ["--find-links", "wheelhouse", "--no-index"] },
      { ...parts(), pipArgs: [] },
    ].map(venvKey);
    for (const k of keys) assert.notEqual(k, base);
    assert.equal(new Set(keys).size, keys.length);
  });

  test("pip_args are not confused by joining (['a b'] vs ['a', 'b'])", () => {
    assert.notEqual(venvKey({ ...parts(), pipArgs: ["a b"] }), venvKey({ ...parts(), pipArgs: ["a", "b"] }));
  });

  test("changes when any input's sha256 changes", () => {
    const base = venvKey(parts());
    for (let i = 0; i < parts().inputs.length; i++) {
      const p = parts();
      const inputs = p.inputs.map((x) => ({ ...x }));
      inputs[i]!.sha256 = "c".repeat(64);
      assert.notEqual(venvKey({ ...p, inputs }), base, `input ${i}`);
    }
  });

  test("changes when an input's path changes (same content)", () => {
    const p = parts();
    assert.notEqual(venvKey({ ...p, inputs: [{ path: "other.txt", sha256: A }, p.inputs[1]!] }), venvKey(parts()));
  });

  test("changes when an input is added or removed", () => {
    const p = parts();
    assert.notEqual(venvKey({ ...p, inputs: [...p.inputs, { path: "pkg", sha256: A }] }), venvKey(parts()));
    assert.notEqual(venvKey({ ...p, inputs: p.inputs.slice(0, 1) }), venvKey(parts()));
    assert.notEqual(venvKey({ ...p, inputs: [] }), venvKey(parts()));
  });

  test("ignores extra properties that are not part of the key", () => {
    const p = parts();
    const extra = { ...p, interpreter: { ...p.interpreter, note: "irrelevant" } as PythonInfo };
    assert.equal(venvKey(extra), venvKey(parts()));
  });
});
