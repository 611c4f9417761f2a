"""Request framing against the real server (``gbo-broker serve``: uvicorn with h11), over a raw
socket: what the HTTP parser lets through is what reaches the broker.

h11 accepts a request with both ``Transfer-Encoding: chunked`` and ``Content-Length`` (it frames
the body by Transfer-Encoding, as RFC 9112 §6.3 allows) and hands both headers to the
application; it already refuses conflicting Content-Lengths and any Transfer-Encoding other than
``chunked`` (uvicorn then answers a plain-text 400 before the broker runs). The broker refuses
both at once itself (RFC 9112 §6.1: a server MAY reject it and MUST close the connection): a
proxy in front that frames by Content-Length would otherwise see a different request boundary
than the broker (request smuggling).
"""

from __future__ import annotations

import json
import socket

import pytest

from tests.e2e.conftest import DemoBroker

pytestmark = pytest.mark.slow


def exchange(base: str, raw: bytes) -> bytes:
    """Send ``raw`` on a fresh connection; everything the server answers until it closes."""
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        conn.sendall(raw)
        received = b""
        while chunk := conn.recv(65536):  # the server closes: the test ends, never hangs
            received += chunk
    return received


def test_both_transfer_encoding_and_content_length_is_refused_and_closed(
    demo_broker: DemoBroker,
) -> None:
    """Before: accepted (the body framed by Transfer-Encoding, the route answered normally). A
    smuggled second request after the chunked body is never answered."""
    smuggled = b"GET /v1/me/dossier HTTP/1.1\r\nHost: x\r\n\r\n"
    body = b"0\r\n\r\n" + smuggled
    raw = (b"POST /v1/entries HTTP/1.1\r\nHost: 127.0.0.1\r\n"
           b"Content-Type: application/json\r\nContent-Length: " + str(len(body)).encode()
           + b"\r\nTransfer-Encoding: chunked\r\n\r\n" + body)
    answer = exchange(demo_broker.base, raw)
    assert answer.startswith(b"HTTP/1.1 400 ")
    assert answer.count(b"HTTP/1.1 ") == 1  # the smuggled request got no answer
    head, _, payload = answer.partition(b"\r\n\r\n")
    assert b"connection: close" in head.lower()
    assert b"content-type: application/problem+json" in head.lower()
    assert json.loads(payload)["code"] == "ambiguous_framing"


def test_the_parser_itself_refuses_other_framing_conflicts(demo_broker: DemoBroker) -> None:
    """What h11 refuses before the broker sees it: two different Content-Lengths, and a
    Transfer-Encoding other than chunked (uvicorn answers both with a plain 400)."""
    two_lengths = (b"POST /v1/entries HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n"
                   b"Content-Length: 3\r\n\r\n{}")
    assert exchange(demo_broker.base, two_lengths).startswith(b"HTTP/1.1 400 ")
    gzip = (b"POST /v1/entries HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
            b"0\r\n\r\n")
    assert exchange(demo_broker.base, gzip).startswith(b"HTTP/1.1 400 ")


def test_a_chunked_body_alone_is_read(demo_broker: DemoBroker) -> None:
    """Chunked bodies as such are fine (HTTP/1.1 clients stream them): this one reaches the
    strict JSON reader, which refuses its duplicate key."""
    payload = b'{"insz": "85073003328", "insz": "85073003328"}'
    chunked = hex(len(payload))[2:].encode() + b"\r\n" + payload + b"\r\n0\r\n\r\n"
    raw = (b"POST /v1/relations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
           b"Authorization: Bearer x\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n"
           + chunked)
    answer = exchange(demo_broker.base, raw)
    assert answer.startswith(b"HTTP/1.1 422 ")
    assert json.loads(answer.partition(b"\r\n\r\n")[2])["code"] == "json_duplicate_key"
