"""A broker context served by a real uvicorn on a free loopback port, in a thread: for tests
that need the HTTP stack as a client sees it (outside verifiers, schemathesis)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx2 as httpx
import pytest
import uvicorn

from broker.app import create_app
from broker.context import BrokerContext


@contextmanager
def served(context: BrokerContext, ready_timeout: float = 30.0) -> Iterator[str]:
    """Serve ``context``'s broker; yields its base URL once ``/healthz`` answers (a bounded
    poll), stops the server on the way out."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    server = uvicorn.Server(uvicorn.Config(create_app(context=context), lifespan="on",
                                           log_config=None, access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + ready_timeout
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if not thread.is_alive() or time.monotonic() > deadline:
                pytest.fail("the broker did not become ready")
            time.sleep(0.02)
        yield base
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
