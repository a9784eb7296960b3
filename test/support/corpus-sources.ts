// The artifacts the hostile corpus (hostile-corpus.ts) is made from, built in a test workspace,
// and a copy of its config that trusts only the release key (for the signature cases).
import { appendFile, mkdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { build } from "../../src/commands/build.js";
import { writeKeyPair } from "../../src/artifact/keys.js";
import { buildWith, type Workspace } from "./build-app.js";
import type { Sources } from "./hostile-corpus.js";

export async function corpusSources(ws: Workspace): Promise<{ sources: Sources; signedConfig: string }> {
  const keys = path.join(ws.dir, "keys");
  await mkdir(keys);
  const trusted = await writeKeyPair(path.join(keys, "release"), false);
  const untrusted = await writeKeyPair(path.join(keys, "laptop"), false);
  const h1 = await buildWith(ws, "h1");
  const s1 = await build({ cwd: ws.app, env: ws.env, buildId: "s1", sign: trusted.private_key });
  const s2 = await build({ cwd: ws.app, env: ws.env, buildId: "s2", sign: untrusted.private_key });
  await appendFile(path.join(ws.app, "hello/app.py"), "\n# another build\n");
  const o1 = await buildWith(ws, "o1");
  // The same app and target, deploying only what the release key signed.
  const signedDir = path.join(ws.dir, "signed");
  await mkdir(signedDir);
  const signedConfig = path.join(signedDir, "slipway.toml");
  const text = await readFile(path.join(ws.app, "slipway.toml"), "utf8");
  await writeFile(signedConfig, text.replace(/^\[deploy\]$/m, `[deploy]\ntrusted_keys = [${JSON.stringify(trusted.public_key)}]`));
  return { sources: { unsigned: h1.result.artifact, signedTrusted: s1.artifact, signedUntrusted: s2.artifact, other: o1.result.artifact }, signedConfig };
}
