/**
 * What `slipway package` makes of one artifact, whatever the format (pure): the three packages'
 * names, versions, dependencies, texts and maintainer scripts (docs/packages.md). package.ts
 * stages their trees and hands each plan to deb.ts or rpm.ts.
 */
import type { Manifest } from "../artifact/manifest.js";
import type { Config } from "../config/schema.js";
import type { PackageKind } from "./lintian.js";
import { interpreterDependency, metaPackage, packageVersion, releasePackage, venvPackage, type PackageFormat } from "./names.js";
import { releaseScripts, switchScript, venvScripts } from "./scripts.js";
import { RPM_RELEASE } from "./spec.js";
import { renderUnit, unitName, unitPath } from "./systemd.js";

/**
 * The venv package's mtimes: a constant, not the build's date, so that every build with this
 * venv key gives the very same venv package (same name, version and bytes in a repository).
 */
export const VENV_EPOCH = 1577836800;
/** The venv package's version: its name carries the key, so one version per name. */
export const VENV_VERSION = "1";

/** One package, in words both formats take. */
export interface PackagePlan {
  kind: PackageKind;
  name: string;
  version: string;
  /** Architecture-dependent (the venv's machine) or not (the meta package). */
  archAll: boolean;
  depends: string[];
  summary: string;
  description: string;
  /** Seconds since the epoch: every mtime and the changelog's date. */
  epoch: number;
  /** The changelog entry. */
  change: string;
  /** The hooks by Debian's names; rpm runs postinst as %post, prerm as %preun, postrm as %postun. */
  scripts: Partial<Record<"postinst" | "prerm" | "postrm", string>>;
  /** A unit file this package ships, at its path for the format (no leading slash). */
  unit?: { path: string; text: string };
  /** Its scripts call systemctl. */
  systemd: boolean;
}

export interface PackagesPlan {
  venv: PackagePlan;
  release: PackagePlan;
  meta: PackagePlan;
  /** Set when the venv's interpreter belongs to no package: the venv package then depends on none. */
  warning?: string;
}

/** `name` at exactly `version`, in the format's dependency syntax. */
function exactly(name: string, version: string, format: PackageFormat): string {
  return format === "deb" ? `${name} (= ${version})` : `${name} = ${version}-${RPM_RELEASE}`;
}

export function planPackages(m: Manifest, config: Config, format: PackageFormat): PackagesPlan {
  const pkg = config.package!;
  const epoch = Math.floor(Date.parse(m.created_at) / 1000);
  const names = { venv: venvPackage(m.app, m.env.key), release: releasePackage(m.app, m.build_id), meta: metaPackage(m.app) };
  const version = packageVersion(m.build_id, format);
  const interpreter = interpreterDependency(m, format);

  const venv: PackagePlan = {
    kind: "venv",
    name: names.venv,
    version: VENV_VERSION,
    archAll: false,
    depends: interpreter ? [interpreter] : [],
    summary: `Virtualenv ${m.env.key} of ${m.app}`,
    description: `The Python virtualenv of ${m.app} for venv key ${m.env.key}, at its production path ${m.root}/virtualenvs/${m.env.key}; shared by every release built with the same requirements and interpreter (slipway).`,
    epoch: VENV_EPOCH,
    change: `The virtualenv ${m.env.key} of ${m.app}.`,
    scripts: venvScripts({ root: m.root, key: m.env.key }, format),
    systemd: false,
  };

  // `current` is the meta package's to switch, never a packaged file.
  const release: PackagePlan = {
    kind: "release",
    name: names.release,
    version,
    archAll: false,
    depends: [exactly(names.venv, VENV_VERSION, format)],
    summary: `Release ${m.build_id} of ${m.app}`,
    description: `Build ${m.build_id} of ${m.app} at ${m.root}/releases/${m.build_id}. Releases of different builds install side by side; the ${names.meta} package switches ${m.root}/current between them (slipway).`,
    epoch,
    change: `Build ${m.build_id} of ${m.app}${m.git ? ` (git ${m.git.commit}${m.git.dirty ? ", dirty" : ""})` : ""}.`,
    scripts: releaseScripts({ root: m.root, buildId: m.build_id, shared: config.deploy.shared }, format),
    systemd: false,
  };

  const unitFile = pkg.systemd ? unitName(m.app, pkg.systemd) : undefined;
  const restart = pkg.restart!;
  const restartWithUnit = restart.manager === "systemd" && restart.programs.length === 0 && unitFile ? { ...restart, programs: [unitFile] } : restart;
  const meta: PackagePlan = {
    kind: "meta",
    name: names.meta,
    version,
    archAll: true,
    depends: [exactly(names.release, version, format)],
    summary: `Current release of ${m.app} (switches ${m.root}/current)`,
    description: `Installing or upgrading this package makes build ${m.build_id} of ${m.app} current: it switches ${m.root}/current, restarts the app and checks its health, and switches back if that fails (slipway).`,
    epoch,
    change: `Switch ${m.root}/current to build ${m.build_id}.`,
    scripts: {
      postinst: switchScript(
        {
          app: m.app,
          root: m.root,
          buildId: m.build_id,
          restart: restartWithUnit,
          health: pkg.health,
          linkedFiles: config.deploy.linked_files,
          systemdUnit: unitFile,
        },
        format,
      ),
    },
    unit: pkg.systemd && unitFile ? { path: unitPath(format, unitFile), text: renderUnit(m.app, m.root, pkg.systemd) } : undefined,
    systemd: restartWithUnit.manager === "systemd" || unitFile !== undefined,
  };

  const where = format === "deb" ? "which no Debian package provides" : "outside /usr/bin";
  const warning = interpreter ? undefined : `the venv was built with ${m.env.python.executable}, ${where}: its package depends on no interpreter`;
  return { venv, release, meta, warning };
}
