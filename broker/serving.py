"""How ``gbo-broker serve`` runs uvicorn: the options one worker and several share.

Several workers accept on one listening socket that uvicorn binds itself (``socket.socket()``,
protocol number 0). asyncio sets ``TCP_NODELAY`` only on accepted sockets whose protocol number
says TCP, so the connections of several workers would go without it: Nagle's algorithm then
holds every response after the first on a kept-alive connection until the client's delayed ACK
(about 40 ms on Linux, RFC 1122 §4.2.3.2). The HTTP protocol here sets ``TCP_NODELAY`` on each
connection it is handed, whichever way its listening socket was made.

A connection whose request was refused as overloaded (503 ``overloaded``, docs/operations.md
"Under load") is not read again for its ``Retry-After`` seconds: the refusal itself goes out at
once, but a client that ignores ``Retry-After`` and asks again on the same connection waits
before it is even read. Without that, clients asking again at once (as wrk does, or a retry loop
without back-off) keep the event loop refusing as fast as they can send; the loop then holds
the interpreter lock nearly all the time, and the requests in flight, which let go of it at
every database call, wait for it again each time: measured with 256 such clients on one
worker, 200s fell from ~46 to ~1-7 per second, requests in flight took over 5 s and
``/healthz`` 1.3-2.3 s.

Once a worker's broker is built, its heap is *settled* (``settle_heap``): everything made at
start (the policy engine, routes, models, the database metadata: some 200,000 objects) is moved
out of the garbage collector's generations (``gc.freeze``). A full collection then looks only at
what requests made; measured on the benchmark's broker, a full collection took 74-82 ms before
and under 0.01 ms after, and such a pause stops every request of the worker.
"""

from __future__ import annotations

import asyncio
import gc
import socket
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

from broker.middleware import HOLD_CONNECTION

_TCP_FAMILIES = (socket.AF_INET, socket.AF_INET6)


def set_nodelay(transport: asyncio.BaseTransport) -> None:
    """Send each write at once on a TCP ``transport`` (no Nagle delay); other transports as is."""
    sock = transport.get_extra_info("socket")
    if sock is not None and sock.family in _TCP_FAMILIES and sock.type == socket.SOCK_STREAM:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class NoDelayH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with ``TCP_NODELAY`` on every accepted connection, holding a
    connection refused as overloaded (module doc)."""

    def connection_made(  # type: ignore[override]
        self, transport: asyncio.Transport
    ) -> None:
        set_nodelay(transport)
        super().connection_made(transport)

    def on_response_complete(self) -> None:
        # Read before the parent may start the next (pipelined) request and its scope.
        hold = self.scope.get("state", {}).get(HOLD_CONNECTION) if self.scope else None
        super().on_response_complete()
        if hold and not self.transport.is_closing():
            # The keep-alive timer (uvicorn's, 5 s) outlasts the hold, so an idle held
            # connection is still closed by it; a request sent meanwhile is read afterwards.
            self.transport.pause_reading()
            self.loop.call_later(hold, self._end_hold)

    def _end_hold(self) -> None:
        if not self.transport.is_closing():
            self.transport.resume_reading()


def server_options(log_level: str) -> dict[str, Any]:
    """``uvicorn.Config`` options for one worker and several alike (``app``, host, port and
    workers aside)."""
    from broker.observability import logging_config

    return {
        "http": NoDelayH11Protocol,
        "access_log": False,  # gbo.access replaces uvicorn's raw request lines (DESIGN §9)
        "log_config": logging_config(log_level),  # applied again in every worker process
    }


def settle_heap() -> None:
    """Collect what start-up left behind, then keep every object made so far out of the
    collector's work (``gc.freeze``): call once a worker's broker is built, before it serves."""
    gc.collect()
    gc.freeze()
