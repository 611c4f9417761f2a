"""Token verification (DESIGN §6). Every failure is one opaque ``AuthenticationError``.

Partner tokens: JWT signed with the partner's own key, looked up by ``iss`` then ``kid`` in the
registry; algorithms allow-listed and bound to the key type; ``aud``/``sub``/``exp``/``iat``/``jti``
required; lifetime at most 5 minutes; ``jti`` single use; 30 s clock skew.
Client and auditor tokens: JWT from the configured identity provider (the broker itself in demo
mode), verified against that issuer's JWKS.
"""

from __future__ import annotations

import hmac
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import jwt
from jwt import PyJWK
from jwt.exceptions import PyJWKError, PyJWTError

from broker.bounds import EARLIEST_EPOCH, LATEST_EPOCH
from broker.errors import AuthenticationError, ConfigurationError
from broker.security.registry import Partner, Registry
from consent.insz import is_valid_insz, looks_like_insz

# DESIGN §6: EdDSA, ES256, PS256, RS256 — never `none` or HMAC.
ALLOWED_ALGORITHMS = frozenset({"EdDSA", "ES256", "PS256", "RS256"})
# Which header algorithms a key of a given type may verify (blocks algorithm confusion).
_ALGS_FOR_KEY = {
    ("OKP", "Ed25519"): {"EdDSA"},
    ("EC", "P-256"): {"ES256"},
    ("RSA", None): {"PS256", "RS256"},
}
CLOCK_SKEW_SECONDS = 30
MAX_PARTNER_TOKEN_LIFETIME = 300  # DESIGN §6: exp at most 5 minutes after iat
MAX_ISSUER_TOKEN_LIFETIME = 3600  # client/auditor sessions from the identity provider
_WORKER = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_JTI = re.compile(r"[\x21-\x7e]{8,128}")
AUDITOR_SCOPE = re.compile(r"supervisor|(?:partner|network):[a-z0-9]+(?:-[a-z0-9]+)*")


class ReplayGuard(Protocol):
    def check_and_store(self, issuer: str, jti: str, expires_at: datetime,
                        issued_at: datetime | None = None) -> bool:
        """Record ``jti``; False if it was (or may have been) seen before: a replay."""


@dataclass(frozen=True)
class PartnerPrincipal:
    partner: Partner
    worker: str  # pseudonymous worker id (`sub`)
    jti: str


@dataclass(frozen=True)
class ClientPrincipal:
    insz: str

    def __repr__(self) -> str:  # never print the INSZ
        return "ClientPrincipal(insz=<redacted>)"


AUDITOR_RIGHTS = frozenset({"signals"})
"""Rights an auditor token may carry besides its scope (claim ``rights``, a list). ``signals``
with scope ``network:<id>``: the network's coordinator, who curates its signals and releases
its signal bundles (DESIGN §11)."""


@dataclass(frozen=True)
class AuditorPrincipal:
    subject: str
    scope: str  # partner:<id> | network:<id> | supervisor
    rights: frozenset[str] = frozenset()

    def coordinates(self, network: str) -> bool:
        """True for the coordinator of ``network``: scope ``network:<id>`` and right
        ``signals`` (DESIGN §11)."""
        return self.scope == f"network:{network}" and "signals" in self.rights


def _key_allows(jwk: PyJWK, alg: str) -> bool:
    raw = jwk._jwk_data  # noqa: SLF001 - PyJWK keeps the parsed JSON here
    kty, crv = str(raw.get("kty")), raw.get("crv")
    allowed = _ALGS_FOR_KEY.get((kty, crv if kty != "RSA" else None), set())
    if raw.get("alg") and raw["alg"] != alg:
        return False
    return alg in allowed and alg in ALLOWED_ALGORITHMS


