// The chat command language: what parses, what each malformed command says, and that a
// command survives formatting (the Confirm button carries it as text).
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { type ChatCommand, ChatUsageError, USAGE, formatCommand, parseCommand } from "../../src/serve/chat/command.js";

function usageError(text: string): ChatUsageError {
  try {
    parseCommand(text);
  } catch (err) {
    assert.ok(err instanceof ChatUsageError, `${text}: ${String(err)}`);
    return err;
  }
  assert.fail(`${JSON.stringify(text)} parsed`);
}

describe("parseCommand", () => {
  test("deploy APP BUILD to TARGET, and without `to`", () => {
    const want = { kind: "deploy", app: "ledger", build: "42", target: "prod", confirmed: false };
    assert.deepEqual(parseCommand("deploy ledger 42 to prod"), want);
    assert.deepEqual(parseCommand("  deploy   ledger 42 prod "), want);
    assert.deepEqual(parseCommand("DEPLOY ledger 42 TO prod"), want);
    assert.deepEqual(parseCommand("deploy ledger 2026.11.30+g1a2b to prod confirm"), { ...want, build: "2026.11.30+g1a2b", confirmed: true });
  });

  test("rollback APP TARGET [to BUILD] [confirm]", () => {
    assert.deepEqual(parseCommand("rollback ledger prod"), { kind: "rollback", app: "ledger", target: "prod", confirmed: false });
    assert.deepEqual(parseCommand("rollback ledger prod to 41"), { kind: "rollback", app: "ledger", target: "prod", to: "41", confirmed: false });
    assert.deepEqual(parseCommand("rollback ledger prod to 41 confirm"), { kind: "rollback", app: "ledger", target: "prod", to: "41", confirmed: true });
  });

  test("lock needs a reason and keeps all its words; unlock's reason is optional", () => {
    assert.deepEqual(parseCommand("lock ledger prod db migration, ask @bob"), {
      kind: "lock",
      app: "ledger",
      target: "prod",
      reason: "db migration, ask @bob",
    });
    assert.match(usageError("lock ledger prod").message, /lock needs a reason/);
    assert.deepEqual(parseCommand("unlock ledger prod"), { kind: "unlock", app: "ledger", target: "prod" });
    assert.deepEqual(parseCommand("unlock ledger prod done"), { kind: "unlock", app: "ledger", target: "prod", reason: "done" });
  });

  test("status with nothing, an app, or an app and a target; help", () => {
    assert.deepEqual(parseCommand("status"), { kind: "status" });
    assert.deepEqual(parseCommand("status ledger"), { kind: "status", app: "ledger" });
    assert.deepEqual(parseCommand("status ledger prod"), { kind: "status", app: "ledger", target: "prod" });
    assert.deepEqual(parseCommand("help"), { kind: "help" });
  });

  test("malformed commands name what is wrong and carry the usage of the command meant", () => {
    const cases: [string, RegExp, string][] = [
      ["", /no command given/, "deploy APP"],
      ["shipit ledger", /unknown command "shipit"/, "status [APP [TARGET]]"],
      ["deploy ledger 42", /deploy needs APP, BUILD and TARGET, got 2 words \(ledger 42\)/, USAGE.deploy],
      ["deploy ledger 42 to prod now", /got 5 words/, USAGE.deploy],
      ["deploy Ledger 42 to prod", /APP "Ledger" is not a valid name/, USAGE.deploy],
      ["deploy ledger ../etc to prod", /BUILD "..\/etc" is not a valid build id/, USAGE.deploy],
      ["deploy ledger 4..2 to prod", /BUILD "4..2" is not a valid build id/, USAGE.deploy],
      ["deploy ledger -rf to prod", /BUILD "-rf"/, USAGE.deploy],
      ["deploy ledger 42 to pr/od", /TARGET "pr\/od" is not a valid name/, USAGE.deploy],
      ["rollback ledger", /rollback needs APP and TARGET/, USAGE.rollback],
      ["rollback ledger prod 41", /optionally "to BUILD"; got 3 words/, USAGE.rollback],
      ["rollback ledger prod to .hidden", /BUILD ".hidden"/, USAGE.rollback],
      ["unlock ledger", /missing TARGET/, USAGE.unlock],
      ["lock", /missing APP and TARGET/, USAGE.lock],
      ["status a b c", /at most APP and TARGET, got 3 words/, USAGE.status],
      ["status $(id)", /APP "\$\(id\)" is not a valid name/, USAGE.status],
    ];
    for (const [text, message, usage] of cases) {
      const err = usageError(text);
      assert.match(err.message, message, text);
      assert.ok(err.usage.includes(usage), `${text}: usage ${err.usage}`);
    }
  });

  test("echoed input is clipped, and an overlong command is refused before parsing", () => {
    const err = usageError(`deploy ledger ${"x".repeat(300)}! to prod`);
    assert.ok(err.message.length < 200, err.message);
    assert.match(usageError(`lock ledger prod ${"why ".repeat(300)}`).message, /characters long \(at most 1000\)/);
  });
});

test("formatCommand gives text that parses back to the same command", () => {
  const commands: ChatCommand[] = [
    { kind: "deploy", app: "ledger", build: "42", target: "prod", confirmed: false },
    { kind: "deploy", app: "ledger", build: "42", target: "prod", confirmed: true },
    { kind: "rollback", app: "ledger", target: "prod", confirmed: false },
    { kind: "rollback", app: "ledger", target: "prod", to: "41", confirmed: true },
    { kind: "lock", app: "ledger", target: "prod", reason: "migrating" },
    { kind: "unlock", app: "ledger", target: "prod" },
    { kind: "unlock", app: "ledger", target: "prod", reason: "done now" },
    { kind: "status" },
    { kind: "status", app: "ledger", target: "prod" },
    { kind: "help" },
  ];
  for (const c of commands) assert.deepEqual(parseCommand(formatCommand(c)), c);
});
