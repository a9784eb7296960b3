// health.expect_build: the check that the answer came from the release being deployed
// (BUILD_NAMED_PY, the poller's own function, run alone on a table of answers), and the
// message a deploy prints when the old build answered.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { BUILD_NAMED_PY, describeOutcome } from "../../src/health/check.js";

type Answer = [header: string | null, body: string, build: string];

/** build_named(header, body, build) for each answer: [named, seen]. One python3, no I/O in the function. */
function judge(answers: Answer[]): [boolean, string | null][] {
  const py = `${BUILD_NAMED_PY}\nimport json, sys\nprint(json.dumps([build_named(*a) for a in json.load(sys.stdin)]))`;
  const r = spawnSync("/usr/bin/python3", ["-I", "-S", "-c", py], { input: JSON.stringify(answers), encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as [boolean, string | null][];
}

test("build_named: X-Build-Id or a JSON build_id decides alone; else the build id as a whole word of the body", () => {
  const cases: [Answer, [boolean, string | null], string][] = [
    [["42", "", "42"], [true, "42"], "the header"],
    [[" 41 ", "build 42", "42"], [false, "41"], "the header wins over the body, trimmed"],
    [[null, '{"status": "ok", "build_id": "42"}', "42"], [true, "42"], "JSON build_id"],
    [[null, '{"build_id": 42}', "42"], [true, "42"], "a numeric JSON build_id"],
    [[null, '{"status": "ok", "build_id": "41", "workers": 42}', "42"], [false, "41"], "the old build in JSON, 42 elsewhere"],
    [[null, '{"build_id": true}', "true"], [true, null], "a boolean is not a build id: the word search finds it"],
    [[null, '{"status": "ok"}', "42"], [false, null], "JSON without build_id, no word"],
    [[null, '{"release": "/srv/app/releases/42"}', "42"], [true, null], "JSON naming the release path"],
    [[null, "/srv/app/releases/42/app", "42"], [true, null], "a path inside the release"],
    [[null, "releases/420", "42"], [false, null], "a longer id"],
    [[null, "releases/142", "42"], [false, null], "a longer id, before"],
    [[null, "build 42.1", "42"], [false, null], ". is part of a build id"],
    [[null, "b-20261130T1518-abc1234 ok", "20261130T1518-abc1234"], [false, null], "- is part of a build id"],
    [[null, "42 then 420", "420"], [true, null], "a later occurrence"],
    [[null, "x420 42", "42"], [true, null], "the second occurrence is a word"],
    [[null, "42", "42"], [true, null], "the whole body"],
    [[null, "{not json 42", "42"], [true, null], "broken JSON: the word search"],
    [[null, "", "42"], [false, null], "empty"],
  ];
  const got = judge(cases.map((c) => c[0]));
  for (const [i, [, want, why]] of cases.entries()) assert.deepEqual(got[i], want, why);
});

test("the failure names the build seen and the build expected, or says the answer names none", () => {
  const base = { ok: false, ms: 30012, attempts: 290, status: 200 };
  assert.equal(
    describeOutcome({ ...base, body: '{"build_id": "41"}', named: false, seen: "41" }, "42"),
    "HTTP 200 from build 41, expected build 42: another build is still answering (the restart did not replace the old process, or another process holds the port) (after 290 attempts in 30012 ms)",
  );
  assert.equal(
    describeOutcome({ ...base, body: "ok", named: false }, "42"),
    'HTTP 200, but the answer does not name build 42 (no X-Build-Id header, no JSON build_id, no "42" in the body): ok; make the health endpoint report its build id or release path, or set health.expect_build = false (after 290 attempts in 30012 ms)',
  );
  assert.equal(
    describeOutcome({ ...base, status: 503, body: "down" }, "42"),
    "HTTP 503: down (after 290 attempts in 30012 ms)",
    "a failing status is described as before",
  );
  assert.equal(
    describeOutcome({ ...base, error: "ConnectionRefusedError: refused", named: false }, "42"),
    "ConnectionRefusedError: refused (after 290 attempts in 30012 ms)",
  );
});
