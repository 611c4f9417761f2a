"""Partner authentication (DESIGN §6): every attack gets the same opaque 401."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from broker.security.registry import Partner
from broker.security.tokens import sign
from broker.settings import Settings
from tests.backends import on_backends
from tests.factories import (
    auth,
    declare_relation,
    hs256_with_public_key,
    issuer_token,
    make_entry,
    partner_auth,
    partner_claims,
    partner_jwk,
    partner_token,
    unsigned_token,
)

GENERIC_401 = {
    "type": "urn:gbo-broker:problem:unauthorized",
    "title": "Authentication required",
    "status": 401,
    "code": "unauthorized",
}


def _tamper_payload(token: str) -> str:
    header, payload, sig = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["iss"] = "ocmw-gent"
    claims["sub"] = "w-evil"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{header}.{forged}.{sig}"


def _strip_signature(token: str) -> str:
    header, payload, _ = token.split(".")
    return f"{header}.{payload}."


def _foreign_kid(s: Settings) -> str:
    # Signed with CAW's key and kid, but claiming to be OCMW.
    claims = partner_claims(s, "ocmw-gent")
    return sign(claims, partner_jwk(s, "caw-oost-vlaanderen"))


def _unknown_kid(s: Settings) -> str:
    jwk = dict(partner_jwk(s, "ocmw-gent"), kid="ocmw-gent-rotated-away")
    return sign(partner_claims(s), jwk)


def _timed(iat: int = 0, exp: int = 120, **extra: int) -> Callable[[Settings], str]:
    """A token whose times are offsets from the moment it is made (never from import time)."""

    def make(s: Settings) -> str:
        t = int(time.time())
        return partner_token(s, iat=t + iat, exp=t + exp, **{k: t + v for k, v in extra.items()})

    return make


ATTACKS: dict[str, Callable[[Settings], str]] = {
    "alg_none": unsigned_token,
    "hs256_signed_with_public_key": hs256_with_public_key,
    "expired": _timed(iat=-200, exp=-60),
    "iat_in_future_beyond_skew": _timed(iat=120, exp=200),
    "nbf_in_future_beyond_skew": _timed(nbf=120),
    "lifetime_over_5_minutes": _timed(iat=0, exp=301),
    "wrong_audience": lambda s: partner_token(s, aud="another-broker"),
    "wrong_issuer": lambda s: partner_token(s, iss="caw-oost-vlaanderen"),
    "unknown_issuer": lambda s: partner_token(s, iss="ocmw-antwerpen"),
    "unknown_kid": _unknown_kid,
    "kid_of_another_partner": _foreign_kid,
    "tampered_payload": lambda s: _tamper_payload(partner_token(s, "caw-oost-vlaanderen")),
    "stripped_signature": lambda s: _strip_signature(partner_token(s)),
    "missing_jti": lambda s: partner_token(s, jti=None),
    "missing_sub": lambda s: partner_token(s, sub=None),
    "missing_exp": lambda s: partner_token(s, exp=None),
    "insz_as_worker_id": lambda s: partner_token(s, sub="85073003328"),
    "client_token_as_partner_token": lambda s: issuer_token(s, role="client", insz="85073003328"),
    "garbage": lambda s: "not-a-jwt",
}


# Refused before any query but the replay store's: on both backends a token refused by its
# signature, by its times, by its missing jti and one that is not a token at all.
@on_backends("attack", ATTACKS, both={"tampered_payload", "expired", "missing_jti", "garbage"})
def test_partner_token_attack_rejected_with_generic_401(
    api: TestClient, settings: Settings, attack: Callable[[Settings], str]
) -> None:
    response = api.post("/v1/entries", json=make_entry(), headers=auth(attack(settings)))
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json() == GENERIC_401
    assert response.headers["www-authenticate"] == "Bearer"


def test_valid_partner_token_accepted(api: TestClient, settings: Settings) -> None:
    declare_relation(api, settings)
    response = api.post("/v1/entries", json=make_entry(), headers=partner_auth(settings))
    assert response.status_code == 201, response.text


def test_replayed_jti_rejected_with_generic_401(api: TestClient, settings: Settings) -> None:
    declare_relation(api, settings)
    headers = partner_auth(settings)
    assert api.post("/v1/entries", json=make_entry(), headers=headers).status_code == 201
    replay = api.post("/v1/entries", json=make_entry(), headers=headers)
    assert replay.status_code == 401
    assert replay.json() == GENERIC_401


def test_same_jti_from_two_partners_is_not_a_replay(api: TestClient, settings: Settings) -> None:
    declare_relation(api, settings, "ocmw-gent")
    declare_relation(api, settings, "dmw-cm")
    a = partner_auth(settings, "ocmw-gent", jti="shared-jti-0001")
    b = partner_auth(settings, "dmw-cm", jti="shared-jti-0001")
    assert api.post("/v1/entries", json=make_entry(), headers=a).status_code == 201
    assert api.post("/v1/entries", json=make_entry(), headers=b).status_code == 201


def test_token_within_clock_skew_accepted(api: TestClient, settings: Settings) -> None:
    declare_relation(api, settings)
    t = int(time.time())
    headers = partner_auth(settings, iat=t + 20, exp=t + 140)
    assert api.post("/v1/entries", json=make_entry(), headers=headers).status_code == 201


def test_token_of_inactive_partner_rejected(api: TestClient, settings: Settings) -> None:
    registry = api.app.state.context.registry  # type: ignore[attr-defined]
    old = registry.partners["dmw-cm"]
    registry.partners["dmw-cm"] = Partner(**{**vars(old), "active": False})
    response = api.post("/v1/entries", json=make_entry(), headers=partner_auth(settings, "dmw-cm"))
    assert response.status_code == 401
    assert response.json() == GENERIC_401


def test_missing_authorization_rejected(api: TestClient) -> None:
    response = api.post("/v1/entries", json=make_entry())
    assert response.status_code == 401
    assert response.json() == GENERIC_401


def test_auth_failures_counted_in_metrics(api: TestClient, settings: Settings) -> None:
    api.post("/v1/entries", json=make_entry(), headers=auth("garbage"))
    metrics = api.get("/metrics").text
    assert 'gbo_auth_failures_total{kind="partner"} 1.0' in metrics


@pytest.mark.parametrize(
    "claims",
    [
        {"role": "auditor", "scope": "supervisor"},
        {"role": "client", "insz": "85073003329"},
        {"role": "client"},
        {"role": "client", "insz": "85073003328", "iss": "someone-else"},
        {"role": "client", "insz": "85073003328", "exp": int(time.time()) + 7200},
    ],
    ids=["auditor_token", "invalid_insz", "no_insz", "wrong_issuer", "lifetime_over_1_hour"],
)
def test_client_endpoint_rejects_non_client_tokens(
    api: TestClient, settings: Settings, claims: dict[str, object]
) -> None:
    response = api.get("/v1/me/dossier", headers=auth(issuer_token(settings, **claims)))
    assert response.status_code == 401
    assert response.json() == GENERIC_401


def test_client_endpoint_rejects_partner_token(api: TestClient, settings: Settings) -> None:
    response = api.get("/v1/me/dossier", headers=partner_auth(settings))
    assert response.status_code == 401
