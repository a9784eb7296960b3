import { ArtifactError } from "../errors.js";
import { sh } from "./layout.js";
import type { HostSession } from "./session.js";

/** Prints `missing <file>` for each linked file that <root>/shared lacks (a link to a file counts). Read-only. */
const CHECK = `root=$1; shift
for f in "$@"; do [ -f "$root/shared/$f" ] || printf 'missing %s\\n' "$f"; done`;

export function checkLinkedFiles(root: string, files: readonly string[]): string[] {
  return sh(CHECK, root, ...files);
}

export function parseMissing(stdout: string): string[] {
  return stdout.split("\n").flatMap((l) => (l.startsWith("missing ") ? [l.slice(8)] : []));
}

/**
 * Preflight for deploy.linked_files: every host must have each file under <root>/shared before
 * anything is written anywhere; otherwise exit 3 naming each host and file.
 */
export async function requireLinkedFiles(sessions: readonly HostSession[], root: string, files: readonly string[]): Promise<void> {
  if (files.length === 0) return;
  const missing = await Promise.all(
    sessions.map(async (s) => {
      const r = await s.run("preflight", checkLinkedFiles(root, files));
      return parseMissing(r.stdout).map((f) => `${s.host}: ${root}/shared/${f} is missing`);
    }),
  );
  const lines = missing.flat();
  if (lines.length) {
    throw new ArtifactError(
      `linked files are missing — nothing was sent or changed:\n${lines.map((l) => `  ${l}`).join("\n")}`,
      "put each file in place on the host (it is linked into every release, deploy.linked_files), then deploy again",
    );
  }
}
