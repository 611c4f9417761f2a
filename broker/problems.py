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
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from broker.errors import AuthenticationError, BrokerError, Overloaded
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


# The body of every error, as ``problem`` below renders it (RFC 9457 §3): the OpenAPI document
# names it ``Problem``. ``errors`` comes with ``invalid_request``, ``pointer`` with the consent
# library's errors, ``checks`` with ``not_ready``; RFC 9457 §3.2 lets clients ignore the rest.
PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "description": "An RFC 9457 problem: `code` is stable API (clients may branch on it); "
    "`type` is `urn:gbo-broker:problem:<code>`. No member ever repeats an input value.",
    "type": "object",
    "required": ["type", "title", "status", "code"],
    "properties": {
        "type": {"type": "string", "pattern": r"^urn:gbo-broker:problem:[a-z][a-z0-9_]*$"},
        "title": {"type": "string"},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "code": {"type": "string", "pattern": r"^[a-z][a-z0-9_]*$"},
        "detail": {"type": "string"},
        "errors": {
            "description": "With `invalid_request`: where the input is wrong (never the input).",
            "type": "array",
            "items": {
                "type": "object",
                "required": ["loc", "type", "msg"],
                "properties": {
                    "loc": {"type": "array",
                            "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]}},
                    "type": {"type": "string"},
                    "msg": {"type": "string"},
                },
            },
        },
        "pointer": {"description": "The JSON pointer (RFC 6901) of the field in question.",
                    "type": "string"},
        "checks": {"description": "With `not_ready`: each readiness check and its outcome.",
                   "type": "object", "additionalProperties": {"type": "string"}},
        "spans": {
            "description": "With `identifying_text`: where the text identifies a person (the "
            "field, offsets in Unicode code points, the kind), never the text itself.",
            "type": "array",
            "items": {
                "type": "object",
                "required": ["field", "start", "end", "kind"],
                "properties": {
                    "field": {"type": "string"},
                    "start": {"type": "integer", "minimum": 0},
                    "end": {"type": "integer", "minimum": 0},
                    "kind": {"type": "string",
                             "enum": ["insz", "iban", "email", "telefoon", "naam"]},
                },
            },
        },
    },
}
PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
_REASONS = {400: "Bad request", 401: "Not authenticated", 403: "Forbidden", 404: "Not found",
            409: "Conflict with the current state", 410: "Gone", 413: "Request body too large",
            422: "Not a valid request", 429: "Too many requests", 503: "Unavailable; retry later"}
_RETRY_AFTER = {"description": "Seconds to wait before retrying (RFC 9110 §10.2.3).",
                "schema": {"type": "string", "pattern": "^[0-9]+$"}}
ProblemSource = type[BrokerError] | type[ConsentError] | tuple[int, str]


def problem_status(source: ProblemSource) -> tuple[int, str]:
    """The status and stable code an error class is rendered with (see the handlers below)."""
    if isinstance(source, tuple):
        return source
    if issubclass(source, BrokerError):
        return source.status, source.code
    return (409 if issubclass(source, ConsentStateError) else 422), source.code


def problem_responses(*sources: ProblemSource) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for the errors a route can answer with: per status a problem+json
    body whose description lists the stable codes. ``broker.openapi`` adds the ones every route
    of a kind shares (401, 413, 422 for the request's own form, 503 for the database)."""
    codes: dict[int, list[str]] = {}
    for source in sources:
        status, code = problem_status(source)
        if code not in codes.setdefault(status, []):
            codes[status].append(code)
    return {status: problem_response(status, found) for status, found in sorted(codes.items())}


def problem_response(status: int, codes: list[str]) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": f"{_REASONS.get(status, 'Error')}: "
        + ", ".join(f"`{c}`" for c in codes),
        "content": {PROBLEM_JSON: {"schema": PROBLEM_REF}},
        "x-problem-codes": list(codes),
    }
    if status == 401:
        response["headers"] = {"WWW-Authenticate": {
            "description": "`Bearer` (RFC 6750 §3)", "required": True,
            "schema": {"type": "string"}}}
    if status in (429, 503):
        response["headers"] = {"Retry-After": _RETRY_AFTER}
    return response


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


async def broker_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, BrokerError)
    headers = {}
    if isinstance(exc, AuthenticationError):
        headers["WWW-Authenticate"] = "Bearer"
    if exc.retry_after is not None:
        headers["Retry-After"] = str(exc.retry_after)
    if exc.status >= 500:
        log.error("request failed", extra={"error_code": exc.code})
    return problem(exc.status, exc.code, exc.title, exc.detail, headers=headers or None,
                   **exc.extensions())


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


async def _pool_exhausted(request: Request, exc: Exception) -> JSONResponse:
    # No database connection came free in GBO_DB_POOL_TIMEOUT: the request did nothing yet.
    log.warning("database pool exhausted", extra={"error_type": type(exc).__name__})
    return await broker_error(request, Overloaded())


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(BrokerError, broker_error)
    app.add_exception_handler(PoolTimeout, _pool_exhausted)
    app.add_exception_handler(OperationalError, _database_unavailable)
    app.add_exception_handler(ConsentError, _consent_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, _unhandled)
