import type { PythonInfo } from "../build/interpreter.js";
import { PROBE_SCRIPT } from "../build/interpreter.js";
import { isValidBuildId } from "../config/patterns.js";
import { sh } from "./layout.js";
import { parseInfo, type LockState } from "./lock.js";
import { LIST_FN, parseListing, type HostListing } from "./prune.js";
import { DRAINED_FN, parseDrained } from "./drained.js";
import { INTERPRETER_LINE_FN, interpreterFields } from "./interpreter-mark.js";

/** What a host has, read in one round trip before anything is changed (SPEC §5 step 2). */
export interface HostState {
  python?: PythonInfo;
  /** The interpreter is the file this key's venv was checked against when it was unpacked (interpreter-mark.ts): not started again. */
  pythonUnchanged?: boolean;
  /** The mark line of the interpreter as the probe found it before starting it, when it can have one (interpreter-mark.ts). */
  pythonMark?: string;
  rootExists: boolean;
  rootWritable: boolean;
  freeKb: number;
  /** teeP: `tee -p` writing to /dev/fd/N, which unpacking a venv layer as it arrives needs (host-check.ts hashed_untar); probed only where the venv is absent. */
  tools: { tar: boolean; zstd: boolean; gzip: boolean; sha256sum: boolean; teeP: boolean };
  venvPresent: boolean;
  /** sha256 of releases/<build_id>/slipway.json if that release exists and is complete (complete.ts). */
  releaseManifestSha?: string;
  /** releases/<build_id> exists but is not complete: the deploy stages it again. */
  releaseIncomplete?: boolean;
  current?: string;
  previous?: string;
  /** Whether a deploy lock is held, and by whom (read, never taken, here). */
  lock: LockState;
  /** Releases and venvs on the host, for planning the prune of this deploy without another round trip. */
  listing: HostListing;
  /** The bytes of the current release's slipway.json (the dictionary for sending the new one: manifest-delta.ts). */
  currentManifest?: Buffer;
  /** HAProxy servers a killed earlier run drained for this host and never put back (drained.ts). */
  drained?: string[];
  /** deploy.linked_files this host lacks under <root>/shared (the probe was given them). */
  linkedMissing?: string[];
  /** Pull mode: what GET <registry>/v2/ answered on the host (an HTTP status, "000", or "no-curl"). */
  registryStatus?: string;
}

/**
 * One read-only round trip: the interpreter, disk, tools, what is already there, the lock and
 * the release listing. Nothing is written, so a deploy refused now leaves the host untouched.
 */
/** The lock, read (never taken): "lock=held" and the first line of its info when held. */
const LOCK_STATE_FN = `
lock_state() { if [ -d "$1/.slipway/lock" ]; then echo "lock=held"; echo "lock_info=$(head -n 1 "$1/.slipway/lock/info" 2>/dev/null)"; fi; }`;

const PROBE = `${LIST_FN}${LOCK_STATE_FN}${DRAINED_FN}${INTERPRETER_LINE_FN}

root=$1 py=$2 build=$3 key=$4 probe=$5 registry=$6 exe=$7 fields=$8; shift 8
echo "slipway-probe=1"
# Pull mode: can this host reach the registry (GET /v2/: 200, or 401 before credentials) or the
# S3 store (GET /: any answer)?
if [ -n "$registry" ]; then
  if command -v curl >/dev/null 2>&1; then
    echo "registry_status=$(curl -s -o /dev/null -w '%{http_code}' --connect-timeout 5 --max-time 10 "$registry" 2>/dev/null || true)"
  else echo "registry_status=no-curl"; fi
fi
# The venv of this key (its mark written last: complete), and the interpreter: unchanged since
# that venv was unpacked (interpreter-mark.ts), or asked. tee -p through /dev/fd streams a venv
# layer in: asked only where the venv is not there yet.
want=$(interp_line "$py" "$exe" "$fields") vmark="$root/virtualenvs/$key/.slipway-complete" same=
if [ -f "$vmark" ]; then
  echo "venv_present=1"
  m=; { read -r m < "$vmark"; } 2>/dev/null || true
  [ -n "$want" ] && [ "$m" = "$want" ] && same=1
elif { echo x | tee -p /dev/fd/5 >/dev/null; } 5>/dev/null 2>/dev/null; then echo "tool_tee_p=1"; fi
if [ -n "$same" ]; then echo "python_unchanged=1"
else
  if out=$("$py" -I -c "$probe" 2>/dev/null); then echo "python=$out"; fi
  # The line only if the interpreter was that file before and after it answered.
  ! interp_holds "$want" "$py" "$exe" || echo "python_mark=$want"
fi
# deploy.linked_files (the rest of the arguments): each must be a file under <root>/shared.
for f in "$@"; do [ -f "$root/shared/$f" ] || printf 'linked_missing=%s\n' "$f"; done
d=$root; while [ ! -d "$d" ]; do d=$(dirname "$d"); done
[ -w "$d" ] && echo "root_writable=1"
# Where the root is, list_host below says how much is free there.
if [ -d "$root" ]; then echo "root_exists=1"; else echo "free_kb=$(df -Pk "$d" | { read -r _; read -r _ _ _ a _; echo "$a"; })"; fi
for t in tar zstd gzip sha256sum; do command -v "$t" >/dev/null 2>&1 && echo "tool_$t=1"; done
read_links "$root"
case $(release_states "$root" "$build") in
  complete*|legacy*) echo "release_sha=$(sha256sum "$root/releases/$build/slipway.json" | cut -d' ' -f1)";;
  incomplete*) echo "release_incomplete=1";;
esac
lock_state "$root"
drained_state "$root"
c=$links_cur
if [ -n "$c" ] && [ -f "$root/$c/slipway.json" ] && command -v base64 >/dev/null 2>&1; then
  echo "current_manifest=$(base64 -w 0 < "$root/$c/slipway.json")"
fi
list_host "$root" 0
exit 0`;

