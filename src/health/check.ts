import type { TargetConfig } from "../config/schema.js";
import { parseDuration } from "../config/patterns.js";
import { sh } from "../deploy/layout.js";

/**
 * Poll on the host itself until healthy or the deadline: the URL (2xx) or the command (exit 0).
 * Agentless: the poller is the release's own Python (<current>/virtualenv/bin/python), which
 * every release has. One round trip, however long it polls. Prints one JSON line. A plain
 * http:// URL is asked on a socket directly (with -S, the poller starts in ≈15 ms instead of
 * ≈60 ms with urllib); https, credentials in the URL and redirects go through urllib.
 */
const POLL = `
py=$1; shift
export PATH="\${py%/python}:$PATH"  # a health command finds the release's tools, like hooks do
exec "$py" -I -S -c '
import sys, time
kind, target, timeout_ms, interval_ms = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
per_try = min(5, max(1, timeout_ms / 1000))

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
        return None if 300 <= status < 400 else (status, body[:300].decode("utf-8", "replace"))
    raise failure or OSError("no address for " + host)

def read_reply(s):
    # Until the server closes, or the headers and 300 bytes of body (or all of a shorter
    # Content-Length) are in: a server that keeps the connection open has answered by then.
    data = b""
    while True:
        head, sep, body = data.partition(b"\\r\\n\\r\\n")
        if sep and (len(body) >= min(300, content_length(head))):
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
    for line in head.split(b"\\r\\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length" and value.strip().isdigit():
            return int(value.strip())
    return 1 << 30

def url_get(url):
    import urllib.request, urllib.error
    try:
        with urllib.request.urlopen(url, timeout=per_try) as r:
            return r.status, r.read(300).decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read(300).decode("utf-8", "replace")

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
        status, body = (plain_get(target) or url_get(target)) if kind == "url" else run(target)
        ok = (200 <= status < 300) if kind == "url" else status == 0
        last = ", \\"status\\": %d, \\"body\\": %s" % (status, quote(body))
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
}

/** Between attempts: a URL is cheap to ask (right after a restart the first attempt usually fails); a command may not be. */
export const POLL_INTERVAL_MS = { url: 100, command: 250 } as const;

/** The argv that polls this target's health on a host; undefined when no check is configured. */
export function healthCommand(health: TargetConfig["health"], currentDir: string): string[] | undefined {
  const timeout = String(parseDuration(health.timeout));
  const python = `${currentDir}/virtualenv/bin/python`;
  if (health.url) return sh(POLL, python, "url", health.url, timeout, String(POLL_INTERVAL_MS.url));
  if (health.command) return sh(POLL, python, "command", health.command, timeout, String(POLL_INTERVAL_MS.command));
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

/** What the check saw, for the error message: status and a body excerpt, or the connection error. */
export function describeOutcome(o: HealthOutcome): string {
  const saw = o.error ?? `${typeof o.status === "number" && o.status >= 100 ? `HTTP ${o.status}` : `exit ${o.status}`}${o.body ? `: ${o.body.trim().replace(/\s+/g, " ").slice(0, 200)}` : ""}`;
  return `${saw} (after ${o.attempts} attempt${o.attempts === 1 ? "" : "s"} in ${o.ms} ms)`;
}
