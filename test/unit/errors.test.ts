import { describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  ArtifactError,
  CommandFailedError,
  ConfigError,
  EnvironmentError,
  ExitCode,
  LockedError,
  SlipwayError,
  UsageError,
  exitHint,
} from "../../src/errors.js";
import { DURATION, parseDuration } from "../../src/config/patterns.js";

describe("exit codes (SPEC §1)", () => {
  test("the numbers", () => {
    assert.deepEqual(ExitCode, { ok: 0, failed: 1, usage: 2, rejected: 3, locked: 4 });
  });

  test("each error class carries its exit code and its own name", () => {
    const cases: [SlipwayError, number, string][] = [
      [new SlipwayError("x"), 1, "SlipwayError"],
      [new UsageError("x"), 2, "UsageError"],
      [new ConfigError([{ file: "f", path: "", message: "x" }]), 2, "ConfigError"],
      [new EnvironmentError("x"), 2, "EnvironmentError"],
      [new ArtifactError("x"), 3, "ArtifactError"],
      [new LockedError("x"), 4, "LockedError"],
      [new CommandFailedError("s", ["x"], 1, null, ""), 1, "CommandFailedError"],
    ];
    for (const [err, code, name] of cases) {
      assert.equal(err.exitCode, code, name);
      assert.equal(err.name, name);
      assert.ok(err instanceof SlipwayError);
      assert.ok(err instanceof Error);
    }
  });

  test("hint and cause are kept", () => {
    const cause = new Error("root");
    const err = new SlipwayError("what failed", "what to do", { cause });
    assert.equal(err.message, "what failed");
    assert.equal(err.hint, "what to do");
    assert.equal(err.cause, cause);
  });
});

describe("exitHint", () => {
  test("127: command not found", () => {
    assert.match(exitHint(127, null) ?? "", /exit 127: command not found.*PATH/);
  });
  test("126: not executable", () => {
    assert.match(exitHint(126, null) ?? "", /exit 126: found but not executable.*permissions/);
  });
  test("137 and SIGKILL: probably the OOM killer", () => {
    assert.match(exitHint(137, null) ?? "", /SIGKILL.*out-of-memory/);
    assert.match(exitHint(null, "SIGKILL") ?? "", /SIGKILL.*out-of-memory/);
  });
  test("nothing to say about other statuses", () => {
    assert.equal(exitHint(1, null), undefined);
    assert.equal(exitHint(2, null), undefined);
    assert.equal(exitHint(null, "SIGTERM"), undefined);
    assert.equal(exitHint(null, null), undefined);
  });
});

describe("CommandFailedError", () => {
  test("its message has the step, the argv, the exit code and the output tail", () => {
    const err = new CommandFailedError(
      "pip install",
      ["/srv/a/virtualenvs/k/bin/python", "-m", "pip", "install", "-r", "requirements.txt"],
      1,
      null,
      "Collecting django\nERROR: No matching distribution found for djangoo\n\n",
    );
    assert.equal(
      err.message,
      "pip install failed: `/srv/a/virtualenvs/k/bin/python -m pip install -r requirements.txt` exited with code 1\n" +
        "Collecting django\nERROR: No matching distribution found for djangoo",
    );
    assert.equal(err.step, "pip install");
    assert.equal(err.code, 1);
    assert.equal(err.signal, null);
    assert.deepEqual(err.argv, ["/srv/a/virtualenvs/k/bin/python", "-m", "pip", "install", "-r", "requirements.txt"]);
    assert.equal(err.exitCode, 1);
  });

  test("without output there is no trailing newline", () => {
    const err = new CommandFailedError("step", ["false"], 1, null, "   \n");
    assert.equal(err.message, "step failed: `false` exited with code 1");
  });

  test("killed by a signal says so instead of an exit code", () => {
    const err = new CommandFailedError("build step 1 (make)", ["/bin/sh", "-c", "make"], null, "SIGKILL", "partial");
    assert.match(err.message, /^build step 1 \(make\) failed: `\/bin\/sh -c make` was killed by SIGKILL\npartial$/);
    assert.doesNotMatch(err.message, /exited with code/);
  });

  test("the hint defaults to exitHint", () => {
    assert.equal(new CommandFailedError("s", ["nope"], 127, null, "").hint, exitHint(127, null));
    assert.equal(new CommandFailedError("s", ["x"], null, "SIGKILL", "").hint, exitHint(null, "SIGKILL"));
    assert.equal(new CommandFailedError("s", ["x"], 3, null, "").hint, undefined);
  });

  test("an explicit hint wins", () => {
    assert.equal(new CommandFailedError("s", ["nope"], 127, null, "", "install nope").hint, "install nope");
  });
});

describe("parseDuration", () => {
  const good: [string, number][] = [
    ["500ms", 500],
    ["35s", 35_000],
    ["2m", 120_000],
    ["1h", 3_600_000],
    ["1.5s", 1500],
    ["0.25m", 15_000],
    ["0ms", 0],
  ];
  for (const [text, ms] of good) {
    test(`${text} = ${ms} ms`, () => {
      assert.equal(parseDuration(text), ms);
      assert.match(text, DURATION);
    });
  }

  test("a fractional millisecond is rounded to a whole one", () => {
    assert.equal(parseDuration("1.6ms"), 2);
    assert.ok(Number.isInteger(parseDuration("0.0001s")));
  });

  for (const bad of ["30", "5 s", " 5s", "5s ", "", "1d", "-1s", "1.s", ".5s", "5S", "5sec", "1m30s", "ms"]) {
    test(`${JSON.stringify(bad)} is not a duration`, () => {
      assert.throws(() => parseDuration(bad), { message: `not a duration: ${bad}` });
      assert.doesNotMatch(bad, DURATION);
    });
  }
});
