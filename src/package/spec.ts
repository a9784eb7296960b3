/**
 * The rpm spec of one package (pure). The files are staged beforehand (tree.ts); %install copies
 * them into the buildroot as they are. Nothing of rpm's own post-processing touches them:
 * AutoReqProv off (a venv's ELF files and scripts would otherwise gain requirements the
 * interpreter package already meets), no build-id links, no debuginfo, no brp scripts (they would
 * strip, byte-compile again or mangle the shebangs of the venv), mtimes clamped to
 * SOURCE_DATE_EPOCH and the build host fixed, so the same staging gives the same rpm.
 */
import { shQuote } from "../transport/quote.js";
import { wrap } from "./control.js";

export interface RpmSpec {
  name: string;
  version: string;
  arch: string;
  summary: string;
  description: string;
  requires: string[];
  /** The staged tree copied into the buildroot. */
  stage: string;
  /** Absolute paths owned by the package (a directory: it and everything under it). */
  files: string[];
  scripts: Partial<Record<"post" | "preun" | "postun", string>>;
  packager: string;
  /** The changelog entry (its date: the epoch). */
  change: string;
  epoch: number;
}

export const RPM_RELEASE = "1";

/** rpm macros that keep rpmbuild away from the files and make the output reproducible. */
export const RPM_DEFINES: Record<string, string> = {
  _build_id_links: "none",
  debug_package: "%{nil}",
  __os_install_post: "%{nil}",
  _buildhost: "reproducible",
  clamp_mtime_to_source_date_epoch: "1",
  use_source_date_epoch_as_buildtime: "1",
  _binary_payload: "w6.xzdio",
  source_date_epoch_from_changelog: "0",
};

function oneLine(what: string, v: string): string {
  if (/[\r\n]/.test(v) || v.trim() === "") throw new Error(`${what} must be one non-empty line, got ${JSON.stringify(v)}`);
  return v;
}

/** A path in %files: rpm globs and expands macros there, so `%` is doubled and glob characters escaped. */
function filePath(p: string): string {
  return `"${p.replace(/%/g, "%%").replace(/([*?[\]{}\\"])/g, "\\$1")}"`;
}

/** "Tue Dec 01 2026", rpm's changelog date. */
function changelogDate(epoch: number): string {
  const d = new Date(epoch * 1000);
  const day = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"][d.getUTCDay()];
  const month = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"][d.getUTCMonth()];
  return `${day} ${month} ${String(d.getUTCDate()).padStart(2, "0")} ${d.getUTCFullYear()}`;
}

export function renderSpec(s: RpmSpec): string {
  const header = [
    `Name: ${oneLine("Name", s.name)}`,
    `Version: ${oneLine("Version", s.version)}`,
    `Release: ${RPM_RELEASE}`,
    `Summary: ${oneLine("Summary", s.summary)}`,
    "License: LicenseRef-app",
    "Group: Applications/Internet",
    `Packager: ${oneLine("Packager", s.packager)}`,
    `BuildArch: ${oneLine("BuildArch", s.arch)}`,
    "AutoReqProv: no",
    ...s.requires.map((r) => `Requires: ${oneLine("Requires", r)}`),
  ];
  const scripts = Object.entries(s.scripts).flatMap(([name, text]) =>
    text === undefined ? [] : [`%${name} -p /bin/sh`, text.replace(/%/g, "%%").replace(/^#!.*\n/, ""), ""],
  );
  return `${Object.entries(RPM_DEFINES)
    .map(([k, v]) => `%define ${k} ${v}`)
    .join("\n")}
${header.join("\n")}

%description
${wrap(s.description, 79).join("\n").replace(/%/g, "%%")}

%prep

%build

%install
mkdir -p %{buildroot}
cp -a ${shQuote(s.stage).replace(/%/g, "%%")}/. %{buildroot}/

${scripts.join("\n")}
%files
%defattr(-,root,root,-)
${s.files.map(filePath).join("\n")}

%changelog
* ${changelogDate(s.epoch)} ${s.packager.replace(/%/g, "%%")} - ${s.version}-${RPM_RELEASE}
- ${s.change.replace(/%/g, "%%")}
`;
}
