/**
 * `--yum-repo DIR`: copy the .rpm files into DIR and index it with createrepo_c, for a host's
 *   [app] baseurl=file:///DIR gpgcheck=0
 * A package already there is skipped when byte-identical (a venv package is the same for every
 * build with its key) and refused when its bytes differ: one name and version, one content.
 */
import { createHash } from "node:crypto";
import { createReadStream, existsSync } from "node:fs";
import { copyFile, mkdir, rename } from "node:fs/promises";
import path from "node:path";
import { UsageError } from "../errors.js";
import { run } from "../util/exec.js";

async function sha256(file: string): Promise<string> {
  const h = createHash("sha256");
  for await (const chunk of createReadStream(file)) h.update(chunk as Buffer);
  return h.digest("hex");
}

/** Returns the files the repository did not have. */
export async function publishYum(dir: string, files: readonly string[]): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const added: string[] = [];
  for (const file of files) {
    const dest = path.join(dir, path.basename(file));
    if (existsSync(dest)) {
      if ((await sha256(dest)) === (await sha256(file))) continue;
      throw new UsageError(
        `${dest} is already in the yum repository with other content`,
        "a package name and version must always have the same bytes: build with a new build id",
      );
    }
    const tmp = path.join(dir, `.${path.basename(file)}.tmp-${process.pid}`);
    await copyFile(file, tmp);
    await rename(tmp, dest);
    added.push(file);
  }
  const update = existsSync(path.join(dir, "repodata", "repomd.xml")) ? ["--update"] : [];
  await run(["createrepo_c", "--quiet", ...update, dir], { step: "createrepo_c" });
  return added;
}
