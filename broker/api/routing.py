"""The route class of every v1 router: request bodies are read by the strict JSON reader
(``broker.strict_json``, DESIGN §5, §8) before FastAPI sees them, so no route can accept a body
the broker could not store, serialise and read back."""

from __future__ import annotations

import email.message
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute

from broker.errors import InvalidJSONBody
from broker.strict_json import JSONBodyError, read_json


def is_json_media_type(content_type: str | None) -> bool:
    """``application/json`` or ``application/*+json`` (RFC 6839), as FastAPI decides it."""
    if not content_type:
        return False
    message = email.message.Message()
    message["content-type"] = content_type
    subtype = message.get_content_subtype()
    return message.get_content_maintype() == "application" and (
        subtype == "json" or subtype.endswith("+json"))


class StrictJSONRequest(Request):
    """A request whose ``json()`` is the strict reader's document (read once)."""

    _strict: Any

    async def json(self) -> Any:
        if not hasattr(self, "_strict"):
            try:
                self._strict = read_json(await self.body())
            except JSONBodyError as exc:
                raise InvalidJSONBody(exc.code, exc.message, exc.status) from None
        return self._strict


class StrictJSONRoute(APIRoute):
    """Reads a JSON body with the strict reader before FastAPI's handler runs. A refused body
    raises ``InvalidJSONBody`` here, outside FastAPI's body parsing (which would turn any
    error into a generic 400), so the problem handler answers with the reader's stable code."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        takes_body = self.body_field is not None

        async def strict_handler(request: Request) -> Response:
            strict = StrictJSONRequest(request.scope, request.receive)
            if (takes_body and is_json_media_type(strict.headers.get("content-type"))
                    and await strict.body()):
                await strict.json()
            return await handler(strict)

        return strict_handler
