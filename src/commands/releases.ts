import { listHost, parseListing, type HostListing } from "../deploy/prune.js";
import { withTarget, type TargetOptions } from "./target-context.js";

export interface ReleasesResult {
  target: string;
  hosts: ({ host: string } & HostListing)[];
}

/** Per host: releases (newest first), current, previous, venvs, disk used and free. Read-only. */
export async function releases(opts: TargetOptions): Promise<ReleasesResult> {
  return withTarget(opts, async ({ config, name, sessions }) => {
    const hosts = await Promise.all(
      sessions.map((s) =>
        s.step(
          "list",
          async () => ({ host: s.host, ...parseListing((await s.run("list", listHost(config.app.root, true))).stdout) }),
          (l) => `${l.releases.length} release(s), current ${l.current ?? "—"}`,
        ),
      ),
    );
    return { target: name, hosts };
  });
}
