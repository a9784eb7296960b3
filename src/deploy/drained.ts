import { sh } from "./layout.js";

/**
 * <root>/.slipway/drained lists the HAProxy servers ("backend/server") a run has taken out of
 * rotation for this host and not yet put back. A run killed between its drain and its ready
 * leaves the file behind; the next run reads it in its preflight and takes a server listed
 * there and found in DRAIN as its own to restore — not as an operator's DRAIN, which it keeps.
 */
export const DRAINED_FILE = ".slipway/drained";

/** Written before the first drain command (one round trip, only for a host behind HAProxy). */
export function markDrained(root: string, servers: readonly string[]): string[] {
  return sh(
    `root=$1; shift; mkdir -p "$root/.slipway" && printf '%s\\n' "$@" > "$root/${DRAINED_FILE}.tmp" && mv -f "$root/${DRAINED_FILE}.tmp" "$root/${DRAINED_FILE}"`,
    root,
    ...servers,
  );
}

/** Removed once every drained server is back in rotation. */
export function clearDrained(root: string): string[] {
  return sh(`rm -f "$1/${DRAINED_FILE}"`, root);
}

/** For a probe script: prints `drained=<server> <server>…` when the file is there. */
export const DRAINED_FN = `
drained_state() { if [ -f "$1/${DRAINED_FILE}" ]; then echo "drained=$(tr '\\n' ' ' < "$1/${DRAINED_FILE}")"; fi; }`;

export function parseDrained(value: string | undefined): string[] {
  return (value ?? "").split(" ").filter((s) => /^[^/\s]+\/[^/\s]+$/.test(s));
}
