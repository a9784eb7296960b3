import { EnvironmentError } from "../errors.js";
import { run } from "../util/exec.js";

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

export async function probeInterpreter(python: string, env: NodeJS.ProcessEnv): Promise<PythonInfo> {
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
