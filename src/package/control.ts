/**
 * DEBIAN/control of one binary package (deb-control(5)). Pure. Values come from the manifest
 * and config; a newline in one would start a new field, so it is refused.
 */
export interface DebControl {
  package: string;
  version: string;
  architecture: string;
  maintainer: string;
  depends: string[];
  section: string;
  priority: "optional";
  /** Installed-Size in KiB. */
  installedSize: number;
  summary: string;
  /** Words, wrapped into the extended description's lines. */
  description: string;
}

export function renderControl(c: DebControl): string {
  const fields: [string, string][] = [
    ["Package", c.package],
    ["Version", c.version],
    ["Architecture", c.architecture],
    ["Maintainer", c.maintainer],
    ["Installed-Size", String(c.installedSize)],
    ...(c.depends.length ? ([["Depends", c.depends.join(", ")]] as [string, string][]) : []),
    ["Section", c.section],
    ["Priority", c.priority],
  ];
  for (const [name, value] of fields) {
    if (/[\r\n]/.test(value) || value.trim() === "") throw new Error(`control field ${name} must be one non-empty line, got ${JSON.stringify(value)}`);
  }
  if (/[\r\n]/.test(c.summary)) throw new Error("the package summary must be one line");
  // Continuation lines start with a space; an empty one is " ." (deb-control(5)).
  const body = wrap(c.description, 78).map((l) => ` ${l}`);
  return `${fields.map(([n, v]) => `${n}: ${v}`).join("\n")}\nDescription: ${c.summary}\n${body.join("\n")}\n`;
}

/** The machine names of a venv's platform, as Debian and rpm spell them. */
const ARCHITECTURES: Record<string, { deb: string; rpm?: string }> = {
  x86_64: { deb: "amd64", rpm: "x86_64" },
  amd64: { deb: "amd64", rpm: "x86_64" },
  aarch64: { deb: "arm64", rpm: "aarch64" },
  arm64: { deb: "arm64", rpm: "aarch64" },
  armv7l: { deb: "armhf" },
  i686: { deb: "i386", rpm: "i686" },
  ppc64le: { deb: "ppc64el", rpm: "ppc64le" },
  s390x: { deb: "s390x", rpm: "s390x" },
};

function architecture(platform: string, format: "deb" | "rpm"): string {
  const arch = ARCHITECTURES[machine(platform)]?.[format];
  if (!arch) throw new Error(`no ${format === "deb" ? "Debian" : "rpm"} architecture for the platform ${platform}`);
  return arch;
}

/** Debian's name for the machine a venv was built on (the manifest's platform, e.g. linux-x86_64). */
export const debArchitecture = (platform: string): string => architecture(platform, "deb");
/** rpm's name for it. */
export const rpmArchitecture = (platform: string): string => architecture(platform, "rpm");

/** "linux-x86_64/glibc-2.36" (sysconfig's platform, then the libc) → "x86_64". */
function machine(platform: string): string {
  return platform.split("/")[0]!.replace(/^[a-z]+[-_]/, "");
}

/** Words into lines of at most `width` characters (a longer word stays whole on its own line). */
export function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = "";
  for (const word of text.split(/\s+/).filter(Boolean)) {
    if (line && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) lines.push(line);
  return lines;
}
