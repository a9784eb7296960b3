// Where V8's code cache for the CLI bundle lives, and how to tell a usable entry from a stale one.
// Pure naming and pruning; src/launch.ts does the loading. Node 20 has no compile cache for
// modules (`module.enableCompileCache` arrives in 22), so the launcher compiles the one CommonJS
// bundle with `vm.Script` and hands V8 the bytes it saved last time: a warm command then skips
// parsing and compiling the ~1 MB it runs, about 0.05–0.1 s of every invocation.
import { createHash } from "node:crypto";
import path from "node:path";
import { cacheDir } from "./util/cache-dir.js";

/** SLIPWAY_CODE_CACHE=0 turns the cache off; any other value is the directory to use. */
export const CODE_CACHE_ENV = "SLIPWAY_CODE_CACHE";

/** The directory, or undefined when the user turned the cache off. Beside slipway's other caches. */
export function codeCacheDir(env: NodeJS.ProcessEnv): string | undefined {
  const own = env[CODE_CACHE_ENV];
  if (own === "0") return undefined;
  if (own) return own;
  return path.join(cacheDir(env), "code");
}

/**
 * The entry's file name. V8 checks its own version and flags, but of the source only its length,
 * so the name carries a hash of the bundle's bytes: an edited bundle never meets an old entry.
 * The command is in it too, since each command compiles different functions; the runtime and the
 * node flags are, so two nodes sharing the directory do not overwrite each other's entries.
 */
export function codeCacheName(source: string | Buffer, command: string | undefined, runtime = runtimeTag()): string {
  const bundle = createHash("sha256").update(source).digest("hex").slice(0, 16);
  return `${bundle}-${runtime}-${commandTag(command)}.v8`;
}

/** The bundle hash a file name starts with: entries of other bundles are pruned when one is written. */
export function bundleOf(name: string): string | undefined {
  return /^([0-9a-f]{16})-[0-9a-f]{8}-[a-z-]{1,24}\.v8$/.exec(name)?.[1];
}

function runtimeTag(): string {
  return createHash("sha256")
    .update(`${process.version}\0${process.arch}\0${process.execArgv.join("\0")}`)
    .digest("hex")
    .slice(0, 8);
}

/** The first argument when it looks like a command name; anything else shares one entry. */
function commandTag(command: string | undefined): string {
  return command && /^[a-z][a-z-]{0,23}$/.test(command) ? command : "other";
}
