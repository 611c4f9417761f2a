"""The OpenAPI document as the broker really answers (DESIGN §5).

FastAPI describes every error as its own ``HTTPValidationError`` in ``application/json``; the
broker sends RFC 9457 ``application/problem+json`` (``broker.problems``). ``install_openapi``
replaces those with the ``Problem`` schema and adds the errors every operation of a kind can
answer with; each route declares its own domain errors (``problem_responses``).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from broker.middleware import ALWAYS_ADMITTED
from broker.problems import PROBLEM_SCHEMA, problem_response
from broker.strict_json import BODY_CODES

# Operations that read no database, so never answer ``database_unavailable``.
_NO_DATABASE = frozenset({
    ("get", "/healthz"), ("get", "/readyz"), ("get", "/metrics"), ("get", "/v1/audit/key"),
    ("get", "/v1/audit/keys"), ("get", "/.well-known/jwks.json"),
})
_METHODS = ("get", "put", "post", "delete", "patch")
# Token schemes whose callers have a rate limit (DESIGN §6): partners and clients.
_RATE_LIMITED = frozenset({"PartnerToken", "ClientToken"})


def _add(responses: dict[str, Any], status: int, *codes: str) -> None:
    """Merge ``codes`` into the problem response for ``status``."""
    key = str(status)
    known: list[str] = responses.get(key, {}).get("x-problem-codes", [])
    merged = known + [c for c in codes if c not in known]
    responses[key] = problem_response(status, merged)


def _truthful(document: dict[str, Any]) -> dict[str, Any]:
    for path, item in document.get("paths", {}).items():
        for method in _METHODS:
            operation = item.get(method)
            if operation is None:
                continue
            responses: dict[str, Any] = operation.setdefault("responses", {})
            validation = responses.get("422", {})
            if "HTTPValidationError" in str(validation):
                del responses["422"]
            if operation.get("security"):
                _add(responses, 401, "unauthorized")
            schemes = {name for requirement in operation.get("security", [])
                       for name in requirement}
            if schemes & _RATE_LIMITED:
                _add(responses, 429, "rate_limited")
            if any(p.get("in") == "path" for p in operation.get("parameters", [])):
                # A path value no route matches (a control character, say) is no resource.
                _add(responses, 404, "not_found")
            if operation.get("parameters") or operation.get("requestBody"):
                _add(responses, 422, "invalid_request")
            if operation.get("requestBody"):
                # A body that is not JSON at all (not UTF-8, say) is refused before validation.
                _add(responses, 400, "bad_request", "ambiguous_framing")
                _add(responses, 413, "payload_too_large")
                # The strict JSON reader's refusals (DESIGN §8: bounds on every input).
                _add(responses, 422, *BODY_CODES)
            if (method, path) not in _NO_DATABASE:
                _add(responses, 503, "database_unavailable")
            if path not in ALWAYS_ADMITTED:
                # Admission control (DESIGN §6): a saturated worker refuses at the door.
                _add(responses, 503, "overloaded")
            operation["responses"] = dict(sorted(responses.items()))
    schemas: dict[str, Any] = document.setdefault("components", {}).setdefault("schemas", {})
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    schemas["Problem"] = PROBLEM_SCHEMA
    return document


def install_openapi(app: FastAPI) -> None:
    """Serve the truthful document at ``/openapi.json`` (and in ``/docs``)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = _truthful(get_openapi(
                title=app.title, version=app.version, openapi_version=app.openapi_version,
                summary=app.summary, description=app.description, routes=app.routes,
                tags=app.openapi_tags, servers=app.servers,
            ))
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
