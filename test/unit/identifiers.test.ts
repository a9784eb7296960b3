import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { parseConfig } from "../../src/config/load.js";
import { ConfigError } from "../../src/errors.js";
import { SAFE_ABSOLUTE_PATH, PATH_CHARS, COMMAND_NAME, NO_CONTROL_CHARS, isValidBuildId } from "../../src/config/patterns.js";

/*
 * Names that reach host paths, host scripts (as arguments) or terminals are checked where they
 * enter: the config here; the manifest in manifest.test.ts; --build-id in build-id.test.ts.
 */

const config = (app: string) => `[app]\nname = "hello"\n${app}\n`;

function problem(text: string): string {
  try {
    parseConfig(text, "/app/slipway.toml");
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    return err.message;
  }
  assert.fail(`accepted: ${text}`);
}

describe("app.root and app.python in the config", () => {
  test("plain absolute paths are accepted", () => {
    parseConfig(config('root = "/srv/hello"\npython = "/usr/bin/python3.11"'), "/app/slipway.toml");
    parseConfig(config('root = "/home/deploy/.apps/hello-2"\npython = "python3"'), "/app/slipway.toml");
  });
  for (const root of ["/srv/my app", "/srv/a\nb", "/srv/$(id)", "/srv//a", "/srv/./a", "/srv/a;b"]) {
    test(`root ${JSON.stringify(root)} is refused with file:line and the rule`, () => {
      assert.match(
        problem(config(`root = ${JSON.stringify(root)}`)),
        /slipway\.toml:3: app\.root: may hold only letters, digits and \. _ - \+ @ = , ~ between single slashes/,
      );
    });
  }
  for (const python of ["/usr/bin/python3 -I", "/usr/bin/py*", "-c", "../python3", "/usr/../bin/python3"]) {
    test(`python ${JSON.stringify(python)} is refused`, () => {
      assert.match(problem(config(`root = "/srv/a"\npython = ${JSON.stringify(python)}`)), /app\.python: must be an absolute path of plain names/);
    });
  }
});

describe("patterns", () => {
  test("SAFE_ABSOLUTE_PATH: no ., .., empty components, trailing slash or odd characters", () => {
    for (const ok of ["/srv/a", "/srv/.hidden", "/srv/..x", "/usr/bin/python3.11"]) assert.ok(SAFE_ABSOLUTE_PATH.test(ok), ok);
    for (const bad of ["/", "srv/a", "/srv/../x", "/srv/./x", "/srv//x", "/srv/a/", "/srv/a b", "/srv/a\n"]) assert.ok(!SAFE_ABSOLUTE_PATH.test(bad), bad);
  });
  test("PATH_CHARS, COMMAND_NAME, NO_CONTROL_CHARS, build ids", () => {
    assert.ok(PATH_CHARS.test("/srv/a-b_c.d@e+f=g,h~i") && !PATH_CHARS.test("/srv/a b"));
    assert.ok(COMMAND_NAME.test("python3.11") && !COMMAND_NAME.test("-c") && !COMMAND_NAME.test("py thon"));
    assert.ok(NO_CONTROL_CHARS.test("café") && !NO_CONTROL_CHARS.test("a\u001b") && !NO_CONTROL_CHARS.test("a\u009b") && !NO_CONTROL_CHARS.test("a\u007f"));
    assert.ok(isValidBuildId("20260101T000000Z.abc1234") && !isValidBuildId("a..b") && !isValidBuildId("../x") && !isValidBuildId("-x"));
  });
});

test("a host's current/previous link names a release only if it is a valid build id", async () => {
  const { buildIdOfLink } = await import("../../src/deploy/probe.js");
  assert.equal(buildIdOfLink("releases/b7"), "b7");
  assert.equal(buildIdOfLink("releases/.."), undefined);
  assert.equal(buildIdOfLink("releases/.hidden"), undefined);
  assert.equal(buildIdOfLink("/etc"), undefined);
});
