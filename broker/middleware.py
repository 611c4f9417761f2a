"""ASGI middleware: request ids, the 1 MiB body limit, access logs and request metrics; the
browser security headers."""

from __future__ import annotations

import asyncio
import logging
import re
import time
import uuid
from collections.abc import Callable
from typing import Any

from starlette.datastructures import MutableHeaders
from starlette.requests import ClientDisconnect
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from broker.errors import Overloaded
from broker.observability import Metrics, request_id_var
from broker.problems import problem

access_log = logging.getLogger("gbo.access")
# Liveness, readiness and metrics answer however busy the worker is (they need no request slot).
ALWAYS_ADMITTED = frozenset({"/healthz", "/readyz", "/metrics"})
# The status recorded (log line, metrics) for a request whose client went away before its body
# was read: nothing was done and nobody is left to answer (nginx's "client closed request").
CLIENT_CLOSED = 499
# Set in a request's ``scope["state"]`` when it was refused as overloaded: the seconds its
# connection is not read again (its ``Retry-After``; broker.serving holds the connection).
HOLD_CONNECTION = "gbo.hold_connection_seconds"
# DESIGN §9: a caller's X-Request-ID is only echoed back (as X-Correlation-ID), and only when it
# is this short, plain and holds no run of 9+ digits; the broker's own id is always a UUID.
_CORRELATION_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")
_DIGIT_RUN = re.compile(r"[0-9]{9,}")


def correlation_id(given: str) -> str | None:
    """The caller's ``X-Request-ID`` if it may be echoed back, else None (ignored)."""
    if _CORRELATION_ID.fullmatch(given) and not _DIGIT_RUN.search(given):
        return given
    return None

# DESIGN §2: the portals load nothing but their own scripts, styles and images — no inline script
# or style, no eval — post forms only to themselves (and, for the logout that also ends the
# OpenID Connect provider's session, to that provider) and are never framed. ``img-src`` also
# allows data: URLs (images inlined by a stylesheet or script), which cannot run code. Going to
# the provider to log in is a navigation (a link or a 303), which ``form-action`` does not cover.
def content_security_policy(form_action_origin: str | None = None) -> str:
    form_action = "'self'" + (f" {form_action_origin}" if form_action_origin else "")
    return (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        f"connect-src 'self'; font-src 'self'; form-action {form_action}; "
        "frame-ancestors 'none'; base-uri 'none'"
    )


# RFC 9110 §9 and PATCH (RFC 5789): the ``method`` label of the request metrics; every other
# method is counted as ``other``, so no caller can mint new series.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE",
                     "PATCH"})

# Every response, the v1 API's JSON included: never sniffed into something executable.
COMMON_HEADERS = {"X-Content-Type-Options": "nosniff"}


def html_headers(form_action_origin: str | None = None) -> dict[str, str]:
    return {
        **COMMON_HEADERS,
        "Content-Security-Policy": content_security_policy(form_action_origin),
        # The login callback's URL carries an authorization code: it never leaks as a Referer.
        "Referrer-Policy": "no-referrer",
        "X-Frame-Options": "DENY",  # frame-ancestors for browsers without CSP level 2
    }



class SecurityHeadersMiddleware:
    """Sets the HTML headers (``html_headers``) on every response to a path where
    ``is_html(path)`` (the portals: pages, static files, redirects and error pages alike) and
    ``COMMON_HEADERS`` on every other one, replacing any the app set itself.

    ``Cache-Control: no-store`` on every response that does not set its own and is not a
    static file (``is_static(path)``): the API and the portals answer with personal data
    (dossier, consents, access logs, audit entries) and with errors about it, none of which a
    browser or proxy may keep (RFC 9111 §5.2.2.5). What may be cached says so itself: hash tiles
    (immutable), the checkpoint (``no-cache``), the receipt keys (JWKS)."""

    def __init__(self, app: ASGIApp, *, is_html: Callable[[str], bool],
                 is_static: Callable[[str], bool] = lambda _: False,
                 form_action_origin: str | None = None) -> None:
        self.app = app
        self.is_html = is_html
        self.is_static = is_static
        self.html = html_headers(form_action_origin)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        wanted = self.html if self.is_html(scope["path"]) else COMMON_HEADERS
        static = self.is_static(scope["path"])

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                headers = MutableHeaders(scope=message)
                for name, value in wanted.items():
                    headers[name] = value
                if not static and "cache-control" not in headers:
                    headers["Cache-Control"] = "no-store"
            await send(message)

        await self.app(scope, receive, send_with_headers)


