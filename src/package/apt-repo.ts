/**
 * `--apt-repo DIR`: publish the packages into a local apt repository kept by reprepro
 * (distribution "slipway", component "main"; reprepro keeps the newest version of each name, so
 * the meta package of the last build published, and every release package), which a host reads with
 *   deb [trusted=yes] file:DIR slipway main
 * A package already there is skipped when it is byte-identical (a venv package is the same for
 * every build with its key); reprepro refuses one with the same name and version and other bytes.
 */
import { existsSync } from "node:fs";
import { mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { UsageError } from "../errors.js";
import { run } from "../util/exec.js";

export const APT_DISTRIBUTION = "slipway";

/** Every file name under `dir` (recursively). */
async function names(dir: string): Promise<Set<string>> {
  if (!existsSync(dir)) return new Set();
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return new Set(entries.filter((e) => e.isFile()).map((e) => e.name));
}

/** Include `files` (all of one architecture, `arch`, or "all"); returns the files the repository did not have. */
export async function publishApt(dir: string, files: readonly string[], arch: string, label: string): Promise<string[]> {
  const conf = path.join(dir, "conf", "distributions");
  if (!existsSync(conf)) {
    await mkdir(path.dirname(conf), { recursive: true });
    await writeFile(
      conf,
      [
        "Origin: slipway",
        `Label: ${label}`,
        `Codename: ${APT_DISTRIBUTION}`,
        `Architectures: ${arch}`,
        "Components: main",
        `Description: ${label} packages written by slipway package`,
        "",
      ].join("\n"),
    );
  } else {
    const text = await readFile(conf, "utf8");
    const arches = /^Architectures:(.*)$/m.exec(text)?.[1]?.trim().split(/\s+/) ?? [];
    if (!arches.includes(arch)) {
      throw new UsageError(`${conf} does not list the architecture ${arch}`, `add it to its Architectures line (now: ${arches.join(" ") || "none"})`);
    }
  }
  const before = await names(path.join(dir, "pool"));
  await run(["reprepro", "--basedir", dir, "includedeb", APT_DISTRIBUTION, ...files], { step: "reprepro includedeb" });
  return files.filter((f) => !before.has(path.basename(f)));
}
