"""``GET /.well-known/jwks.json``: the broker's public signing keys (DESIGN §3: receipts)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse

from broker.api.routing import StrictJSONRoute
from broker.deps import ContextDep
from consent.receipt import public_jwk

router = APIRouter(route_class=StrictJSONRoute, tags=["public"])
JWK_SET = "application/jwk-set+json"  # RFC 7517 §8.5.1


@router.get("/.well-known/jwks.json", response_class=Response, responses={200: {
    "description": "An RFC 7517 JWK Set",
    "content": {JWK_SET: {"schema": {
        "type": "object", "required": ["keys"],
        "properties": {"keys": {"type": "array", "items": {
            "type": "object", "required": ["kty", "kid"],
            "properties": {"kty": {"type": "string"}, "kid": {"type": "string"},
                           "crv": {"type": "string"}, "x": {"type": "string"},
                           "alg": {"type": "string"}, "use": {"type": "string"}}}}}}}}}})
def jwks(ctx: ContextDep) -> JSONResponse:
    """The public half of the receipt signing key as an RFC 7517 JWK Set (public, no token),
    followed by the public keys a rotation retired: a receipt signed before it verifies by its
    ``kid``."""
    key = ctx.receipt_key
    body: dict[str, Any] = {"keys": [public_jwk(key.private_key.public_key(), key.kid),
                                     *key.retired]}
    return JSONResponse(
        body, media_type=JWK_SET, headers={"Cache-Control": "max-age=300"}
    )
