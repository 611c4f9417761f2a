"""Minting tokens with demo keys (``gbo-broker token ...``) — what a partner system or the
identity provider would do. The broker itself only ever *verifies* tokens outside demo mode."""

from __future__ import annotations

import json
import secrets
from datetime import datetime
from pathlib import Path
from typing import Any

import jwt

from broker.errors import ConfigurationError
from broker.settings import Settings


def load_private_jwk(path: Path) -> dict[str, Any]:
    try:
        jwk: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigurationError(f"no demo key at {path}: run `gbo-broker demo` first") from exc
    return jwk


def sign(claims: dict[str, Any], private_jwk: dict[str, Any]) -> str:
    key = jwt.PyJWK(private_jwk)
    return jwt.encode(
        claims,
        key.key,
        algorithm=private_jwk.get("alg", "EdDSA"),
        headers={"kid": private_jwk["kid"], "typ": "JWT"},
    )


def partner_token(
    settings: Settings, *, partner: str, worker: str, now: datetime, lifetime: int = 120
) -> str:
    jwk = load_private_jwk(settings.demo_keys_dir / "partners" / f"{partner}.jwk.json")
    iat = int(now.timestamp())
    return sign(
        {
            "iss": partner,
            "sub": worker,
            "aud": settings.audience,
            "iat": iat,
            "exp": iat + lifetime,
            "jti": secrets.token_urlsafe(16),
        },
        jwk,
    )


def issuer_token(
    settings: Settings, *, claims: dict[str, Any], now: datetime, lifetime: int = 900
) -> str:
    if settings.resolved_issuer is None:
        raise ConfigurationError("no token issuer configured (demo mode sets one)")
    jwk = load_private_jwk(settings.demo_keys_dir / "issuer.jwk.json")
    iat = int(now.timestamp())
    return sign(
        {
            "iss": settings.resolved_issuer,
            "aud": settings.audience,
            "iat": iat,
            "exp": iat + lifetime,
            **claims,
        },
        jwk,
    )


def client_token(settings: Settings, *, insz: str, now: datetime) -> str:
    sub = f"citizen-{secrets.token_hex(4)}"
    return issuer_token(
        settings, claims={"sub": sub, "role": "client", settings.client_insz_claim: insz}, now=now
    )


def auditor_token(settings: Settings, *, scope: str, now: datetime,
                  rights: tuple[str, ...] = ()) -> str:
    claims: dict[str, Any] = {"sub": f"auditor-{secrets.token_hex(4)}", "role": "auditor",
                              "scope": scope}
    if rights:
        claims["rights"] = list(rights)
    return issuer_token(settings, claims=claims, now=now)
