import { mkdir, open, readFile, realpath, stat } from "node:fs/promises";
import path from "node:path";
import { EnvironmentError } from "../errors.js";
import { run } from "../util/exec.js";
import { writeFileAtomic } from "../util/fs.js";
import { sha256 } from "../util/hash.js";
import { cacheDir } from "./layer-cache.js";

/** What identifies an interpreter for binary compatibility; stored in the manifest. */
export interface PythonInfo {
  /** The real path (symlinks resolved) of the executable. */
  executable: string;
  implementation: string;
  version: string;
  /** SOABI, e.g. cpython-311-x86_64-linux-gnu: what compiled extensions are built for. */
  abi: string;
  /** Platform tag, e.g. linux-x86_64, with the C library, e.g. glibc-2.36. */
  platform: string;
}

/** Asked of the interpreter itself; prints one JSON object. Kept to the stdlib of 3.8+. */
export const PROBE_SCRIPT = [
  "import json, os, platform, sys, sysconfig",
  "libc = '-'.join(x for x in platform.libc_ver() if x)",
  "print(json.dumps({",
  " 'executable': os.path.realpath(sys.executable),",
  " 'implementation': sys.implementation.name,",
  " 'version': platform.python_version(),",
  " 'abi': sysconfig.get_config_var('SOABI') or (sys.implementation.cache_tag + sys.abiflags),",
  " 'platform': sysconfig.get_platform() + ('/' + libc if libc else ''),",
  "}))",
].join("\n");

/**
 * The probe's answer, kept per interpreter binary in the cache dir
 * (<cache>/interpreters/<sha256 of its real path>.json) and reused while the binary's inode,
 * size, mtime and ctime hold: a warm build then spawns no Python for it (~0.1 s). Only for an ELF
 * executable: a wrapper script (a pyenv shim) answers for whatever it picks at run time.
 */
export async function probeInterpreter(python: string, env: NodeJS.ProcessEnv): Promise<PythonInfo> {
  const binary = await elfBinary(python, env);
  const fingerprint = binary ? await statFingerprint(binary) : undefined;
  const file = binary ? path.join(cacheDir(env), "interpreters", `${sha256(binary).slice(0, 32)}.json`) : undefined;
  if (file && fingerprint) {
    const kept = await readFile(file, "utf8")
      .then((t) => JSON.parse(t) as { fingerprint: string; info: PythonInfo })
      .catch(() => undefined);
    if (kept?.fingerprint === fingerprint) return kept.info;
  }
  const info = await runProbe(python, env);
  if (file && fingerprint && info.executable === binary) {
    await mkdir(path.dirname(file), { recursive: true })
      .then(() => writeFileAtomic(file, `${JSON.stringify({ fingerprint, info })}\n`))
      .catch(() => {}); // best effort: the next build probes again
  }
  return info;
}

/** The interpreter's real path when it is an ELF executable (found on PATH like exec does), else undefined. */
async function elfBinary(python: string, env: NodeJS.ProcessEnv): Promise<string | undefined> {
  const candidates = python.includes("/")
    ? [python]
    : (env["PATH"] ?? "")
        .split(":")
        .filter(Boolean)
        .map((d) => path.join(d, python));
  for (const c of candidates) {
    try {
      const real = await realpath(c);
      const fh = await open(real, "r");
      try {
        const head = Buffer.alloc(4);
        await fh.read(head, 0, 4, 0);
        return head.equals(ELF_MAGIC) ? real : undefined;
      } finally {
        await fh.close();
      }
    } catch {
      // not there: the next PATH entry
    }
  }
  return undefined;
}

const ELF_MAGIC = Buffer.from([0x7f, 0x45, 0x4c, 0x46]);

async function statFingerprint(file: string): Promise<string | undefined> {
  const st = await stat(file, { bigint: true }).catch(() => undefined);
  return st && `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`;
}

async function runProbe(python: string, env: NodeJS.ProcessEnv): Promise<PythonInfo> {
  let stdout: string;
  try {
    ({ stdout } = await run([python, "-I", "-c", PROBE_SCRIPT], { env, step: "interpreter probe" }));
  } catch (err) {
    throw new EnvironmentError(
      `cannot run the configured interpreter ${python}: ${(err as Error).message.split("\n")[0]}`,
      "set app.python to an installed interpreter, e.g. /usr/bin/python3.11",
      { cause: err },
    );
  }
  return JSON.parse(stdout) as PythonInfo;
}
