/** Identifier rules shared by config, flags and manifests: nothing here may reach a path or shell unchecked. */
export const APP_NAME = /^[a-z0-9][a-z0-9._-]{0,63}$/;
export const TARGET_NAME = /^[a-z0-9][a-z0-9._-]{0,63}$/;
export const ROLE_NAME = /^[a-z][a-z0-9_-]{0,31}$/;
/** Build ids become directory names on every host: no slashes, no leading dot or dash. */
export const BUILD_ID = /^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$/;
/**
 * An ssh destination `[user@]host[:port]`; a leading `-` would be read as an ssh option. The
 * host may be an alias of ~/.ssh/config (`Host web_1`), so `_` is allowed, as in user names.
 */
export const SSH_DESTINATION =
  /^(?:[A-Za-z0-9_][A-Za-z0-9._-]{0,31}@)?(?:[A-Za-z0-9_][A-Za-z0-9._-]{0,252}|\[[0-9A-Fa-f:.]+\])(?::(?:6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[1-9][0-9]{0,3}))?$/;
export const DURATION = /^([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)$/;
export const BATCH_PERCENT = /^([1-9][0-9]?|100)%$/;

/**
 * Characters allowed in app.root, app.python and the paths a manifest names: they become
 * arguments of host scripts and lines of host output, so no spaces, quotes, globs or controls.
 */
export const PATH_CHARS = /^[A-Za-z0-9._@+=,~/-]*$/;
/** An absolute path of plain components: no `.`, `..` or empty ones, no trailing slash. */
export const SAFE_ABSOLUTE_PATH = /^(?:\/(?!\.\.?(?:\/|$))[A-Za-z0-9._@+=,~-]+)+$/;
/** A command found on PATH, e.g. `python3`. */
export const COMMAND_NAME = /^[A-Za-z0-9_][A-Za-z0-9._+-]*$/;
/** Text shown to people (manifest fields, tar names): control characters could rewrite a terminal. */
export const NO_CONTROL_CHARS = /^[^\p{Cc}]*$/u;

export function isValidBuildId(id: string): boolean {
  return BUILD_ID.test(id) && !id.includes("..");
}

/** "500ms" | "35s" | "2m" | "1h" → milliseconds. */
export function parseDuration(text: string): number {
  const m = DURATION.exec(text);
  if (!m) throw new Error(`not a duration: ${text}`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] as "ms" | "s" | "m" | "h"];
  return Math.round(Number(m[1]) * unit);
}
