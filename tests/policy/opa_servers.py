"""Servers for the opa-server adapter's tests: the real one in a subprocess, and a scripted fake.

``start_rest_server`` runs ``opa_rest_server.py`` (real OPA behind OPA's REST API) in a fresh
interpreter, so this process never loads the OPA bindings' Go runtime (it hangs in forked
children). ``FakeOpa`` runs in a thread here and answers like OPA while provisioning, then
misbehaves on ``POST /v1/data/...`` as scripted: it exercises the adapter's fail-closed paths.
"""

from __future__ import annotations

import json
import select
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

SCRIPT = Path(__file__).with_name("opa_rest_server.py")


@dataclass
class RestServer:
    process: subprocess.Popen[str]
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        """Stop the server (idempotent); afterwards its port refuses connections."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=10)
        for pipe in (self.process.stdin, self.process.stdout):
            if pipe is not None:
                pipe.close()


def start_rest_server(*, startup_timeout: float = 20.0) -> RestServer:
    """Start the real-OPA REST server and wait (bounded) until it has printed its port."""
    with tempfile.TemporaryFile("w+") as stderr:
        process = subprocess.Popen(
            [sys.executable, str(SCRIPT), "--port", "0", "--exit-on-eof"],
            stdin=subprocess.PIPE,  # closed by stop(), or by the OS if this process dies
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
        assert process.stdout is not None
        ready, _, _ = select.select([process.stdout], [], [], startup_timeout)
        line = process.stdout.readline() if ready else ""
        if not line.strip().isdigit():
            RestServer(process, 0).stop()
            stderr.seek(0)
            raise RuntimeError(f"the OPA REST server did not start: {stderr.read()[-2000:]}")
    return RestServer(process, int(line))


# --- the scripted fake ----------------------------------------------------------------------

POST_MODES = (
    "not_json",  # 200 with an HTML body
    "not_object",  # 200 with a JSON array
    "server_error",  # 500 with an OPA error body that quotes the input
    "bad_request",  # 400 likewise
    "garbage",  # bytes that are not HTTP at all, then close
    "disconnect",  # close without answering
    "hang",  # answer nothing until released (a timeout)
)


class FakeOpa:
    """OPA enough for provisioning; ``post_mode`` scripts the answer to every evaluation, and
    ``version_override`` (if set) replaces the stored version marker on read."""

    def __init__(self, echo: str = "") -> None:
        self.post_mode = "not_json"
        self.version_override: Any = None
        self.echo = echo  # put into error bodies, as OPA quotes input values in messages
        self.release = threading.Event()
        self.data: dict[str, Any] = {}
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _fake_handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), daemon=True
        )
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def stop(self) -> None:
        self.release.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def _fake_handler(fake: FakeOpa) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass

        def _send(self, status: int, body: bytes = b"", kind: str = "application/json") -> None:
            self.send_response(status)
            if status != 204:
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _read(self) -> bytes:
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        def do_GET(self) -> None:  # noqa: N802
            if self.path == "/v1/policies/":
                self._send(200, b'{"result": []}')
            elif self.path == "/v1/data/gbo_bundle/version":
                version = fake.version_override or fake.data.get("gbo_bundle", {}).get("version")
                self._send(200, json.dumps({} if version is None else {"result": version}).encode())
            else:
                self._send(200, b"{}")

        def do_PUT(self) -> None:  # noqa: N802
            body = self._read()
            if self.path.startswith("/v1/data/"):
                fake.data[self.path.removeprefix("/v1/data/")] = json.loads(body)
                self._send(204)
            else:
                self._send(200, b"{}")

        def do_POST(self) -> None:  # noqa: N802
            self._read()
            mode = fake.post_mode
            error = json.dumps({"code": "internal_error", "message": f"bad {fake.echo!r}"})
            if mode == "not_json":
                self._send(200, f"<html>{fake.echo}</html>".encode(), "text/html")
            elif mode == "not_object":
                self._send(200, json.dumps([fake.echo]).encode())
            elif mode == "server_error":
                self._send(500, error.encode())
            elif mode == "bad_request":
                self._send(400, error.encode())
            elif mode == "garbage":
                self.wfile.write(f"NOT-HTTP {fake.echo}\r\n\r\n".encode())
                self.close_connection = True
            elif mode == "disconnect":
                self.close_connection = True
            elif mode == "hang":
                deadline = time.monotonic() + 5
                while not fake.release.wait(0.05) and time.monotonic() < deadline:
                    pass
                self.close_connection = True

    return Handler
