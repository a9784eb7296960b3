"""Serve the app with the standard library: `python -m hello.serve [--host H] [--port P]`.

Good enough for the example and for tests; production would run gunicorn
(`gunicorn hello.app:application`). The server is threaded so a slow request
does not block /health, and on SIGTERM it stops accepting connections and
waits for requests in flight before exiting, like a well-behaved app server.
"""

import argparse
import signal
import socketserver
import sys
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from hello.app import application


class ThreadingWSGIServer(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = False   # request threads are joined on close...
    block_on_close = True    # ...so shutting down drains them


class RequestHandler(WSGIRequestHandler):
    def log_message(self, format, *args):
        # One line per request on stderr; flush so supervisors see it at once.
        sys.stderr.write(f"{self.address_string()} [{self.log_date_time_string()}] {format % args}\n")
        sys.stderr.flush()


def _stop(signum, frame):
    raise SystemExit(0)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m hello.serve", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args(argv)

    signal.signal(signal.SIGTERM, _stop)
    server = make_server(args.host, args.port, application,
                         server_class=ThreadingWSGIServer, handler_class=RequestHandler)
    print(f"hello: serving on http://{args.host}:{args.port}", file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()  # waits for in-flight requests


if __name__ == "__main__":
    main()
