"""``GET /.well-known/jwks.json``: the broker's public signing keys (DESIGN §3: receipts)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from broker.api.routing import StrictJSONRoute
from broker.deps import ContextDep
from consent.receipt import public_jwk

router = APIRouter(route_class=StrictJSONRoute, tags=["public"])


@router.get("/.well-known/jwks.json")
def jwks(ctx: ContextDep) -> JSONResponse:
    """The public half of the receipt signing key as an RFC 7517 JWK Set (public, no token)."""
    key = ctx.receipt_key
    body: dict[str, Any] = {"keys": [public_jwk(key.private_key.public_key(), key.kid)]}
    return JSONResponse(
        body, media_type="application/jwk-set+json", headers={"Cache-Control": "max-age=300"}
    )
