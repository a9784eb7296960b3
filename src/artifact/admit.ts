import type { Config } from "../config/schema.js";
import { ArtifactError } from "../errors.js";
import { loadPublicKey, resolveKeyPath } from "./keys.js";
import type { ArtifactHead } from "./read.js";
import { checkTrust } from "./trust.js";

export interface Admission {
  /** Who signed it, and whether deploy.trusted_keys trusts that key. */
  signature?: { key_id: string; trusted: boolean };
}

/**
 * Would this config deploy this artifact? The manifest must name the config's app, root and
 * interpreter (the venv only works with those), and be signed as deploy.trusted_keys demands.
 * Runs before anything is locked or sent; `appDir` is where relative key paths start.
 */
export async function checkAgainstConfig(file: string, head: ArtifactHead, config: Config, appDir: string): Promise<Admission> {
  const m = head.manifest;
  const rebuild = "build the artifact again from this app and config";
  if (m.app !== config.app.name) throw new ArtifactError(`${file} is for app ${m.app}, the config deploys ${config.app.name}`, rebuild);
  if (m.root !== config.app.root) {
    throw new ArtifactError(
      `${file} was built for root ${m.root}, the config's app.root is ${config.app.root}`,
      "the venv only works at the path it was built at: " + rebuild,
    );
  }
  if (m.env.python.configured !== config.app.python) {
    throw new ArtifactError(
      `${file} was built with the interpreter ${m.env.python.configured}, the config's app.python is ${config.app.python}`,
      "the venv links to the interpreter it was built with: " + rebuild,
    );
  }
  const trusted = await Promise.all(config.deploy.trusted_keys.map((p, i) => loadPublicKey(resolveKeyPath(p, appDir), `deploy.trusted_keys[${i}]`)));
  return { signature: checkTrust(file, head, trusted) };
}