def _unverified(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The header and claims, read before the key is known (one parse of the token for both:
    the same header and payload checks as ``jwt.get_unverified_header`` and ``jwt.decode``)."""
    try:
        decoded = jwt.decode_complete(token, options={"verify_signature": False})
    except PyJWTError as exc:
        raise AuthenticationError("malformed token") from exc
    return decoded["header"], decoded["payload"]


def _decode(
    token: str, jwk: PyJWK, alg: str, *, audience: str, issuer: str, required: list[str],
    strict_aud: bool = True,
) -> dict[str, Any]:
    try:
        return jwt.decode(
            token,
            key=jwk.key,
            algorithms=[alg],
            audience=audience,
            issuer=issuer,
            leeway=CLOCK_SKEW_SECONDS,
            options={"require": required, "verify_signature": True, "strict_aud": strict_aud},
        )
    except PyJWTError as exc:
        raise AuthenticationError(f"rejected: {type(exc).__name__}") from exc


def _numeric_date(claims: dict[str, Any], name: str) -> float | None:
    """RFC 7519 §2 NumericDate: a JSON number (never a string, boolean or null), here also
    finite and within the window of ``broker.bounds`` (DESIGN §8), else ``AuthenticationError``.
    None when the claim is absent."""
    if name not in claims:
        return None
    value = claims[name]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise AuthenticationError(f"{name} is not a number")
    if not EARLIEST_EPOCH <= value < LATEST_EPOCH:  # also false for NaN
        raise AuthenticationError(f"{name} out of range")
    return float(value)


def _check_times(claims: dict[str, Any], now: datetime, max_lifetime: int) -> tuple[float, float]:
    """``(iat, exp)`` after checking both, and ``nbf`` when present. Raises
    ``AuthenticationError``."""
    iat, exp = _numeric_date(claims, "iat"), _numeric_date(claims, "exp")
    nbf = _numeric_date(claims, "nbf")
    if iat is None or exp is None:
        raise AuthenticationError("bad times")
    if iat > now.timestamp() + CLOCK_SKEW_SECONDS:
        raise AuthenticationError("issued in the future")
    if exp - iat > max_lifetime or exp <= iat:
        raise AuthenticationError("lifetime too long")
    if nbf is not None and nbf > now.timestamp() + CLOCK_SKEW_SECONDS:
        raise AuthenticationError("not yet valid")
    return iat, exp


def verify_partner_token(
    token: str, *, registry: Registry, audience: str, replay_guard: ReplayGuard, now: datetime
) -> PartnerPrincipal:
    """Verify a partner's request token (DESIGN §6). Raises ``AuthenticationError``."""
    header, unverified = _unverified(token)
    alg, kid, iss = header.get("alg"), header.get("kid"), unverified.get("iss")
    if not isinstance(alg, str) or alg not in ALLOWED_ALGORITHMS:
        raise AuthenticationError("algorithm not allowed")
    if not isinstance(kid, str) or not isinstance(iss, str):
        raise AuthenticationError("no kid or iss")
    partner = registry.partner(iss)
    if partner is None or not partner.active:
        raise AuthenticationError("unknown or inactive partner")
    jwk = partner.key(kid)  # only this partner's keys: another partner's kid is unknown here
    if jwk is None or not _key_allows(jwk, alg):
        raise AuthenticationError("unknown kid or key/algorithm mismatch")
    claims = _decode(
        token,
        jwk,
        alg,
        audience=audience,
        issuer=partner.id,
        required=["exp", "iat", "iss", "aud", "sub", "jti"],
    )
    iat, exp = _check_times(claims, now, MAX_PARTNER_TOKEN_LIFETIME)
    worker, jti = claims["sub"], claims["jti"]
    # The worker id is logged and audited: it must be a pseudonym, never a national number.
    if not isinstance(worker, str) or not _WORKER.fullmatch(worker) or looks_like_insz(worker):
        raise AuthenticationError("bad sub")
    if not isinstance(jti, str) or not _JTI.fullmatch(jti):
        raise AuthenticationError("bad jti")
    if not replay_guard.check_and_store(
        partner.id, jti, datetime.fromtimestamp(exp, UTC), datetime.fromtimestamp(iat, UTC),
    ):
        raise AuthenticationError("replayed jti")
    return PartnerPrincipal(partner=partner, worker=worker, jti=jti)


@dataclass(frozen=True)
class IssuerKeys:
    """The citizen/auditor identity provider: its ``iss`` and public keys."""

    issuer: str
    keys: dict[str, PyJWK]

    @classmethod
    def from_file(cls, issuer: str, path: Path) -> IssuerKeys:
        try:
            jwks = json.loads(path.read_text(encoding="utf-8"))
            keys = {k["kid"]: PyJWK(k) for k in jwks["keys"]}
        except FileNotFoundError as exc:
            raise ConfigurationError(f"issuer JWKS not found at {path}") from exc
        except (OSError, ValueError, KeyError, TypeError, PyJWKError) as exc:
            raise ConfigurationError(f"issuer JWKS at {path} is unusable") from exc
        if any("d" in k._jwk_data for k in keys.values()):  # noqa: SLF001
            raise ConfigurationError("the issuer JWKS holds a private key")
        return cls(issuer=issuer, keys=keys)


def _verify_issuer_token(
    token: str, issuer: IssuerKeys, audience: str, now: datetime
) -> dict[str, Any]:
    header, _ = _unverified(token)
    alg, kid = header.get("alg"), header.get("kid")
    if not isinstance(alg, str) or alg not in ALLOWED_ALGORITHMS or not isinstance(kid, str):
        raise AuthenticationError("bad header")
    jwk = issuer.keys.get(kid)
    if jwk is None or not _key_allows(jwk, alg):
        raise AuthenticationError("unknown kid")
    claims = _decode(
        token,
        jwk,
        alg,
        audience=audience,
        issuer=issuer.issuer,
        required=["exp", "iat", "iss", "aud", "sub"],
    )
    _check_times(claims, now, MAX_ISSUER_TOKEN_LIFETIME)
    return claims


def client_from_claims(claims: dict[str, Any], insz_claim: str) -> ClientPrincipal:
    """The client a verified token (API bearer token or OIDC ID token) names by its INSZ."""
    insz = claims.get(insz_claim)
    if not isinstance(insz, str) or not is_valid_insz(insz):
        raise AuthenticationError("no valid INSZ claim")
    return ClientPrincipal(insz=insz)


def auditor_scope_from(value: object) -> str:
    """An auditor scope (DESIGN §7: partner:<id> | network:<id> | supervisor), else refused."""
    if not isinstance(value, str) or not AUDITOR_SCOPE.fullmatch(value):
        raise AuthenticationError("bad scope")
    return value


def auditor_rights_from(value: object) -> frozenset[str]:
    """The rights claim: absent, or a short list of names from ``AUDITOR_RIGHTS`` (deny on
    doubt: anything else refuses the token)."""
    if value is None:
        return frozenset()
    if not isinstance(value, list) or len(value) > len(AUDITOR_RIGHTS) \
            or not all(isinstance(v, str) and v in AUDITOR_RIGHTS for v in value):
        raise AuthenticationError("bad rights")
    return frozenset(value)


def verify_client_token(
    token: str, *, issuer: IssuerKeys, audience: str, insz_claim: str, now: datetime
) -> ClientPrincipal:
    claims = _verify_issuer_token(token, issuer, audience, now)
    if claims.get("role", "client") != "client":
        raise AuthenticationError("not a client token")
    return client_from_claims(claims, insz_claim)


def verify_auditor_token(
    token: str, *, issuer: IssuerKeys, audience: str, now: datetime
) -> AuditorPrincipal:
    claims = _verify_issuer_token(token, issuer, audience, now)
    if claims.get("role") != "auditor":
        raise AuthenticationError("not an auditor token")
    scope = auditor_scope_from(claims.get("scope"))
    rights = auditor_rights_from(claims.get("rights"))
    return AuditorPrincipal(subject=str(claims["sub"]), scope=scope, rights=rights)


def verify_id_token(
    token: str, jwk: PyJWK, *, issuer: str, client_id: str, nonce: str, now: datetime
) -> dict[str, Any]:
    """An OpenID Connect ID token (OIDC Core §3.1.3.7): signature by the provider's key with an
    allowed algorithm bound to the key type, ``iss`` exactly the provider, ``aud`` holding our
    client id (and ``azp`` it when there are several audiences), ``exp``/``iat`` in time with at
    most ``MAX_ISSUER_TOKEN_LIFETIME``, and the ``nonce`` of this login attempt."""
    header, _ = _unverified(token)
    alg = header.get("alg")
    if not isinstance(alg, str) or not _key_allows(jwk, alg):
        raise AuthenticationError("algorithm not allowed for this key")
    claims = _decode(token, jwk, alg, audience=client_id, issuer=issuer,
                     required=["exp", "iat", "iss", "aud", "sub", "nonce"], strict_aud=False)
    _check_times(claims, now, MAX_ISSUER_TOKEN_LIFETIME)
    audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
    if len(audiences) > 1 and claims.get("azp") != client_id:
        raise AuthenticationError("azp is not this client")
    if not isinstance(claims["nonce"], str) or not hmac.compare_digest(
        claims["nonce"].encode(), nonce.encode()
    ):
        raise AuthenticationError("nonce mismatch")
    return claims
