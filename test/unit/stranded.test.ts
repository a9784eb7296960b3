// The end of a deploy that could not reach some hosts (deploy/stranded.ts): which hosts keep
// their lock, and the exact commands the operator runs when they are back.
import { test } from "node:test";
import assert from "node:assert/strict";
import { reportStranded, strandedHosts, strandedNote } from "../../src/deploy/stranded.js";
import { SlipwayError } from "../../src/errors.js";
import { TransportError } from "../../src/transport/ssh.js";

const hosts = ["deploy@web_1", "deploy@web_2", "deploy@[::1]:22"];
const finished: PromiseSettledResult<unknown>[] = [
  { status: "fulfilled", value: {} },
  { status: "rejected", reason: new TransportError("lost the ssh connection to deploy@web_2, and it did not answer again within 5 s: no answer\nmore") },
  { status: "rejected", reason: new SlipwayError("deploy@[::1]:22: finish failed (exit 1)") },
];

test("stranded: only hosts the finish could not reach; what to run names them, quoted for a shell", () => {
  const s = strandedHosts(hosts, finished, (h) => (h === "deploy@web_2" ? "41" : undefined));
  assert.deepEqual(s, [
    { host: "deploy@web_2", why: "lost the ssh connection to deploy@web_2, and it did not answer again within 5 s: no answer", before: "41" },
  ]);
  assert.equal(
    strandedNote("prod", "42", s),
    [
      "deploy@web_2: unreachable at the end of the deploy (lost the ssh connection to deploy@web_2, and it did not answer again within 5 s: no answer); its deploy lock stays there",
      "when it is back:",
      "  slipway releases --target prod --hosts deploy@web_2    (which release it runs: it may be on 42)",
      "  slipway unlock --target prod --hosts deploy@web_2",
      "then deploy again, or go back to the release it had before:",
      "  slipway rollback --target prod --hosts deploy@web_2 --to 41",
    ].join("\n"),
  );
  const two = strandedNote("prod", "42", [
    { host: "deploy@[::1]:22", why: "x" },
    { host: "web_3", why: "y" },
  ]);
  assert.match(two, /slipway unlock --target prod --hosts 'deploy@\[::1\]:22,web_3'\n/);
  assert.match(two, /when they are back:\nthen|then deploy again$/m);
});

test("stranded: appended to the deploy's own error; a deploy that otherwise succeeded fails with it", () => {
  const s = [{ host: "web_2", why: "lost", before: "41" }];
  const failure = new SlipwayError("deploy of 42 to prod failed:\nweb_2: lost the ssh connection", "fix it");
  reportStranded("prod", "42", s, failure);
  assert.match(failure.message, /^deploy of 42 to prod failed:\nweb_2: lost the ssh connection\nweb_2: unreachable at the end of the deploy/);
  assert.throws(
    () => reportStranded("prod", "42", s, undefined),
    (e: unknown) =>
      e instanceof SlipwayError &&
      e.exitCode === 1 &&
      /every host was switched, but not every one could be reached/.test(e.message) &&
      /slipway unlock --target prod --hosts web_2/.test(e.message),
  );
  assert.doesNotThrow(() => reportStranded("prod", "42", [], undefined), "nothing stranded: nothing to say");
});
