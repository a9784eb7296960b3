/**
 * Package names and versions of `slipway package` (docs/packages.md). Pure: every input was
 * validated by the manifest schema (app name, build id, venv key) before it gets here.
 */
import type { Manifest } from "../artifact/manifest.js";

export type PackageFormat = "deb" | "rpm";

/**
 * A package name from an app name or build id: Debian allows [a-z0-9+.-] only (no capitals, no
 * `_`), rpm allows more, but one spelling for both keeps the docs and repositories simple.
 */
export function packageName(...parts: string[]): string {
  return parts.join("-").toLowerCase().replace(/_/g, "-");
}

/** The meta package: the app's own name. */
export const metaPackage = (app: string): string => packageName(app);
/** One per venv key: apt or yum installs it once, however many releases use it. */
export const venvPackage = (app: string, key: string): string => packageName(app, "venv", key);
/** One per build: installed side by side, like kernel packages. */
export const releasePackage = (app: string, buildId: string): string => packageName(app, "release", buildId);

/**
 * The version a build id gives, under the format's rules, so that newer build ids (numbers, or
 * the default UTC timestamps) sort newer. `-` and `_` become `.` (a Debian version may hold a
 * `-` only before a revision, an rpm version never); a Debian version must start with a digit,
 * so a build id that does not gets a `0~` before it (sorting below any numeric build).
 */
export function packageVersion(buildId: string, format: PackageFormat): string {
  const v = buildId.replace(/[-_]/g, ".");
  if (format === "rpm") return v;
  return /^[0-9]/.test(v) ? v : `0~${v}`;
}

/**
 * What the venv package depends on: the interpreter it was built with. A system interpreter
 * (under /usr/bin) is Debian's python3.X package, or, for rpm, its path (a file dependency
 * that whichever package ships it satisfies). An interpreter elsewhere (pyenv, /opt) belongs
 * to no package: undefined, and the caller warns.
 */
export function interpreterDependency(m: Manifest, format: PackageFormat): string | undefined {
  const exe = m.env.python.executable;
  if (!exe.startsWith("/usr/bin/")) return undefined;
  if (format === "rpm") return exe;
  const minor = /^(\d+)\.(\d+)/.exec(m.env.python.version);
  return minor ? `python${minor[1]}.${minor[2]}` : undefined;
}
