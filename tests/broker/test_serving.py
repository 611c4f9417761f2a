"""The options ``gbo-broker serve`` gives uvicorn, on a real server that accepts on a listening
socket bound the way several workers share one (``uvicorn.Config.bind_socket``)."""

from __future__ import annotations

import http.client
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import uvicorn

from broker.serving import server_options

READY_TIMEOUT_S = 10


async def _hello(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"hello"})


@contextmanager
def _multiworker_server(**options: Any) -> Iterator[tuple[uvicorn.Server, int]]:
    """A uvicorn server on a socket from ``Config.bind_socket`` (what ``--workers N`` binds in
    the main process and hands to each worker), in a thread; yields it and its port."""
    config = uvicorn.Config(_hello, host="127.0.0.1", port=0, lifespan="off", **options)
    sock = config.bind_socket()
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while not server.started:  # bounded wait for startup, not a timing assertion
            if not thread.is_alive() or time.monotonic() > deadline:
                pytest.fail("the server did not start")
            time.sleep(0.01)
        yield server, sock.getsockname()[1]
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def _nodelay_of_accepted(server: uvicorn.Server) -> list[int]:
    return [conn.transport.get_extra_info("socket").getsockopt(socket.IPPROTO_TCP,
                                                               socket.TCP_NODELAY)
            for conn in server.server_state.connections]


def test_each_accepted_connection_sends_without_nagle_delay() -> None:
    # Without TCP_NODELAY every response after the first on a kept-alive connection waits for
    # the client's delayed ACK (~40 ms each) when several workers share one listening socket.
    # log_config aside: it would reconfigure this test process's logging (the workers' logs
    # are tests/e2e/test_serve_workers.py's).
    with _multiworker_server(**{**server_options("INFO"), "log_config": None}) as (server, port):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            for _ in range(3):  # one kept-alive connection, several requests
                conn.request("GET", "/")
                assert conn.getresponse().read() == b"hello"
            assert len(server.server_state.connections) == 1
            assert _nodelay_of_accepted(server) == [1]
        finally:
            conn.close()
