"""RFC 9457 problem+json for every error the API returns, with stable ``type`` URIs.

``type`` is ``urn:gbo-broker:problem:<code>``; ``code`` repeats the stable code as an extension
member. Validation errors list where the input is wrong (``errors``: loc, type, msg) but never echo
the input itself: it may hold an INSZ or dossier content.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from broker.errors import AuthenticationError, BrokerError
from consent.errors import ConsentError, ConsentStateError, ConsentValidationError

PROBLEM_JSON = "application/problem+json"
TYPE_PREFIX = "urn:gbo-broker:problem:"
log = logging.getLogger("gbo.errors")

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    429: "too_many_requests",
}


def problem(
    status: int,
    code: str,
    title: str,
    detail: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": TYPE_PREFIX + code,
        "title": title,
        "status": status,
        "code": code,
    }
    if detail and detail != title:
        body["detail"] = detail
    body.update(extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,39}")


def _safe_loc_part(part: object) -> str:
    """Field names in ``loc`` may come from the caller (an unknown key): echo them only when they
    look like a field name, never a value (an INSZ, a string of content)."""
    text = str(part)
    if isinstance(part, int) or _IDENTIFIER.fullmatch(text):
        return text
    return "<field>"


def _safe_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    out = []
    for err in exc.errors():
        loc = [_safe_loc_part(p) for p in err.get("loc", ())]
        if err.get("type") == "extra_forbidden" and loc:
            loc[-1] = "<field>"  # DESIGN §9: an unknown field's name is the caller's, never echoed
        out.append({"loc": loc, "type": err.get("type", "invalid"), "msg": err.get("msg", "")})
    return out


async def _broker_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, BrokerError)
    headers = {}
    if isinstance(exc, AuthenticationError):
        headers["WWW-Authenticate"] = "Bearer"
    if exc.retry_after is not None:
        headers["Retry-After"] = str(exc.retry_after)
    if exc.status >= 500:
        log.error("request failed", extra={"error_code": exc.code})
    return problem(exc.status, exc.code, exc.title, exc.detail, headers=headers or None)


async def _consent_error(request: Request, exc: Exception) -> JSONResponse:
    """A wrong request is 422, a conflict with the current state 409. The message is the
    error's fixed text and ``pointer`` names the field (a JSON pointer), never its value."""
    assert isinstance(exc, ConsentError)
    if isinstance(exc, ConsentValidationError):
        status = 422
    elif isinstance(exc, ConsentStateError):
        status = 409
    else:  # a malformed catalogue or receipt is the broker's own fault
        log.error("consent error", extra={"error_code": exc.code})
        return problem(500, "internal_error", "Internal error")
    if exc.pointer is None:
        return problem(status, exc.code, exc.message)
    return problem(status, exc.code, exc.message, pointer=exc.pointer)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return problem(
        422,
        "invalid_request",
        "The request is not valid",
        "See `errors` for what to change.",
        errors=_safe_errors(exc),
    )


async def http_error(request: Request, exc: Exception) -> JSONResponse:
    """Unknown paths, wrong methods and the like. The portals answer these under their own
    paths with HTML pages (``broker.portal.pages.install_error_pages``) and hand the rest here."""
    assert isinstance(exc, StarletteHTTPException)
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    title = str(exc.detail) if isinstance(exc.detail, str) else "Request failed"
    return problem(exc.status_code, code, title, headers=getattr(exc, "headers", None))


async def _unhandled(request: Request, exc: Exception) -> JSONResponse:
    # Log the exception's type and where it happened, not its message: messages of library
    # errors can quote input values (an INSZ, dossier content).
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    where = f"{tb.tb_frame.f_code.co_filename}:{tb.tb_lineno}" if tb else "?"
    log.error("unhandled error", extra={"error_type": type(exc).__name__, "where": where})
    return problem(500, "internal_error", "Internal error")


async def _database_unavailable(request: Request, exc: Exception) -> JSONResponse:
    # A locked, unreachable or read-only database: the request did nothing it could not undo.
    log.error("database unavailable", extra={"error_type": type(exc).__name__})
    return problem(503, "database_unavailable", "The database is unavailable; try again later",
                   headers={"Retry-After": "1"})


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(BrokerError, _broker_error)
    app.add_exception_handler(OperationalError, _database_unavailable)
    app.add_exception_handler(ConsentError, _consent_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, _unhandled)
