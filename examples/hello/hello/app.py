"""The WSGI application: `hello.app:application`."""

import json
import mimetypes
import time
from pathlib import Path
from urllib.parse import parse_qs

import fastcount  # a C extension installed into the venv: proves compiled code was shipped

# The release directory is the one that contains the `hello/` package. On a
# host that is <root>/releases/<build_id>; resolve() follows the `current`
# symlink so a running process keeps reporting the release it was loaded from.
RELEASE_DIR = Path(__file__).resolve().parent.parent
STATIC_DIR = RELEASE_DIR / "static"
MAX_SLOW_SECONDS = 10


def _read_build_id():
    # slipway writes slipway.json (the artifact manifest) into every release.
    try:
        with open(RELEASE_DIR / "slipway.json", encoding="utf-8") as f:
            return str(json.load(f)["build_id"])
    except (OSError, ValueError, KeyError, TypeError):
        return "dev"  # running from a source checkout


BUILD_ID = _read_build_id()

INDEX_HTML = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>hello</title>
  <link rel="stylesheet" href="/static/css/site.css">
</head>
<body>
  <main>
    <h1>hello from slipway</h1>
    <p>build <code id="build-id">{build_id}</code></p>
    <p id="health">checking health&hellip;</p>
  </main>
  <script src="/static/js/app.js"></script>
</body>
</html>
"""


def _respond(start_response, status, body, content_type, extra=()):
    headers = [
        ("Content-Type", content_type),
        ("Content-Length", str(len(body))),
        ("X-Build-Id", BUILD_ID),
        *extra,
    ]
    start_response(status, headers)
    return [body]


def _json(start_response, status, obj):
    body = (json.dumps(obj) + "\n").encode()
    return _respond(start_response, status, body, "application/json")


def _text(start_response, status, text):
    return _respond(start_response, status, (text + "\n").encode(), "text/plain; charset=utf-8")


def _static(start_response, rel):
    # Resolve and require the result to stay under static/: rejects "..",
    # absolute paths and symlinks pointing outside.
    try:
        path = (STATIC_DIR / rel).resolve()
    except (OSError, ValueError):
        return _text(start_response, "404 Not Found", "not found")
    if not path.is_relative_to(STATIC_DIR.resolve()) or not path.is_file():
        return _text(start_response, "404 Not Found", "not found")
    ctype = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    if ctype.startswith("text/") or ctype.endswith("javascript"):
        ctype += "; charset=utf-8"
    return _respond(start_response, "200 OK", path.read_bytes(), ctype,
                    [("Cache-Control", "public, max-age=300")])


def _slow(start_response, query):
    # Holds a request open so deploy tests can check that draining waits for it.
    try:
        seconds = float(parse_qs(query).get("seconds", ["1"])[0])
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds <= MAX_SLOW_SECONDS:
        return _text(start_response, "400 Bad Request",
                     f"seconds must be a number from 0 to {MAX_SLOW_SECONDS}")
    time.sleep(seconds)
    return _text(start_response, "200 OK", f"slept {seconds:g}s")


def application(environ, start_response):
    method = environ.get("REQUEST_METHOD", "GET")
    path = environ.get("PATH_INFO", "/") or "/"
    if method not in ("GET", "HEAD"):
        return _text(start_response, "405 Method Not Allowed", "method not allowed")
    if path == "/health":
        return _json(start_response, "200 OK", {
            "status": "ok",
            "build_id": BUILD_ID,
            "fastcount": fastcount.count(b"hello world", b"o"),
        })
    if path == "/":
        body = INDEX_HTML.format(build_id=BUILD_ID).encode()
        return _respond(start_response, "200 OK", body, "text/html; charset=utf-8")
    if path.startswith("/static/"):
        return _static(start_response, path[len("/static/"):])
    if path == "/slow":
        return _slow(start_response, environ.get("QUERY_STRING", ""))
    return _text(start_response, "404 Not Found", "not found")
