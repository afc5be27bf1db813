"""The local AWS API emulator: moto in server mode, with DynamoDB made atomic.

moto's DynamoDB backend has no locking, so concurrent conditional writes can both
succeed and a transaction that fails half-way can undo other clients' writes. Real
DynamoDB applies every request atomically; serializing DynamoDB requests (the
`X-Amz-Target` header starts with `DynamoDB_`) inside this process gives the same
guarantee. The other services keep their concurrency.

Usage: server.py [--host 127.0.0.1] [--port 0]
Prints one JSON line `{"port": N}` on stdout once it accepts connections, and exits
when its standard input closes, so it never outlives the process that started it.
"""

import argparse
import json
import os
import sys
import threading

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import make_server


class SerializeDynamoDB:
    """WSGI middleware: one DynamoDB request at a time, response body included."""

    def __init__(self, app):
        self.app = app
        self.lock = threading.Lock()

    def __call__(self, environ, start_response):
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        if not target.startswith("DynamoDB_"):
            return self.app(environ, start_response)
        with self.lock:
            body = self.app(environ, start_response)
            try:
                return [b"".join(body)]
            finally:
                close = getattr(body, "close", None)
                if close is not None:
                    close()


class QuietRequestHandler(MotoRequestHandler):
    """The local stack logs requests itself; keep werkzeug's access log out of it."""

    def log_request(self, *args, **kwargs):
        pass


def exit_when_stdin_closes():
    try:
        while sys.stdin.buffer.read(65536):
            pass
    finally:
        os._exit(0)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()

    app = SerializeDynamoDB(DomainDispatcherApplication(create_backend_app))
    server = make_server(
        args.host, args.port, app, threaded=True, request_handler=QuietRequestHandler
    )
    threading.Thread(target=exit_when_stdin_closes, daemon=True).start()
    print(json.dumps({"port": server.server_port}), flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
