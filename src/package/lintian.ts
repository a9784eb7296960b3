/**
 * The lintian tags a slipway package keeps on purpose, shipped as its overrides
 * (/usr/share/lintian/overrides/<package>). docs/packages.md gives the reason for each.
 */
export type PackageKind = "venv" | "release" | "meta";

/** Tags of the place the app lives in (app.root): slipway's layout is the user's choice of path. */
function rootTags(root: string): string[] {
  const top = root.split("/")[0]!;
  if (top === "srv") return ["dir-or-file-in-srv"];
  if (top === "opt") return ["dir-or-file-in-opt"];
  if (top === "home") return ["dir-or-file-in-home"];
  if (top === "tmp") return ["dir-or-file-in-tmp", "symlink-target-in-tmp", "possibly-insecure-handling-of-tmp-files-in-maintainer-script"];
  if (root === "var/www" || root.startsWith("var/www/")) return ["dir-or-file-in-var-www"];
  if (["usr", "var", "etc", "lib", "bin", "sbin"].includes(top)) return [];
  return ["non-standard-toplevel-dir"];
}

/** A virtualenv as pip built it: wheels' scripts, compiled extensions and bytecode, unchanged. */
const VENV_TAGS = [
  "package-installs-python-pycache-dir",
  "wrong-path-for-interpreter",
  "python3-script-but-no-python3-dep",
  "unusual-interpreter",
  "script-not-executable",
  "executable-not-elf-or-script",
  "unstripped-binary-or-object",
  "missing-dependency-on-libc",
  "hardening-no-bindnow",
  "hardening-no-fortify-functions",
  "extra-license-file",
  "package-contains-empty-directory",
  "portable-executable-missing-security-features",
  "package-contains-documentation-outside-usr-share-doc",
  "package-contains-ancient-file",
];

/** The app's code layer as built, and the links a deploy makes in it. */
const RELEASE_TAGS = [
  "absolute-symlink-in-top-level-folder",
  "package-contains-vcs-control-file",
  "repeated-path-segment",
  "package-contains-documentation-outside-usr-share-doc",
  "package-contains-empty-directory",
  "script-not-executable",
  "executable-not-elf-or-script",
  "package-installs-python-pycache-dir",
];

export function lintianTags(kind: PackageKind, root: string, opts: { systemd?: boolean } = {}): string[] {
  const place = rootTags(root);
  if (kind === "venv") return [...place, ...VENV_TAGS];
  if (kind === "release") return [...place, ...RELEASE_TAGS];
  return [
    ...place.filter((t) => t === "possibly-insecure-handling-of-tmp-files-in-maintainer-script"),
    ...(opts.systemd ? ["maintainer-script-calls-systemctl"] : []),
  ];
}

export function lintianOverrides(kind: PackageKind, root: string, opts: { systemd?: boolean } = {}): string {
  const tags = lintianTags(kind, root, opts);
  return `# slipway package: tags kept on purpose (docs/packages.md says why)\n${tags.map((t) => `${t}\n`).join("")}`;
}
