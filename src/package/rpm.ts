/**
 * One .rpm from a staged tree: `rpmbuild -bb` of a generated spec (spec.ts) in a private
 * topdir, with SOURCE_DATE_EPOCH, writing `<name>-<version>-1.<arch>.rpm` into the out dir.
 */
import { mkdir, readdir, rename, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { run } from "../util/exec.js";
import { RPM_RELEASE, renderSpec, type RpmSpec } from "./spec.js";
import { settle } from "./tree.js";

export function rpmFileName(s: Pick<RpmSpec, "name" | "version" | "arch">): string {
  return `${s.name}-${s.version}-${RPM_RELEASE}.${s.arch}.rpm`;
}

export async function buildRpm(spec: RpmSpec, work: string, outDir: string): Promise<string> {
  const epoch = spec.epoch;
  await settle(spec.stage, epoch);
  const top = path.join(work, `rpm-${spec.name}`);
  await mkdir(path.join(top, "SPECS"), { recursive: true });
  const specFile = path.join(top, "SPECS", `${spec.name}.spec`);
  await writeFile(specFile, renderSpec(spec));
  await run(["rpmbuild", "-bb", "--quiet", "--define", `_topdir ${top}`, "--define", `_tmppath ${path.join(top, "tmp")}`, specFile], {
    step: `rpmbuild (${spec.name})`,
    env: { ...process.env, SOURCE_DATE_EPOCH: String(epoch), LC_ALL: "C", TZ: "UTC" },
  });
  const built = path.join(top, "RPMS", spec.arch, rpmFileName(spec));
  const names = await readdir(path.dirname(built));
  if (!names.includes(path.basename(built))) throw new Error(`rpmbuild wrote ${names.join(", ")}, not ${path.basename(built)}`);
  const file = path.join(outDir, path.basename(built));
  const tmp = `${file}.tmp-${process.pid}`;
  try {
    await rename(built, tmp).catch(async () => {
      await run(["cp", built, tmp]);
    });
    await rename(tmp, file);
  } finally {
    await rm(tmp, { force: true });
  }
  return file;
}
