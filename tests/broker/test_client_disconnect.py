"""A client that goes away before its request body arrives is not a server error: no 500, no
ERROR log line with a traceback, nothing done (DESIGN §8: nothing crashes, nothing is lost)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from broker.app import create_app
from broker.context import BrokerContext
from tests.factories import partner_auth


def test_disconnect_before_the_body_is_answered_499_and_logged_as_info(
    ctx: BrokerContext, caplog: pytest.LogCaptureFixture
) -> None:
    app = create_app(context=ctx)
    headers = [(k.lower().encode(), v.encode()) for k, v in partner_auth(ctx.settings).items()]
    scope: dict[str, Any] = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
        "scheme": "http", "path": "/v1/access-requests", "raw_path": b"/v1/access-requests",
        "query_string": b"", "root_path": "", "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
        "headers": [(b"content-type", b"application/json"), (b"content-length", b"80"),
                    *headers],
    }
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    caplog.set_level(logging.INFO)
    asyncio.run(app(scope, receive, send))
    statuses = [m["status"] for m in sent if m["type"] == "http.response.start"]
    assert statuses == [499]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert "client disconnected" in caplog.text
