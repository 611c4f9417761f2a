"""Test factories: tokens, request bodies. Overrides replace single fields."""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.engine import Engine

from audit.entry import StoredLeaf
from audit.store import AuditStore
from audit.verify import LeafRow
from broker.demo.eid import play_card
from broker.portal import audit_integrity
from broker.security.tokens import load_private_jwk, sign
from broker.services import audit_verify
from broker.settings import Settings
from consent.padding import PADDING

VALID_INSZ = "85073003328"  # born 1985, pre-2000 check
OTHER_INSZ = "01020312345"  # born 2001, post-2000 check


def partner_jwk(settings: Settings, partner: str) -> dict[str, Any]:
    return load_private_jwk(settings.demo_keys_dir / "partners" / f"{partner}.jwk.json")


def partner_claims(
    settings: Settings, partner: str = "ocmw-gent", **overrides: Any
) -> dict[str, Any]:
    now = int(time.time())
    claims = {
        "iss": partner,
        "sub": "w-1",
        "aud": settings.audience,
        "iat": now,
        "exp": now + 120,
        "jti": secrets.token_urlsafe(16),
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def partner_token(settings: Settings, partner: str = "ocmw-gent", **overrides: Any) -> str:
    return sign(partner_claims(settings, partner, **overrides), partner_jwk(settings, partner))


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def partner_auth(
    settings: Settings, partner: str = "ocmw-gent", **overrides: Any
) -> dict[str, str]:
    return auth(partner_token(settings, partner, **overrides))


def issuer_token(settings: Settings, **claims: Any) -> str:
    now = int(time.time())
    body = {
        "iss": settings.resolved_issuer,
        "aud": settings.audience,
        "iat": now,
        "exp": now + 600,
        "sub": "citizen-1",
    }
    body.update(claims)
    return sign(body, load_private_jwk(settings.demo_keys_dir / "issuer.jwk.json"))


def client_auth(settings: Settings, insz: str = VALID_INSZ) -> dict[str, str]:
    return auth(issuer_token(settings, role="client", insz=insz))


def make_entry(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "insz": VALID_INSZ,
        "section": "hulpvraag",
        "content": {"vraag": "hulp bij huurachterstal"},
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not None}


def in_days(days: float) -> str:
    """An aware ISO 8601 instant ``days`` from now (negative: in the past)."""
    return (datetime.now(UTC) + timedelta(days=days)).isoformat()


def eid_presence(api: TestClient, settings: Settings, partner: str, insz: str,
                 *, rsa_card: bool = False) -> dict[str, Any]:
    """DESIGN §9 at the desk: the partner asks a challenge over HTTP and a demo eID card for
    ``insz`` signs it (what ``gbo-broker demo eid`` prints)."""
    response = api.post("/v1/presence/challenges", json={"insz": insz},
                        headers=partner_auth(settings, partner))
    assert response.status_code == 201, response.text
    return play_card(settings.demo_keys_dir, insz=insz, challenge=response.json()["challenge"],
                     now=datetime.now(UTC), rsa_card=rsa_card)


def declare_relation(
    api: TestClient,
    settings: Settings,
    partner: str = "ocmw-gent",
    insz: str = VALID_INSZ,
    *,
    eid: bool = True,
    **body: Any,
) -> dict[str, Any]:
    """DESIGN §5: a partner declares a help relation (a precondition for writing or recording
    consent); returns the created relation. ``eid``: with the client's card read at the desk
    (proof ``eid``); otherwise on the worker's word (``attested``, DESIGN §9)."""
    if eid:
        body = {"presence": eid_presence(api, settings, partner, insz), **body}
    response = api.post(
        "/v1/relations", json={"insz": insz, **body}, headers=partner_auth(settings, partner)
    )
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def make_consent_terms(**overrides: Any) -> dict[str, Any]:
    """The terms of a consent valid now: caw may see inkomen and huisvesting to explore rights.
    An override of ``None`` drops the field."""
    body: dict[str, Any] = {
        "recipients": [{"kind": "partner_type", "id": "caw"}],
        "purposes": ["rechtenverkenning"],
        "sections": ["inkomen", "huisvesting"],
        "valid_until": in_days(180),
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not None}


def make_desk_consent(**overrides: Any) -> dict[str, Any]:
    """The body of ``POST /v1/consents`` (consent given at the desk)."""
    base = make_consent_terms(
        insz=VALID_INSZ, evidence={"method": "verbal_at_desk", "recorded_by": "w-1"}
    )
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def record_consent(
    api: TestClient, settings: Settings, partner: str = "ocmw-gent", *, eid: bool = True,
    **overrides: Any,
) -> dict[str, Any]:
    """Declare the partner's relation and record a desk consent; returns the response body.
    ``eid``: the client's card proves the consent (``eid``); otherwise ``attested``."""
    insz = overrides.get("insz", VALID_INSZ)
    declare_relation(api, settings, partner, insz, eid=eid)
    body = make_desk_consent(**overrides)
    if eid:
        body["presence"] = eid_presence(api, settings, partner, insz)
    response = api.post("/v1/consents", json=body, headers=partner_auth(settings, partner))
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def give_consent(
    api: TestClient, settings: Settings, insz: str = VALID_INSZ, **overrides: Any
) -> dict[str, Any]:
    """The client gives consent in the portal; returns the response body."""
    response = api.post(
        "/v1/me/consents", json=make_consent_terms(**overrides), headers=client_auth(settings, insz)
    )
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def hs256_with_public_key(settings: Settings, partner: str = "ocmw-gent") -> str:
    """Algorithm confusion: an HMAC token keyed with the partner's *public* key bytes."""
    jwk = partner_jwk(settings, partner)
    claims = partner_claims(settings, partner)
    # PyJWT refuses PEM-looking HMAC keys, so sign by hand as an attacker would.
    header = {"alg": "HS256", "kid": jwk["kid"], "typ": "JWT"}
    from cryptography.hazmat.primitives import serialization

    public = jwt.PyJWK({k: v for k, v in jwk.items() if k != "d"}).key
    pem = public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return _hand_signed(header, claims, pem)


def _hand_signed(header: dict[str, Any], claims: dict[str, Any], key: bytes) -> str:
    import base64
    import hashlib
    import hmac
    import json

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"
    sig = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(sig)}"


