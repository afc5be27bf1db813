"""The local AWS API emulator: MiniStack, served on loopback only and kept to this stack.

MiniStack serves DynamoDB one request at a time, so conditional writes and transactions are
atomic as they are on AWS without a lock of ours. This wrapper:
- binds `--host` only (MiniStack binds every interface by default), and turns off what the
  stack does not use and would open or start: the IoT MQTT listener, the SFTP listener,
  Docker, persistence between runs, and the LocalStack init and ready scripts MiniStack runs
  when it finds them on the machine;
- puts every resource in the account and region the stack uses (`123456789012`, `us-east-1`);
- answers the `/_local/` reads of `recording.py` (emails, SMS and call counts), so that they
  read the same as with moto.

Usage: ministack_server.py [--host 127.0.0.1] [--port 0]
Prints one JSON line `{"port": N}` on stdout once it accepts connections, and exits
when its standard input closes, so it never outlives the process that started it.
"""

import argparse
import asyncio
import json
import os
import socket
import sys
import threading

# MiniStack reads its settings when it is imported (`main` adds the port).
SETTINGS = {
    "MINISTACK_ACCOUNT_ID": "123456789012",
    "MINISTACK_REGION": "us-east-1",
    "IOT_MTLS_ENABLED": "0",
    "SFTP_ENABLED": "0",
    "PERSIST_STATE": "0",
    "LOCALSTACK_PERSISTENCE": "0",
    "S3_PERSIST": "0",
    "CLOUDTRAIL_RECORDING": "0",
    # No Docker daemon is ever asked for (Lambda and the database services would start
    # containers); the local stack runs the functions itself.
    "DOCKER_HOST": "unix:///nonexistent/ministack-has-no-docker.sock",
    "LOG_LEVEL": os.environ.get("LOCAL_EMULATOR_LOG_LEVEL", "WARNING"),
}


def record(app, recorder):
    """ASGI middleware: answers the `/_local/` reads and keeps what the requests sent."""

    async def asgi(scope, receive, send):
        if scope["type"] != "http":
            return await app(scope, receive, send)
        method = scope["method"]
        path = scope["path"]
        value = recorder.answer(method, path)
        if value is not None:
            body = json.dumps(value).encode()
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return None
        headers = {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in scope["headers"]}
        target = headers.get("x-amz-target")
        content_type = headers.get("content-type", "")
        body = None
        if recorder.wants_body(method, path, target, content_type):
            body, receive = await read_body(receive)
        keep = recorder.observe(method, path, target, content_type, body)
        if keep is None:
            return await app(scope, receive, send)

        status = []
        chunks = []

        async def capture(message):
            if message["type"] == "http.response.start":
                status.append(message["status"])
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
                if not message.get("more_body") and status == [200]:
                    # Kept before the answer leaves: whoever reads the mailbox next sees it.
                    keep(b"".join(chunks))
            await send(message)

        return await app(scope, receive, capture)

    return asgi


async def read_body(receive):
    """The whole request body, and a `receive` that hands it to the application again."""
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            # The client went away: let the application see it.
            async def gone():
                return message

            return b"".join(chunks), gone
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            break
    body = b"".join(chunks)
    replayed = False

    async def replay():
        nonlocal replayed
        if not replayed:
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return body, replay


def announce_port_when_started(app, port):
    """ASGI middleware: prints `{"port": N}` once MiniStack's startup completed."""

    async def asgi(scope, receive, send):
        if scope["type"] != "lifespan":
            return await app(scope, receive, send)

        async def started(message):
            await send(message)
            if message["type"] == "lifespan.startup.complete":
                print(json.dumps({"port": port}), flush=True)

        return await app(scope, receive, started)

    return asgi


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

    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((args.host, args.port))
    listener.listen(1024)
    port = listener.getsockname()[1]
    # MiniStack builds the URLs it hands out from its port setting.
    os.environ.update(SETTINGS, GATEWAY_PORT=str(port))

    from hypercorn.asyncio import serve
    from hypercorn.config import Config
    from ministack import app as ministack

    from recording import Recorder

    # Scripts found under /docker-entrypoint-initaws.d or /etc/localstack/init belong to some
    # other LocalStack setup on this machine, not to this stack.
    ministack._collect_scripts = lambda *dirs: []

    config = Config()
    config.bind = [f"fd://{listener.fileno()}"]
    config.keep_alive_timeout = 75
    config.accesslog = None
    config.errorlog = "-"
    config.loglevel = "WARNING"

    threading.Thread(target=exit_when_stdin_closes, daemon=True).start()
    app = announce_port_when_started(record(ministack.app, Recorder()), port)
    asyncio.run(serve(app, config))


if __name__ == "__main__":
    main()
