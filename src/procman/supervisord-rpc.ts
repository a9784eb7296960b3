/**
 * `supervisorctl -c conf restart <names…>`, spoken directly to supervisord's XML-RPC interface
 * by the app's own Python (`-I -S`: no site, no user paths), as supervisorctl does it: the
 * [supervisorctl] section's serverurl, username and password (with supervisor's `%(here)s` and
 * `%(ENV_X)s` expansions), stop every name (`name`, `group:*` or `all`), then start every name,
 * waiting as supervisorctl waits; the same output lines and exit status.
 *
 * Why: supervisorctl 4.2 imports pkg_resources on start, ≈120 ms of CPU before it sends a
 * byte; this script starts in ≈20 ms. Whenever it is not sure it would do exactly what
 * supervisorctl does (a config it cannot read or expand, a server it cannot reach, an HTTP or
 * XML-RPC answer it does not know) before it has sent a stop or start, it hands over to
 * supervisorctl itself with the same arguments, before printing anything, so errors read as
 * users know them. After that (supervisorctl would stop and start everything again) it prints
 * what it did, an `error:` line, and exits 1.
 */
export const SUPERVISORCTL_RESTART_PY = String.raw`
import _socket, binascii, configparser, os, sys
from xml.etree import ElementTree

conf, names = sys.argv[1], sys.argv[2:]
BAD_NAME, NO_FILE, NOT_EXECUTABLE, FAILED = 10, 20, 21, 30
ABNORMAL, SPAWN_ERROR, ALREADY_STARTED, NOT_RUNNING, SUCCESS = 40, 50, 60, 70, 80
DEAD = (SPAWN_ERROR, ABNORMAL, NOT_RUNNING)
SENT = [False]


class Unsure(Exception):
    pass


class Fault(Exception):
    def __init__(self, code, text):
        self.code, self.text = code, text


def settings():
    p = configparser.RawConfigParser(inline_comment_prefixes=(";", "#"), strict=False)
    try:
        with open(conf) as f:
            p.read_file(f)
    except (OSError, configparser.Error, UnicodeError):
        raise Unsure()
    if not p.has_section("supervisorctl"):
        raise Unsure()
    env = dict(("ENV_" + k, v) for k, v in os.environ.items())
    here = os.path.dirname(os.path.normpath(os.path.abspath(os.path.expanduser(conf))))

    def get(key, default, extra):
        value = p.get("supervisorctl", key, fallback=default)
        if value is None:
            return None
        try:
            return value % dict(env, **extra)
        except Exception:
            raise Unsure()

    return get("serverurl", "http://localhost:9001", {"here": here}), get("username", None, {}), get("password", None, {})


def connect(url):
    try:
        if url.startswith("unix://"):
            s = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
            s.connect(os.path.normpath(os.path.abspath(os.path.expanduser(url[7:]))))
            return s
        rest = url[7:].rstrip("/") if url.startswith("http://") else ""
        host, colon, port = rest.rpartition(":")
        if not colon or not port.isdigit():
            host, port = rest, "80"
        host = host.strip("[]")
        if not host or "/" in host or "@" in host:
            raise Unsure()
        for family, kind, proto, _, address in _socket.getaddrinfo(host, int(port), 0, _socket.SOCK_STREAM):
            s = _socket.socket(family, kind, proto)
            try:
                s.connect(address)
                return s
            except OSError:
                s.close()
    except OSError:
        pass
    raise Unsure()


def encode(value):
    if isinstance(value, bool):
        return "<boolean>%d</boolean>" % value
    text = value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return "<string>%s</string>" % text


def decode(value):
    if len(value) == 0:
        return value.text or ""
    v = value[0]
    if v.tag in ("int", "i4"):
        return int(v.text)
    if v.tag == "boolean":
        return v.text.strip() == "1"
    if v.tag == "string":
        return v.text or ""
    if v.tag == "array":
        return [decode(x) for x in v.find("data")]
    if v.tag == "struct":
        return dict((m.findtext("name"), decode(m.find("value"))) for m in v)
    raise Unsure()


def call(server, method, *params):
    url, user, password = server
    body = ("<?xml version='1.0'?><methodCall><methodName>%s</methodName><params>%s</params></methodCall>"
            % (method, "".join("<param><value>%s</value></param>" % encode(p) for p in params))).encode()
    head = "POST /RPC2 HTTP/1.0\r\nHost: localhost\r\nContent-Type: text/xml\r\nContent-Length: %d\r\n" % len(body)
    if user is not None and password is not None:
        token = binascii.b2a_base64(("%s:%s" % (user, password)).encode(), newline=False).decode()
        head += "Authorization: Basic %s\r\n" % token
    s = connect(url)
    before = SENT[0]
    try:
        s.sendall(head.encode() + b"\r\n" + body)
        SENT[0] = True  # every call here stops or starts something (unless refused below)
        chunks = []
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    except OSError:
        raise Unsure()
    finally:
        s.close()
    reply = b"".join(chunks)
    top, _, payload = reply.partition(b"\r\n\r\n")
    status = top.split(b"\r\n", 1)[0].split()
    if len(status) < 2 or status[1] != b"200":
        SENT[0] = before  # refused (401, say): nothing was done
        raise Unsure()
    try:
        doc = ElementTree.fromstring(payload)
    except ElementTree.ParseError:
        raise Unsure()
    fault = doc.find("fault/value")
    if fault is not None:
        f = decode(fault)
        raise Fault(f.get("faultCode"), f.get("faultString", ""))
    value = doc.find("params/param/value")
    if value is None:
        raise Unsure()
    return decode(value)


def split(name):
    group, colon, process = name.partition(":")
    if not colon:
        return name, name
    return group, (None if process in ("", "*") else process)


def spec(group, process):
    return process if group == process else "%s:%s" % (group, process)


STOPPED = {BAD_NAME: "ERROR (no such process)", NOT_RUNNING: "ERROR (not running)", SUCCESS: "stopped"}
STARTED = {BAD_NAME: "ERROR (no such process)", NO_FILE: "ERROR (no such file)",
           NOT_EXECUTABLE: "ERROR (file is not executable)", ALREADY_STARTED: "ERROR (already started)",
           SPAWN_ERROR: "ERROR (spawn error)", ABNORMAL: "ERROR (abnormal termination)", SUCCESS: "started"}


class Partial(Exception):
    # Unsure after stops or starts already went out: running supervisorctl now would restart
    # everything again, so say what happened instead.
    def __init__(self, lines, why):
        self.lines, self.why = lines, why


def restart(server):
    out, status = [], [0]

    def result(r, words, ignored):
        code = r.get("status")
        if code == FAILED and words is STOPPED:
            out.append(r.get("description", ""))
        elif code in words:
            out.append("%s: %s" % (spec(r.get("group"), r.get("name")), words[code]))
        else:
            raise Unsure()
        if code not in (ignored, SUCCESS):
            status[0] = 7 if code in DEAD else 1

    try:
        for verb, words, ignored, invalid in (("stop", STOPPED, NOT_RUNNING, 1), ("start", STARTED, ALREADY_STARTED, 2)):
            if "all" in names:
                try:
                    for r in call(server, "supervisor.%sAllProcesses" % verb):
                        result(r, words, ignored)
                except Fault:
                    raise Unsure()
                continue
            for name in names:
                group, process = split(name)
                try:
                    if process is None:
                        for r in call(server, "supervisor.%sProcessGroup" % verb, group):
                            result(r, words, ignored)
                    else:
                        call(server, "supervisor.%sProcess" % verb, name)
                        result({"status": SUCCESS, "group": group, "name": process}, words, ignored)
                except Fault as f:
                    if process is not None:
                        result({"status": f.code, "group": group, "name": process, "description": f.text}, words, ignored)
                    elif f.code == BAD_NAME:
                        out.append("%s: ERROR (no such group)" % group)
                        status[0] = invalid
                    else:
                        raise Unsure()
    except Unsure:
        if SENT[0]:
            raise Partial(out, "an answer from supervisord it could not read, after the calls above")
        raise
    return out, status[0]


try:
    lines, status = restart(settings())
except Partial as p:
    sys.stdout.write("".join(line + "\n" for line in p.lines))
    sys.stdout.write("error: %s\n" % p.why)
    sys.exit(1)
except Unsure:
    sys.stdout.flush()
    try:
        os.execvp("supervisorctl", ["supervisorctl", "-c", conf, "restart"] + names)
    except OSError as e:
        sys.stderr.write("supervisorctl: %s\n" % e.strerror)
        sys.exit(127)
sys.stdout.write("".join(line + "\n" for line in lines))
sys.exit(status)
`;

/**
 * Run by sh on the host: the script above with the release's Python when there is a config file
 * to read and that Python is there; otherwise supervisorctl (which searches its default config
 * paths when none is named). Arguments: python, conf, names….
 */
export const SUPERVISORD_RESTART_SH = `
code=$1 py=$2 conf=$3; shift 3
if [ -n "$conf" ] && [ -x "$py" ]; then exec "$py" -I -S -c "$code" "$conf" "$@"; fi
if [ -n "$conf" ]; then exec supervisorctl -c "$conf" restart "$@"; fi
exec supervisorctl restart "$@"`;