def unsigned_token(settings: Settings, partner: str = "ocmw-gent") -> str:
    """``alg: none`` with the partner's kid."""
    jwk = partner_jwk(settings, partner)
    return jwt.encode(
        partner_claims(settings, partner), None, algorithm="none", headers={"kid": jwk["kid"]}
    )


def production_settings(settings: Settings, tmp_path: Path) -> Settings:
    """Settings outside demo mode: a registry holding the demo partners' public keys inline (as
    a production registry would) and keys made by ``keys init`` without the demo flag. Same
    database as ``settings``."""
    import json

    import yaml

    from broker.demo import DEMO_REGISTRY
    from broker.security.keys import init_keys

    registry = yaml.safe_load(DEMO_REGISTRY.read_text())
    registry["demo"] = False
    for partner in registry["partners"]:
        jwks = settings.demo_keys_dir / "partners" / f"{partner['id']}.jwks.json"
        partner.pop("jwks_file")
        partner["jwks"] = json.loads(jwks.read_text())
    path = tmp_path / "registry.yaml"
    path.write_text(yaml.safe_dump(registry))
    production = Settings(data_dir=tmp_path / "prod", database_url=settings.database_url,
                          registry_file=path, demo=False,
                          log_origin=f"audit.test.example/{secrets.token_hex(4)}")
    init_keys(production, list(registry_networks(registry)), demo=False)
    return production


def registry_networks(registry: dict[str, Any]) -> list[str]:
    return [network["id"] for network in registry["networks"]]


@dataclass(frozen=True)
class HeldVerification:
    """"Verify now" held at its first leaf: ``started`` is set when it gets there; it goes on
    once ``release`` is set (or after 30 s, so a failing test never hangs)."""

    started: threading.Event
    release: threading.Event
    arrivals: threading.Semaphore  # released once per verification that got to its first leaf


def hold_verify_now(monkeypatch: pytest.MonkeyPatch) -> HeldVerification:
    """Hold every "verify now" of this process (on the real database source) at its first leaf.
    Release it and ``finish_verifications()`` before the test ends."""
    hold = HeldVerification(started=threading.Event(), release=threading.Event(),
                            arrivals=threading.Semaphore(0))
    real = audit_verify.database_source

    def source(store: AuditStore) -> audit_verify.LogSource:
        found = real(store)

        def wait() -> None:
            hold.started.set()
            hold.arrivals.release()
            hold.release.wait(timeout=30)

        def leaves(start: int) -> Iterator[StoredLeaf]:
            wait()
            yield from found.leaves(start)

        def rows() -> Iterator[Sequence[LeafRow]]:  # how the database source is read
            wait()
            assert found.rows is not None
            yield from found.rows()

        return replace(found, leaves=leaves, rows=None if found.rows is None else rows)

    monkeypatch.setattr(audit_verify, "database_source", source)
    return hold


def finish_verifications() -> None:
    """Wait (bounded) for every "verify now" worker thread of this process to end."""
    for thread in threading.enumerate():
        if thread.name == audit_integrity.THREAD_NAME:
            thread.join(timeout=30)
            assert not thread.is_alive()


def append_unguarded(ctx: Any, event: Any, *, now: datetime | None = None,
                     data_key: bytes | None = None) -> int:
    """Append ``event`` as it is, past the closed vocabulary's guard (DESIGN §9): an entry
    written before the guard existed, or by someone with the log's database. The portals and
    the API must still show it safely. Returns its index."""
    from broker.store.audit_events import build_entry

    entry = build_entry(event, now=now or datetime.now(UTC), data_key=data_key)
    return int(ctx.audit.log.append(entry).index)


# The padding owner's stored records (migration 0012, ``consent.padding``) are in every migrated
# database; a count of what the broker stored for clients leaves them out.
_NOT_PADDING = {"client": "id", "entry": "client_id", "help_relation": "network",
                "consent_version": "network"}


def stored_count(engine: Engine, table: str) -> int:
    """Rows of ``table`` (one of ``_NOT_PADDING``'s) that are not stored padding."""
    column = _NOT_PADDING[table]
    with engine.connect() as conn:
        return int(conn.execute(text(
            f"SELECT count(*) FROM {table} WHERE {column} <> :padding"),  # noqa: S608 - closed set
            {"padding": PADDING}).scalar_one())
