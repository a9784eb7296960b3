// ssh destinations are often aliases from ~/.ssh/config, and those may hold `_` (`Host web_1`):
// accepted in the config, by --hosts, and passed to ssh as written.
import { test } from "node:test";
import assert from "node:assert/strict";
import { parseConfig } from "../../src/config/load.js";
import { SSH_DESTINATION } from "../../src/config/patterns.js";
import { resolveTarget } from "../../src/deploy/target.js";
import { parseDestination, sshArgv } from "../../src/transport/ssh.js";
import { ConfigError } from "../../src/errors.js";

const BASE = `[app]\nname = "shop"\nroot = "/srv/shop"\n`;

test("ssh destinations: aliases with _ are hosts, with or without a user and port", () => {
  const hosts = ["web_1", "deploy@web_1", "deploy@web_1:2222", "_bastion_only", "db_primary.internal", "u_1@app_02.example.com:22"];
  for (const h of hosts) assert.ok(SSH_DESTINATION.test(h), h);
  const config = parseConfig(`${BASE}[targets.prod]\nhosts = ${JSON.stringify(hosts)}\nrestart = { manager = "none" }\n`, "slipway.toml");
  assert.deepEqual(config.targets["prod"]!.hosts, hosts);
  assert.deepEqual(resolveTarget(config, "prod", "deploy@web_1,web_1").hosts, ["web_1", "deploy@web_1"]);
  assert.deepEqual(parseDestination("deploy@web_1:2222"), { target: "deploy@web_1", port: "2222" });
  const argv = sshArgv("deploy@web_1", { config: "", identity: "", known_hosts: "", options: [] }, "/tmp/cm", ["true"]);
  assert.deepEqual(argv.slice(-3), ["--", "deploy@web_1", "true"]);
});

test("ssh destinations: still no leading -, spaces, shell characters or a bad port", () => {
  for (const bad of ["-oProxyCommand=x", "deploy@-x", "web 1", "web_1;reboot", "web_1:0", "web_1:99999", "$(id)", "web_1@", "@web_1"]) {
    assert.ok(!SSH_DESTINATION.test(bad), bad);
    assert.throws(() => parseConfig(`${BASE}[targets.prod]\nhosts = [${JSON.stringify(bad)}]\n`, "slipway.toml"), ConfigError, bad);
  }
});
