import type { TargetConfig } from "../config/schema.js";
import { parseDuration } from "../config/patterns.js";
import { sh } from "../deploy/layout.js";

/**
 * Whether an answer names the build it was meant to come from: an old process still holding
 * the port (a restart that restarted nothing, a HUP, an orphaned worker) answers 2xx too.
 * Returns (named, seen): `seen` is the build the answer names instead, when it says one. An
 * X-Build-Id header, or a JSON body's top-level build_id, decides alone (exact match);
 * otherwise the build id must be in the body as a whole word (not inside a longer run of
 * letters, digits and . _ + -), as in a release path <root>/releases/<id>. Pure Python, kept
 * apart so a test can run it on its own (test/unit/health-expect.test.ts).
 */
export const BUILD_NAMED_PY = `
WORD = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._+-")

def json_build(body):
    if not body.lstrip().startswith("{"):
        return None
    import json
    try:
        value = json.loads(body)
    except Exception:
        return None
    b = value.get("build_id") if isinstance(value, dict) else None
    return str(b) if isinstance(b, (str, int)) and not isinstance(b, bool) else None

def build_named(header, body, build):
    if header is not None:
        return header.strip() == build, header.strip()
    seen = json_build(body)
    if seen is not None:
        return seen == build, seen
    i = body.find(build)
    while i >= 0:
        j = i + len(build)
        if (i == 0 or body[i - 1] not in WORD) and (j == len(body) or body[j] not in WORD):
            return True, None
        i = body.find(build, i + 1)
    return False, None
`;

/**
 * Poll on the host itself until healthy or the deadline: the URL (2xx from the expected build:
 * BUILD_NAMED_PY; any 2xx when no build is expected) or the command (exit 0).
 * Agentless: the poller is the release's own Python (<current>/virtualenv/bin/python), which
 * every release has. One round trip, however long it polls. Prints one JSON line. A plain
 * http:// URL is asked on a socket directly (with -S, the poller starts in ≈15 ms instead of
 * ≈60 ms with urllib); https, credentials in the URL and redirects go through urllib.
 */
const POLL = `
py=$1; shift
export PATH="\${py%/python}:$PATH"  # a health command finds the release's tools, like hooks do
export SLIPWAY_BUILD_ID="$5" SLIPWAY_RELEASE_DIR="$6"  # a health command can check it is the new release answering
if [ -d "$6" ]; then cd "$6"; fi  # and runs in that release, as hooks and migrations do (python manage.py worker_ping)
exec "$py" -I -S -c '
import sys, time
kind, target, timeout_ms, interval_ms = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
build, expect = sys.argv[5], sys.argv[7] == "1" and sys.argv[1] == "url"
per_try = min(5, max(1, timeout_ms / 1000))
BODY_MAX = 16384  # read for the build check; 300 bytes are reported
${BUILD_NAMED_PY}
def plain_get(url):
    # http:// without credentials: one GET on a socket (urllib takes ~45 ms to import). None:
    # leave it to urllib (https, credentials, a redirect to follow).
    if not url.startswith("http://"):
        return None
    rest = url[7:].split("#", 1)[0]
    cut = min([i for i in (rest.find("/"), rest.find("?")) if i >= 0] or [len(rest)])
    netloc, path = rest[:cut], rest[cut:]
    if not netloc or "@" in netloc:
        return None
    host, port = netloc, "80"
    if netloc.startswith("["):
        host, _, port = netloc[1:].partition("]")
        port = port[1:] or "80"
    elif ":" in netloc:
        host, port = netloc.rsplit(":", 1)
    import _socket
    request = ("GET %s HTTP/1.0\\r\\nHost: %s\\r\\nUser-Agent: slipway-health\\r\\nConnection: close\\r\\n\\r\\n" % (path if path.startswith("/") else "/" + path, netloc)).encode("latin-1")
    failure = None
    for family, kind_, proto, _, address in _socket.getaddrinfo(host, int(port), 0, _socket.SOCK_STREAM):
        s = _socket.socket(family, kind_, proto)
        s.settimeout(per_try)
        try:
            s.connect(address)
            s.sendall(request)
            data = read_reply(s)
        except OSError as e:
            failure = e
            continue
        finally:
            s.close()
        head, _, body = data.partition(b"\\r\\n\\r\\n")
        status = int(head.split(b" ", 2)[1])
        return None if 300 <= status < 400 else (status, header_of(head, b"x-build-id"), body[:BODY_MAX].decode("utf-8", "replace"))
    raise failure or OSError("no address for " + host)

def read_reply(s):
    # Until the server closes, or the headers and BODY_MAX bytes of body (or all of a shorter
    # Content-Length) are in: a server that keeps the connection open has answered by then.
    data = b""
    while True:
        head, sep, body = data.partition(b"\\r\\n\\r\\n")
        if sep and (len(body) >= min(BODY_MAX, content_length(head))):
            return data
        try:
            chunk = s.recv(65536)
        except OSError:
            if sep:
                return data  # a timeout after the headers: what came is the answer
            raise
        if not chunk:
            if not data:
                raise OSError("an empty reply")
            return data
        data += chunk

def content_length(head):
    value = header_of(head, b"content-length")
    return int(value) if value is not None and value.isdigit() else 1 << 30

def header_of(head, wanted):
    for line in head.split(b"\\r\\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == wanted:
            return value.strip().decode("latin-1")
    return None

def url_get(url):
    import urllib.request, urllib.error
    try:
        with urllib.request.urlopen(url, timeout=per_try) as r:
            return r.status, r.headers.get("X-Build-Id"), r.read(BODY_MAX).decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("X-Build-Id"), e.read(BODY_MAX).decode("utf-8", "replace")

def run(command):
    import subprocess
    p = subprocess.run(command, shell=True, capture_output=True, timeout=max(1, timeout_ms / 1000))
    return p.returncode, (p.stdout + p.stderr)[-300:].decode("utf-8", "replace")

def quote(text):
    # JSON, ASCII only (a host whose locale is not UTF-8 can still print it)
    out = []
    for c in text:
        o = ord(c)
        if 32 <= o < 127 and c not in "\\"\\\\":
            out.append(c)
        elif o < 0x10000:
            out.append("\\\\u%04x" % o)
        else:
            o -= 0x10000
            out.append("\\\\u%04x\\\\u%04x" % (0xD800 + (o >> 10), 0xDC00 + (o & 0x3FF)))
    return "\\"" + "".join(out) + "\\""

start = time.monotonic()
attempts, last = 0, ""
while True:
    attempts += 1
    try:
        named = ""
        if kind == "url":
            status, header, body = plain_get(target) or url_get(target)
            ok = 200 <= status < 300
            if ok and expect:
                ok, seen = build_named(header, body, build)
                named = ", \\"named\\": %s" % ("true" if ok else "false") + ("" if seen is None else ", \\"seen\\": " + quote(seen[:80]))
        else:
            status, body = run(target)
            ok = status == 0
        last = ", \\"status\\": %d, \\"body\\": %s%s" % (status, quote(body[:300]), named)
    except Exception as e:
        ok, last = False, ", \\"error\\": %s" % quote(type(e).__name__ + ": " + str(e))
    elapsed = int((time.monotonic() - start) * 1000)
    if ok or elapsed >= timeout_ms:
        print("{\\"ok\\": %s, \\"ms\\": %d, \\"attempts\\": %d%s}" % ("true" if ok else "false", elapsed, attempts, last))
        sys.exit(0 if ok else 1)
    time.sleep(interval_ms / 1000)
' "$@"`;

