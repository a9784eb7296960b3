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
  // Two git processes, side by side: the commit and its time in one (a user's log.showSignature
  // would add gpg's lines), the working tree's state in the other.
  const [head, status] = await Promise.all([
    git("-c", "log.showSignature=false", "log", "-1", "--no-decorate", "--format=%H %ct", "HEAD"),
    git("status", "--porcelain", "--untracked-files=normal", "--", "."),
  ]);
  const [commit, time] = (head ?? "").split(" ");
  if (!commit || !/^[0-9a-f]{40,64}$/.test(commit)) return undefined;
  return { commit, dirty: (status ?? "").length > 0, time: Number.isFinite(Number(time)) ? Number(time) : 0 };
}
