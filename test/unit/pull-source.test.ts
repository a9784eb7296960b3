import { test } from "node:test";
import assert from "node:assert/strict";
import { curlConfig, ociTarFlags } from "../../src/deploy/fetch.js";
import { registryProblem, type HostState } from "../../src/deploy/probe.js";
import { chooseSources, registryOrigin } from "../../src/deploy/source.js";
import { registryParts } from "../../src/oci/publish.js";
import { parseConfig } from "../../src/config/load.js";

const CONFIG = `[app]
name = "ledger"
root = "/srv/ledger"
python = "/usr/bin/python3.11"
[targets.prod]
restart = { manager = "none" }
[targets.prod.source]
registry = "http://registry.internal:5000/team/ledger"
[targets.prod.roles.web]
hosts = ["deploy@web-1", "deploy@web-2"]
[targets.prod.roles.worker]
hosts = ["deploy@worker-1"]
source = { registry = "https://other.example/ledger", fallback = "push" }
`;

const state = (registryStatus?: string) => ({ registryStatus }) as HostState;

test("registryProblem: 200 and 401 are a registry; anything else says why", () => {
  assert.equal(registryProblem("200"), undefined);
  assert.equal(registryProblem("401"), undefined);
  assert.equal(registryProblem(undefined), undefined);
  assert.match(registryProblem("000")!, /no answer/);
  assert.match(registryProblem("404")!, /HTTP 404, not as an OCI registry/);
  assert.match(registryProblem("no-curl")!, /curl is not installed/);
});

test("chooseSources: reachable hosts pull; unreachable ones fail, or are pushed to with fallback = push; a role's source wins", () => {
  const config = parseConfig(CONFIG, "slipway.toml");
  const target = config.targets["prod"]!;
  assert.equal(registryOrigin(target, "deploy@web-1"), "http://registry.internal:5000");
  assert.equal(registryOrigin(target, "deploy@worker-1"), "https://other.example");
  const states = new Map([
    ["deploy@web-1", state("401")],
    ["deploy@web-2", state("000")],
    ["deploy@worker-1", state("000")],
  ]);
  const c = chooseSources(target, ["deploy@web-1", "deploy@web-2", "deploy@worker-1"], states);
  assert.deepEqual([...c.pull], ["deploy@web-1"]);
  assert.deepEqual(
    c.problems.map((p) => p.host),
    ["deploy@web-2"],
  );
  assert.match(c.problems[0]!.why, /cannot reach the registry http:\/\/registry\.internal:5000: no answer/);
  assert.deepEqual(
    c.pushedInstead.map((p) => p.host),
    ["deploy@worker-1"],
  );
});

test("a source registry must be http(s)://HOST/REPO, without credentials or a tag", () => {
  for (const bad of ["registry.internal:5000/ledger", "http://u:p@registry/ledger", "http://registry/Ledger", "http://registry/ledger:42", "ftp://r/ledger"]) {
    assert.throws(
      () => parseConfig(CONFIG.replace("http://registry.internal:5000/team/ledger", bad), "slipway.toml"),
      /targets\.prod\.source\.registry: must be http\(s\):\/\/HOST\[:PORT\]\/REPOSITORY/,
      bad,
    );
  }
});

test("curlConfig: the Authorization header as a quoted curl config line; no line breaks", () => {
  assert.equal(curlConfig({ blobs: "http://r/v2/x/blobs/" }), "");
  assert.equal(curlConfig({ blobs: "", authorization: 'Bearer a"b\\c' }), 'header = "Authorization: Bearer a\\"b\\\\c"\n');
  assert.throws(() => curlConfig({ blobs: "", authorization: "Bearer a\nheader = x" }), /line break/);
});

test("ociTarFlags: strip the prefix's components, leave out what the host makes, by exact name", () => {
  assert.deepEqual(ociTarFlags("srv/ledger/releases/42", ["srv/ledger/current", "srv/ledger/releases/42/slipway.json"]), [
    "--strip-components=4",
    "--anchored",
    "--no-wildcards",
    "--exclude=srv/ledger/current",
    "--exclude=srv/ledger/releases/42/slipway.json",
  ]);
});

test("registryParts: http → oci+http, https → oci; the repository without slashes around it", () => {
  assert.deepEqual(registryParts("http://10.0.0.1:5000/team/ledger"), {
    to: "oci+http://10.0.0.1:5000/team/ledger",
    base: new URL("http://10.0.0.1:5000"),
    repo: "team/ledger",
  });
  assert.equal(registryParts("https://ghcr.io/acme/ledger").to, "oci://ghcr.io/acme/ledger");
});