class BrokerMiddleware:
    """Outermost layer. Assigns a broker-made ``X-Request-ID`` (a UUID: logs and audit entries
    carry it; a caller's value is echoed only as ``X-Correlation-ID``, DESIGN §9), rejects
    bodies over ``max_body`` bytes with 413 (by ``Content-Length`` up front, or while
    streaming), logs one JSON line per request (request id, partner, method, route template,
    status, duration — never a raw path or query) and counts it in Prometheus metrics."""

    def __init__(self, app: ASGIApp, *, max_body: int, metrics: Metrics,
                 max_in_flight: int | None = None, max_queued: int = 0,
                 max_queue_wait: float = 0.0) -> None:
        self.app = app
        self.max_body = max_body
        self.metrics = metrics
        # Admission: at most max_in_flight requests at once in this worker, max_queued more
        # waiting (at most max_queue_wait seconds) for one of them to finish; beyond that 503
        # overloaded, instead of queueing without bound for a thread and a database connection
        # until the client gives up. One event loop, so plain counters. The operations
        # endpoints are never refused: a saturated worker is alive and may be ready.
        self.max_in_flight = max_in_flight
        self.max_queued = max_queued
        self.max_queue_wait = max_queue_wait
        self.admitted = 0  # in flight or queued
        self._slots: asyncio.Semaphore | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        echoed = correlation_id(headers.get(b"x-request-id", b"").decode("latin-1"))
        request_id = str(uuid.uuid4())
        token = request_id_var.set(request_id)
        scope.setdefault("state", {})["request_id"] = request_id
        scope["state"]["correlation_id"] = echoed
        started = time.perf_counter()
        status = 500
        response_started = False
        rejected = False  # a 413 was sent for an over-long streamed body

        async def send_wrapper(message: Message) -> None:
            nonlocal status, response_started
            if rejected:
                return  # the app's answer to the cut-off body is dropped: the 413 is final
            if message["type"] == "http.response.start":
                status = message["status"]
                response_started = True
                message["headers"] = [
                    *message.get("headers", []),
                    (b"x-request-id", request_id.encode()),
                    *([(b"x-correlation-id", echoed.encode())] if echoed else []),
                ]
            await send(message)

        received = 0

        async def receive_wrapper() -> Message:
            nonlocal received, rejected
            if rejected:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body and not response_started:
                    # Answer now, then tell the app the client went away.
                    await self._send_413(send_wrapper)
                    rejected = True
                    return {"type": "http.disconnect"}
            return message

        try:
            declared = headers.get(b"content-length")
            if declared is not None and b"transfer-encoding" in headers:
                # RFC 9112 §6.1: both framings at once is how requests are smuggled past a
                # proxy that reads the other one; refused, and the connection is closed.
                await self._send(send_wrapper, problem(
                    400, "ambiguous_framing", "The request has both Transfer-Encoding and "
                    "Content-Length", headers={"connection": "close"}))
            elif declared is not None and declared.isdigit() and int(declared) > self.max_body:
                await self._send_413(send_wrapper)
            elif scope["path"] in ALWAYS_ADMITTED or self.max_in_flight is None:
                await self.app(scope, receive_wrapper, send_wrapper)
            elif self.admitted >= self.max_in_flight + self.max_queued:
                await self._send_overloaded(scope, send_wrapper)
            else:
                await self._admit(scope, receive_wrapper, send_wrapper)
        except ClientDisconnect:
            # The client gave up (say, after waiting in the admission queue) before the body
            # was read: no route ran, nothing was done or audited. Not an error of the broker,
            # and no answer can reach the client: none is sent.
            if response_started:
                raise
            status = CLIENT_CLOSED
        finally:
            self._record(scope, status, time.perf_counter() - started, request_id)
            request_id_var.reset(token)

    async def _admit(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert self.max_in_flight is not None
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.max_in_flight)
        self.admitted += 1
        try:
            try:
                await asyncio.wait_for(self._slots.acquire(), self.max_queue_wait or None)
            except TimeoutError:
                await self._send_overloaded(scope, send)
                return
            try:
                await self.app(scope, receive, send)
            finally:
                self._slots.release()
        finally:
            self.admitted -= 1

    async def _send_overloaded(self, scope: Scope, send: Send) -> None:
        # The server holds this connection for Retry-After seconds (broker.serving): a client
        # that asks again at once without waiting cannot keep the event loop busy refusing it.
        scope["state"][HOLD_CONNECTION] = Overloaded.retry_after
        await self._send(send, problem(Overloaded.status, Overloaded.code, Overloaded.title,
                                       headers={"Retry-After": str(Overloaded.retry_after)}))

    async def _send_413(self, send: Send) -> None:
        await self._send(send, problem(413, "payload_too_large", "The request body is too large",
                                       f"Request bodies are limited to {self.max_body} bytes.",
                                       headers={"connection": "close"}))

    @staticmethod
    async def _send(send: Send, response: Response) -> None:
        await send({"type": "http.response.start", "status": response.status_code,
                    "headers": response.raw_headers})
        await send({"type": "http.response.body", "body": response.body})

    def _record(self, scope: Scope, status: int, seconds: float, request_id: str) -> None:
        route = scope.get("route")
        template = getattr(route, "path", None) or "<unmatched>"
        state: dict[str, Any] = scope.get("state") or {}
        method = scope.get("method", "")
        if method not in METHODS:  # any token is a method to HTTP; a label must be from a set
            method = "other"
        self.metrics.requests.labels(method, template, str(status)).inc()
        self.metrics.duration.labels(method, template).observe(seconds)
        access_log.info(
            "request",
            extra={  # ECS names (broker.log_guard); url.path is the route template (DESIGN §9)
                "request_id": request_id,
                "http.request.method": method,
                "url.path": template,
                "http.response.status_code": status,
                "event.duration": round(seconds * 1e9),  # ECS: nanoseconds
                "gbo.partner": state.get("partner"),
            },
        )
