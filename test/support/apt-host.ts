// A Debian host for package tests on this machine: dpkg with its own database (--admindir; it
// knows this machine's packages, so the venv package's python3.X dependency is met), and an
// apt that reads only a local repository and writes only under `dir`. Both run in a private
// mount namespace whose /usr/share/doc and lintian overrides dir are `dir`'s own, so a package
// installs at its app root (a unique /srv path) and nowhere else outside `dir`.
import { spawnSync } from "node:child_process";
import { copyFile, mkdir, readdir, writeFile } from "node:fs/promises";
import path from "node:path";

export interface Ran {
  code: number;
  out: string;
}

export interface AptHost {
  /** The local apt repository apt reads (`deb [trusted=yes] file:REPO slipway main`). */
  repo: string;
  /** apt's download cache: the .debs it fetched. */
  archives: string;
  dpkg(...args: string[]): Ran;
  apt(...args: string[]): Ran;
}

/** Run argv in a mount namespace whose /usr/share/doc and lintian overrides dir are under `dir`. */
function inNamespace(dir: string, argv: readonly string[], env: NodeJS.ProcessEnv = process.env): Ran {
  const script = 'mount --bind "$1" /usr/share/doc && mount --bind "$2" /usr/share/lintian/overrides && shift 2 && exec "$@"';
  const r = spawnSync(
    "unshare",
    ["--mount", "--propagation", "private", "sh", "-c", script, "sh", path.join(dir, "doc"), path.join(dir, "overrides"), ...argv],
    {
      encoding: "utf8",
      timeout: 180_000,
      env,
    },
  );
  return { code: r.status ?? -1, out: `${r.stdout}${r.stderr}` };
}

/** `url`: where apt reads the repository (default file:REPO; an http:// URL serving REPO makes apt download into `archives`). */
export async function aptHost(dir: string, opts: { url?: string } = {}): Promise<AptHost> {
  const admin = path.join(dir, "dpkg");
  for (const d of ["info", "updates", "triggers"]) await mkdir(path.join(admin, d), { recursive: true });
  await copyFile("/var/lib/dpkg/status", path.join(admin, "status"));
  await writeFile(path.join(admin, "available"), "");
  for (const f of await readdir("/var/lib/dpkg/info")) if (f.endsWith(".list")) await copyFile(path.join("/var/lib/dpkg/info", f), path.join(admin, "info", f));
  await mkdir(path.join(dir, "doc"));
  await mkdir(path.join(dir, "overrides"));
  const st = path.join(dir, "apt-state");
  for (const d of ["state/lists/partial", "cache/archives/partial", "empty", "log"]) await mkdir(path.join(st, d), { recursive: true });
  const repo = path.join(dir, "apt-repo");
  await writeFile(path.join(st, "sources.list"), `deb [trusted=yes] ${opts.url ?? `file:${repo}`} slipway main\n`);
  const aptConfig = path.join(st, "apt.conf");
  const log = path.join(dir, "dpkg.log");
  await writeFile(
    aptConfig,
    [
      `Dir::Etc::Parts "${st}/empty";`,
      `Dir::Etc::Main "${st}/empty/none";`,
      `Dir::Etc::SourceList "${st}/sources.list";`,
      `Dir::Etc::SourceParts "${st}/empty";`,
      `Dir::Etc::PreferencesParts "${st}/empty";`,
      `Dir::Etc::Preferences "${st}/empty/none";`,
      `Dir::State "${st}/state";`,
      `Dir::State::status "${admin}/status";`,
      `Dir::Cache "${st}/cache";`,
      `Dir::Log "${st}/log";`,
      `DPkg::Options { "--admindir=${admin}"; "--log=${log}"; };`,
      'APT::Sandbox::User "root";',
      'Acquire::Languages "none";',
      'Dpkg::Use-Pty "0";',
      "",
    ].join("\n"),
  );
  return {
    repo,
    archives: path.join(st, "cache", "archives"),
    dpkg: (...args) => inNamespace(dir, ["dpkg", `--admindir=${admin}`, `--log=${log}`, ...args]),
    apt: (...args) =>
      inNamespace(dir, ["apt-get", "-y", "-q", "--no-install-recommends", ...args], {
        ...process.env,
        APT_CONFIG: aptConfig,
        DEBIAN_FRONTEND: "noninteractive",
      }),
  };
}
