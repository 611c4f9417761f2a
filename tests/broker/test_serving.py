"""The options ``gbo-broker serve`` gives uvicorn, on a real server that accepts on a listening
socket bound the way several workers share one (``uvicorn.Config.bind_socket``): no Nagle delay,
and a connection refused as overloaded held for its ``Retry-After``."""

from __future__ import annotations

import asyncio
import gc
import http.client
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import uvicorn
from sqlalchemy.engine import Engine

from broker.app import create_app_from_env
from broker.errors import Overloaded
from broker.middleware import BrokerMiddleware
from broker.observability import Metrics
from broker.serving import server_options
from broker.settings import Settings

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


class _OneSlot:
    """An app behind the broker's admission with one place and no queue: ``/hold`` keeps the
    place until the test lets go, anything else answers 200 at once."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()
        self.app = BrokerMiddleware(self._inner, max_body=1024, metrics=Metrics(),
                                    max_in_flight=1, max_queued=0)

    async def _inner(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        if scope["path"] == "/hold":
            self.entered.set()
            while not self.release.is_set():  # bounded by the test, which always lets go
                await asyncio.sleep(0.01)
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": b"ok"})


def _wait_until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while not condition():  # bounded wait for a state, not a timing assertion
        if time.monotonic() > deadline:
            pytest.fail(f"never: {what}")
        time.sleep(0.005)


def test_a_connection_refused_as_overloaded_is_not_read_again_until_retry_after(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Long enough that the test sees the hold whatever the machine's load; the connection is
    # closed long before it ends.
    monkeypatch.setattr(Overloaded, "retry_after", 300)
    slot = _OneSlot()
    config = uvicorn.Config(slot.app, host="127.0.0.1", port=0, lifespan="off",
                            **{**server_options("INFO"), "log_config": None})
    sock = config.bind_socket()
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    port = sock.getsockname()[1]
    holder = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    refused = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    other = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        _wait_until(lambda: server.started, "the server started")
        holder.request("GET", "/hold")  # takes the one place
        assert slot.entered.wait(READY_TIMEOUT_S)
        refused.request("GET", "/x")
        answer = refused.getresponse()
        assert answer.status == 503
        assert json.loads(answer.read())["code"] == "overloaded"
        assert answer.getheader("retry-after") == "300"
        # That connection is not read any more (its next request would wait for the hold) ...
        protocols = list(server.server_state.connections)
        held = [p for p in protocols if p.scope and p.scope["path"] == "/x"]
        assert len(held) == 1
        transport = held[0].transport
        # Not closed (uvicorn's keep-alive timeout, 5 s, would close it idle): paused.
        _wait_until(lambda: not transport.is_reading() or transport.is_closing(),
                    "the connection was held")
        assert not transport.is_closing()
        # ... while the worker reads and answers every other connection.
        slot.release.set()
        assert holder.getresponse().read() == b"ok"
        other.request("GET", "/y")
        assert other.getresponse().status == 200
        assert all(p.transport.is_reading() for p in server.server_state.connections
                   if p is not held[0])
        assert not transport.is_reading() and not transport.is_closing()
    finally:
        slot.release.set()
        for conn in (holder, refused, other):
            conn.close()
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def test_a_connection_answered_normally_is_read_on() -> None:
    slot = _OneSlot()
    config = uvicorn.Config(slot.app, host="127.0.0.1", port=0, lifespan="off",
                            **{**server_options("INFO"), "log_config": None})
    sock = config.bind_socket()
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    conn = http.client.HTTPConnection("127.0.0.1", sock.getsockname()[1], timeout=30)
    try:
        _wait_until(lambda: server.started, "the server started")
        for _ in range(3):
            conn.request("GET", "/x")
            assert conn.getresponse().read() == b"ok"
        assert [p.transport.is_reading() for p in server.server_state.connections] == [True]
    finally:
        conn.close()
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def test_a_worker_broker_starts_with_its_heap_settled(
    settings: Settings, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each worker's broker (``create_app_from_env``, what several workers run) keeps what it
    made at start out of the collector's work, so a full collection under load does not walk
    the policy engine, routes and models again (a pause of every request of the worker)."""
    for name, value in settings.model_dump(include={"data_dir", "database_url", "demo"}).items():
        monkeypatch.setenv(f"GBO_{name.upper()}", str(value))
    gc.unfreeze()
    try:
        app = create_app_from_env()
        assert gc.get_freeze_count() > 0
        app.state.context.close()
    finally:
        gc.unfreeze()