export interface HealthOutcome {
  ok: boolean;
  ms: number;
  attempts: number;
  status?: number;
  body?: string;
  error?: string;
  /** url with expect_build: whether the last 2xx named the expected build. */
  named?: boolean;
  /** The build the last answer named (X-Build-Id or a JSON build_id), when it named one. */
  seen?: string;
}

/** Between attempts: a URL is cheap to ask (right after a restart the first attempt usually fails); a command may not be. */
export const POLL_INTERVAL_MS = { url: 100, command: 250 } as const;

/** The release the check must find answering: its build id and directory (<root>/releases/<id>). */
export interface ExpectedRelease {
  build: string;
  dir: string;
}

/** The argv that polls this target's health on a host; undefined when no check is configured. */
export function healthCommand(health: TargetConfig["health"], currentDir: string, release: ExpectedRelease): string[] | undefined {
  const timeout = String(parseDuration(health.timeout));
  const python = `${currentDir}/virtualenv/bin/python`;
  const expect = [release.build, release.dir, health.expect_build ? "1" : "0"];
  if (health.url) return sh(POLL, python, "url", health.url, timeout, String(POLL_INTERVAL_MS.url), ...expect);
  if (health.command) return sh(POLL, python, "command", health.command, timeout, String(POLL_INTERVAL_MS.command), ...expect);
  return undefined;
}

export function describeCheck(health: TargetConfig["health"]): string {
  return health.url ? `GET ${health.url}` : `\`${health.command}\``;
}

export function parseHealth(stdout: string): HealthOutcome | undefined {
  const line = stdout.trim().split("\n").at(-1);
  try {
    return line ? (JSON.parse(line) as HealthOutcome) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * What the check saw, for the error message: status and a body excerpt, or the connection
 * error; for a 2xx from another build (`expected` is the build the check wanted), which build
 * answered, and what to do.
 */
export function describeOutcome(o: HealthOutcome, expected?: string): string {
  const excerpt = o.body ? `: ${o.body.trim().replace(/\s+/g, " ").slice(0, 200)}` : "";
  const status = typeof o.status === "number" && o.status >= 100 ? `HTTP ${o.status}` : `exit ${o.status}`;
  let saw = o.error ?? `${status}${excerpt}`;
  if (!o.error && o.named === false && expected !== undefined) {
    saw =
      o.seen !== undefined
        ? `${status} from build ${o.seen}, expected build ${expected}: another build is still answering (the restart did not replace the old process, or another process holds the port)`
        : `${status}, but the answer does not name build ${expected} (no X-Build-Id header, no JSON build_id, no ${JSON.stringify(expected)} in the body)${excerpt}; make the health endpoint report its build id or release path, or set health.expect_build = false`;
  }
  return `${saw} (after ${o.attempts} attempt${o.attempts === 1 ? "" : "s"} in ${o.ms} ms)`;
}
