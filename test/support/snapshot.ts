// A listing of a tree with each file's hash and mode: equal snapshots mean nothing changed.
import { createHash } from "node:crypto";
import { lstat, readdir, readFile, readlink } from "node:fs/promises";
import path from "node:path";

export async function snapshotTree(dir: string, ignoreTop: string[] = []): Promise<string[]> {
  const out: string[] = [];
  const walk = async (rel: string) => {
    for (const name of (await readdir(path.join(dir, rel))).sort()) {
      const r = rel ? `${rel}/${name}` : name;
      if (!rel && ignoreTop.includes(name)) continue;
      const abs = path.join(dir, r);
      const st = await lstat(abs);
      const mode = (st.mode & 0o7777).toString(8);
      if (st.isDirectory()) {
        out.push(`d ${mode} ${r}`);
        await walk(r);
      } else if (st.isSymbolicLink()) out.push(`l ${r} -> ${await readlink(abs)}`);
      else
        out.push(
          `f ${mode} ${r} ${createHash("sha256")
            .update(await readFile(abs))
            .digest("hex")}`,
        );
    }
  };
  await walk("");
  return out;
}