/** `registry`: the URL whose answer says the host reaches its source (pull mode: source.ts preflightUrl), else "". */
export function probeHost(
  root: string,
  python: PythonInfo & { configured: string },
  buildId: string,
  key: string,
  linkedFiles: readonly string[] = [],
  registry = "",
): string[] {
  return sh(PROBE, root, python.configured, buildId, key, PROBE_SCRIPT, registry, python.executable, interpreterFields(python), ...linkedFiles);
}

/**
 * Whether the probe found the registry reachable: an OCI registry answers GET /v2/ with 200,
 * or 401 until credentials are given. Anything else names why not. Pure.
 */
export function registryProblem(status: string | undefined): string | undefined {
  if (status === undefined || status === "200" || status === "401") return undefined;
  if (status === "no-curl") return "curl is not installed";
  if (status === "000" || status === "") return "no answer (connection refused, timed out, or the name does not resolve)";
  return `GET /v2/ answered HTTP ${status}, not as an OCI registry`;
}

/**
 * Whether the probe reached the S3 store: any HTTP answer to GET / (S3 refuses an anonymous
 * listing with 403; the presigned URLs are what grant reads) but a server error. Pure.
 */
export function storeProblem(status: string | undefined): string | undefined {
  if (status === undefined || /^[1-4]\d\d$/.test(status)) return undefined;
  if (status === "no-curl") return "curl is not installed";
  if (status === "000" || status === "") return "no answer (connection refused, timed out, or the name does not resolve)";
  return `GET / answered HTTP ${status}`;
}

/** `releases/<id>` (what current/previous point at) → `<id>`; a link to anything else (`releases/..`) names no release. */
export function buildIdOfLink(target: string | undefined): string | undefined {
  if (!target) return undefined;
  const m = /(?:^|\/)releases\/([^/]+)\/?$/.exec(target);
  return m && isValidBuildId(m[1]!) ? m[1] : undefined;
}

function keyValues(stdout: string): Map<string, string> {
  const kv = new Map<string, string>();
  for (const line of stdout.split("\n")) {
    const i = line.indexOf("=");
    if (i > 0) kv.set(line.slice(0, i), line.slice(i + 1));
  }
  return kv;
}

function lockOf(kv: Map<string, string>): LockState {
  return kv.get("lock") === "held" ? { state: "held", holder: parseInfo(kv.get("lock_info") ?? ""), raw: kv.get("lock_info") ?? "" } : { state: "free" };
}

/**
 * Read-only, one round trip, before a rollback takes any lock: whether a lock is held and what
 * the host has (releases, current, previous).
 */
export function peekHost(root: string): string[] {
  return sh(`${LIST_FN}${LOCK_STATE_FN}${DRAINED_FN}\nlock_state "$1"\ndrained_state "$1"\nlist_host "$1" 0`, root);
}

export function parsePeek(stdout: string): { lock: LockState; listing: HostListing; drained: string[] } {
  const kv = keyValues(stdout);
  return { lock: lockOf(kv), listing: parseListing(stdout), drained: parseDrained(kv.get("drained")) };
}

export function parseProbe(stdout: string): HostState {
  const kv = keyValues(stdout);
  if (kv.get("slipway-probe") !== "1") throw new Error(`unexpected probe output: ${stdout.slice(0, 200)}`);
  let python: PythonInfo | undefined;
  try {
    python = kv.has("python") ? (JSON.parse(kv.get("python")!) as PythonInfo) : undefined;
  } catch {
    python = undefined;
  }
  return {
    python,
    pythonUnchanged: kv.has("python_unchanged") && kv.has("venv_present"),
    pythonMark: kv.get("python_mark") || undefined,
    rootExists: kv.has("root_exists"),
    rootWritable: kv.has("root_writable"),
    freeKb: Number(kv.get("free_kb") ?? 0),
    tools: { tar: kv.has("tool_tar"), zstd: kv.has("tool_zstd"), gzip: kv.has("tool_gzip"), sha256sum: kv.has("tool_sha256sum"), teeP: kv.has("tool_tee_p") },
    venvPresent: kv.has("venv_present"),
    releaseManifestSha: kv.get("release_sha"),
    releaseIncomplete: kv.has("release_incomplete"),
    drained: parseDrained(kv.get("drained")),
    linkedMissing: stdout.split("\n").flatMap((l) => (l.startsWith("linked_missing=") ? [l.slice("linked_missing=".length)] : [])),
    current: buildIdOfLink(kv.get("current")),
    previous: buildIdOfLink(kv.get("previous")),
    lock: lockOf(kv),
    listing: parseListing(stdout),
    registryStatus: kv.get("registry_status"),
    currentManifest: kv.get("current_manifest") ? Buffer.from(kv.get("current_manifest")!, "base64") : undefined,
  };
}
