import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { resolveBuildId } from "../../src/build/build-id.js";
import { UsageError } from "../../src/errors.js";
import { isValidBuildId } from "../../src/config/patterns.js";

const NOW = new Date("2024-05-01T12:34:56.789Z");
const ALL = { BUILD_NUMBER: "101", GITHUB_RUN_NUMBER: "202", CI_PIPELINE_IID: "303" };

describe("resolveBuildId precedence", () => {
  test("--build-id wins over every CI variable", () => {
    assert.equal(resolveBuildId("release-7", ALL, NOW, "abc1234"), "release-7");
  });

  test("BUILD_NUMBER, then GITHUB_RUN_NUMBER, then CI_PIPELINE_IID", () => {
    assert.equal(resolveBuildId(undefined, ALL, NOW), "101");
    assert.equal(resolveBuildId(undefined, { GITHUB_RUN_NUMBER: "202", CI_PIPELINE_IID: "303" }, NOW), "202");
    assert.equal(resolveBuildId(undefined, { CI_PIPELINE_IID: "303" }, NOW), "303");
  });

  test("an empty flag or empty variable falls through to the next source", () => {
    assert.equal(resolveBuildId("", ALL, NOW), "101");
    assert.equal(resolveBuildId(undefined, { BUILD_NUMBER: "", GITHUB_RUN_NUMBER: "202" }, NOW), "202");
    assert.equal(resolveBuildId("", { BUILD_NUMBER: "" }, NOW), "20240501T123456Z");
  });

  test("unrelated variables are not used", () => {
    assert.equal(resolveBuildId(undefined, { BUILD_ID: "x", CI_PIPELINE_ID: "9", GITHUB_RUN_ID: "8" }, NOW), "20240501T123456Z");
  });

  test("without flag or CI: a UTC timestamp with the short commit", () => {
    assert.equal(resolveBuildId(undefined, {}, NOW, "abc1234"), "20240501T123456Z.abc1234");
  });

  test("without a commit: the timestamp alone", () => {
    assert.equal(resolveBuildId(undefined, {}, NOW), "20240501T123456Z");
  });

  test("the timestamp form is UTC, drops milliseconds and is a valid build id", () => {
    const id = resolveBuildId(undefined, {}, new Date(Date.UTC(2030, 0, 2, 3, 4, 5, 999)), "deadbee");
    assert.equal(id, "20300102T030405Z.deadbee");
    assert.match(id, /^\d{8}T\d{6}Z\.[0-9a-f]+$/);
    assert.ok(isValidBuildId(id));
  });

  test("timestamps sort in time order as strings", () => {
    const a = resolveBuildId(undefined, {}, new Date("2024-05-01T09:59:59Z"));
    const b = resolveBuildId(undefined, {}, new Date("2024-05-01T10:00:00Z"));
    assert.ok(a < b);
  });
});

describe("resolveBuildId validation", () => {
  const bad = ["../x", "a/b", ".hidden", "-x", "a..b", "a b", "a;b", "x".repeat(129), "é"];

  for (const id of bad) {
    test(`--build-id ${JSON.stringify(id.length > 20 ? `${id.slice(0, 10)}…` : id)} is rejected naming --build-id`, () => {
      assert.throws(
        () => resolveBuildId(id, {}, NOW),
        (err: unknown) => {
          assert.ok(err instanceof UsageError);
          assert.equal(err.exitCode, 2);
          assert.ok(err.message.includes(JSON.stringify(id)), err.message);
          assert.match(err.message, /\(from --build-id\) is not valid/);
          assert.match(err.hint ?? "", /--build-id/);
          return true;
        },
      );
    });
  }

  for (const v of ["BUILD_NUMBER", "GITHUB_RUN_NUMBER", "CI_PIPELINE_IID"]) {
    test(`an invalid $${v} is rejected naming $${v}`, () => {
      assert.throws(
        () => resolveBuildId(undefined, { [v]: "../../etc" }, NOW),
        (err: unknown) => {
          assert.ok(err instanceof UsageError);
          assert.match(err.message, new RegExp(`"\\.\\./\\.\\./etc" \\(from \\$${v}\\) is not valid`));
          return true;
        },
      );
    });
  }

  test("an invalid CI variable is not skipped in favour of the next one", () => {
    assert.throws(() => resolveBuildId(undefined, { BUILD_NUMBER: "a/b", GITHUB_RUN_NUMBER: "5" }, NOW), /from \$BUILD_NUMBER/);
  });

  test("a valid flag is accepted even when a CI variable is invalid", () => {
    assert.equal(resolveBuildId("ok-1", { BUILD_NUMBER: "a/b" }, NOW), "ok-1");
  });

  test("the longest valid id (128) and allowed characters are accepted", () => {
    const id = "A".repeat(128);
    assert.equal(resolveBuildId(id, {}, NOW), id);
    assert.equal(resolveBuildId("1.2.3+meta_x-y", {}, NOW), "1.2.3+meta_x-y");
  });
});
