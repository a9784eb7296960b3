/**
 * The rpmlint checks slipway's rpm packages fail on purpose, as an rpmlintrc (`rpmlint -r FILE`);
 * docs/packages.md gives the reason for each. rpm has no per-package override file like
 * lintian's, so the filters are the user's to pass.
 */
export const RPMLINT_FILTERS = [
  // The venv as pip built it, and the app's code layer as built. (Not python-bytecode-inconsistent-mtime:
  // the venv's .pyc files are hash-based since venv key format 2, and rpmlint fails on a filter
  // that matches nothing.)
  "files-duplicate",
  "files-duplicated-waste",
  "wrong-script-interpreter",
  "non-executable-script",
  "unstripped-binary-or-object",
  "devel-file-in-non-devel-package",
  "hidden-file-or-dir",
  "zero-length",
  "version-control-internal-file",
  // The deploy's layout: absolute links into the venv and <root>/shared.
  "symlink-should-be-relative",
  "dangling-symlink",
  // The package split and the scripts.
  "requires-on-release",
  "no-binary",
  "dangerous-command-in-%post",
  "dangerous-command-in-%postun",
  "percent-in-%post",
  "name-repeated-in-summary",
  // Metadata an app's build artifact does not carry.
  "no-url-tag",
  "no-documentation",
  "invalid-license",
  "no-signature",
];

export function rpmlintrc(): string {
  return `# slipway package: rpmlint checks failed on purpose (docs/packages.md)\n${RPMLINT_FILTERS.map((t) => `addFilter("[EW]: ${t}( |$)")\n`).join("")}`;
}
