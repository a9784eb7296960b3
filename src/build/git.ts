import { probe } from "../util/exec.js";

export interface GitInfo {
  commit: string;
  dirty: boolean;
  /** Commit time, seconds since the epoch. */
  time: number;
}

/** The commit the app dir is at, and whether the app's files differ from it; undefined outside git. */
export async function gitInfo(appDir: string, env: NodeJS.ProcessEnv): Promise<GitInfo | undefined> {
  const git = (...args: string[]) => probe(["git", "-C", appDir, ...args], { env });
  const commit = await git("rev-parse", "HEAD");
  if (!commit || !/^[0-9a-f]{40,64}$/.test(commit)) return undefined;
  const status = await git("status", "--porcelain", "--untracked-files=normal", "--", ".");
  const time = Number(await git("log", "-1", "--format=%ct", "HEAD"));
  return { commit, dirty: (status ?? "").length > 0, time: Number.isFinite(time) ? time : 0 };
}
