import { test } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { configJsonSchema, configReferenceMarkdown } from "../../src/config/reference.js";
import { spliceGenerated } from "../../src/config/splice.js";

test("docs/slipway.schema.json and the key reference in docs/configuration.md match the schema (run `npm run docs`)", async () => {
  const schema = await readFile(new URL("../../docs/slipway.schema.json", import.meta.url), "utf8");
  assert.equal(schema, JSON.stringify(configJsonSchema(), null, 2) + "\n");
  const doc = await readFile(new URL("../../docs/configuration.md", import.meta.url), "utf8");
  assert.equal(doc, spliceGenerated(doc, configReferenceMarkdown()));
  for (const key of ["keep_releases", "pip_args", "drain_timeout", "on_failure"]) assert.match(doc, new RegExp(`\`${key}\``));
});
