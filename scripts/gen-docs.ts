// Regenerate the parts of docs/ that come from code: the JSON Schema and the key reference
// in docs/configuration.md (between the GENERATED markers). `npm run docs`; a unit test
// fails when they are stale.
import { readFileSync, writeFileSync } from "node:fs";
import { configJsonSchema, configReferenceMarkdown } from "../src/config/reference.js";
import { spliceGenerated } from "../src/config/splice.js";

const schemaFile = new URL("../docs/slipway.schema.json", import.meta.url);
const configDoc = new URL("../docs/configuration.md", import.meta.url);
writeFileSync(schemaFile, JSON.stringify(configJsonSchema(), null, 2) + "\n");
writeFileSync(configDoc, spliceGenerated(readFileSync(configDoc, "utf8"), configReferenceMarkdown()));
console.log("docs/slipway.schema.json and docs/configuration.md are up to date");
