import { ArtifactError } from "../errors.js";
import type { HostState } from "./probe.js";

/**
 * Preflight for deploy.linked_files (read by the probe): every host must have each file under
 * <root>/shared before anything is written anywhere; otherwise exit 3 naming each host and file.
 */
export function rejectMissingLinked(states: ReadonlyMap<string, HostState>, root: string): void {
  const lines = [...states].flatMap(([host, st]) => (st.linkedMissing ?? []).map((f) => `${host}: ${root}/shared/${f} is missing`));
  if (lines.length) {
    throw new ArtifactError(
      `linked files are missing — nothing was sent or changed:\n${lines.map((l) => `  ${l}`).join("\n")}`,
      "put each file in place on the host (it is linked into every release, deploy.linked_files), then deploy again",
    );
  }
}
