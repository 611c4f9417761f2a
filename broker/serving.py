"""How ``gbo-broker serve`` runs uvicorn: the options one worker and several share.

Several workers accept on one listening socket that uvicorn binds itself (``socket.socket()``,
protocol number 0). asyncio sets ``TCP_NODELAY`` only on accepted sockets whose protocol number
says TCP, so the connections of several workers would go without it: Nagle's algorithm then
holds every response after the first on a kept-alive connection until the client's delayed ACK
(about 40 ms on Linux, RFC 1122 §4.2.3.2). The HTTP protocol here sets ``TCP_NODELAY`` on each
connection it is handed, whichever way its listening socket was made.
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

_TCP_FAMILIES = (socket.AF_INET, socket.AF_INET6)


def set_nodelay(transport: asyncio.BaseTransport) -> None:
    """Send each write at once on a TCP ``transport`` (no Nagle delay); other transports as is."""
    sock = transport.get_extra_info("socket")
    if sock is not None and sock.family in _TCP_FAMILIES and sock.type == socket.SOCK_STREAM:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class NoDelayH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with ``TCP_NODELAY`` on every accepted connection."""

    def connection_made(  # type: ignore[override]
        self, transport: asyncio.Transport
    ) -> None:
        set_nodelay(transport)
        super().connection_made(transport)


def server_options(log_level: str) -> dict[str, Any]:
    """``uvicorn.Config`` options for one worker and several alike (``app``, host, port and
    workers aside)."""
    from broker.observability import logging_config

    return {
        "http": NoDelayH11Protocol,
        "access_log": False,  # gbo.access replaces uvicorn's raw request lines (DESIGN §9)
        "log_config": logging_config(log_level),  # applied again in every worker process
    }
