"""The client's eID at the desk as proof of presence (DESIGN §9), over HTTP on both backends.

A valid card proves a relation or a consent (proof ``eid``). Every way it can fail answers the
same opaque 403 ``presence_not_proven`` and stores nothing: no relation, no consent, no audit
entry.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from fastapi.testclient import TestClient
from sqlmodel import select

from broker.context import BrokerContext, load_context
from broker.demo.eid import DemoCitizenCA, new_card_key, presence_object, sign_challenge
from broker.errors import ConfigurationError
from broker.settings import Settings
from broker.store.db import session_scope
from broker.store.models import PresenceChallenge
from tests.backends import on_backends
from tests.factories import (
    OTHER_INSZ,
    VALID_INSZ,
    declare_relation,
    eid_presence,
    make_desk_consent,
    partner_auth,
    stored_count,
)

Presence = dict[str, Any]


def _challenge(api: TestClient, settings: Settings, partner: str = "ocmw-gent",
               insz: str = VALID_INSZ) -> str:
    response = api.post("/v1/presence/challenges", json={"insz": insz},
                        headers=partner_auth(settings, partner))
    assert response.status_code == 201, response.text
    body = response.json()
    expires = datetime.fromisoformat(body["expires_at"])
    assert timedelta(0) < expires - datetime.now(UTC) <= timedelta(minutes=5)
    challenge: str = body["challenge"]
    return challenge


def _card(settings: Settings, challenge: str, *, insz: str = VALID_INSZ,
          **issue: Any) -> Presence:
    """A demo card for ``insz`` whose certificate is issued with ``issue`` overrides."""
    ca = DemoCitizenCA.load(settings.demo_keys_dir)
    key = new_card_key()
    leaf = ca.issue(insz, key, datetime.now(UTC), **issue)
    return presence_object(challenge, sign_challenge(key, challenge), [leaf, ca.certificate])


def _foreign_root_card(challenge: str) -> Presence:
    """A card under a root the broker does not trust, otherwise perfect."""
    now = datetime.now(UTC)
    root_key = ec.generate_private_key(ec.SECP384R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Elders root")])
    root = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(root_key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=99))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False,
                                         False), critical=True)
            .sign(root_key, hashes.SHA384()))
    card = ec.generate_private_key(ec.SECP384R1())
    leaf = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.SERIAL_NUMBER, VALID_INSZ)]))
            .issuer_name(name).public_key(card.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=9))
            .add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False,
                                         False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]),
                           critical=False)
            .sign(root_key, hashes.SHA384()))
    return presence_object(challenge, sign_challenge(card, challenge), [leaf, root])


def _bad_signature(settings: Settings, challenge: str) -> Presence:
    presence = _card(settings, "another-challenge-text")  # signed other bytes
    return {**presence, "challenge": challenge}


def _relation_count(ctx: BrokerContext) -> int:
    return stored_count(ctx.engine, "help_relation")


# (how the presence is made, given the api, settings and a fresh challenge for ocmw-gent about
#  VALID_INSZ)
FAILURES: dict[str, Callable[[TestClient, Settings, str], Presence]] = {
    "card_of_another_person": lambda api, s, c: _card(s, c, insz=OTHER_INSZ),
    "expired_certificate": lambda api, s, c: _card(
        s, c, valid_from=datetime.now(UTC) - timedelta(days=20), days=10),
    "not_yet_valid_certificate": lambda api, s, c: _card(
        s, c, valid_from=datetime.now(UTC) + timedelta(days=2)),
    "chain_to_another_root": lambda api, s, c: _foreign_root_card(c),
    "signing_key_not_authentication_key": lambda api, s, c: _card(
        s, c, digital_signature=False),
    "not_a_client_authentication_certificate": lambda api, s, c: _card(
        s, c, eku=(ExtendedKeyUsageOID.EMAIL_PROTECTION,)),
    "bad_signature": lambda api, s, c: _bad_signature(s, c),
    "foreign_challenge_of_another_partner": lambda api, s, c: _card(
        s, _challenge(api, s, partner="caw-oost-vlaanderen")),
    "challenge_for_another_client": lambda api, s, c: _card(
        s, _challenge(api, s, insz=OTHER_INSZ)),
    "unknown_challenge": lambda api, s, c: _card(s, "x" * 43),
    "chain_without_the_intermediate": lambda api, s, c: {
        **_card(s, c), "certificate_chain": _card(s, c)["certificate_chain"][:1]},
}


# The certificate checks need no query: on both backends the rows that look up the stored
# challenge, and one certificate check.
@on_backends("make", FAILURES, both={
    "foreign_challenge_of_another_partner", "challenge_for_another_client", "unknown_challenge",
    "expired_certificate"})
def test_relation_with_failing_presence_is_refused_opaquely_and_stores_nothing(
    api: TestClient, settings: Settings, ctx: BrokerContext,
    make: Callable[[TestClient, Settings, str], Presence],
) -> None:
    challenge = _challenge(api, settings)
    presence = make(api, settings, challenge)
    size = ctx.audit.log.store.size()
    response = api.post("/v1/relations", json={"insz": VALID_INSZ, "presence": presence},
                        headers=partner_auth(settings))
    assert response.status_code == 403
    assert response.json() == {"type": "urn:gbo-broker:problem:presence_not_proven",
                               "title": "The eID proof of presence is not valid",
                               "status": 403, "code": "presence_not_proven"}
    assert VALID_INSZ not in response.text
    assert _relation_count(ctx) == 0
    assert ctx.audit.log.store.size() == size


def test_expired_challenge_is_refused(api: TestClient, settings: Settings,
                                      ctx: BrokerContext) -> None:
    challenge = _challenge(api, settings)
    with session_scope(ctx.engine) as session:  # five minutes and a second later
        for row in session.exec(select(PresenceChallenge)).all():
            row.expires_at = datetime.now(UTC) - timedelta(seconds=1)
            session.add(row)
        session.commit()
    response = api.post("/v1/relations", json={"insz": VALID_INSZ,
                                               "presence": _card(settings, challenge)},
                        headers=partner_auth(settings))
    assert (response.status_code, response.json()["code"]) == (403, "presence_not_proven")
    assert _relation_count(ctx) == 0


def test_replayed_challenge_is_refused(api: TestClient, settings: Settings,
                                       ctx: BrokerContext) -> None:
    presence = _card(settings, _challenge(api, settings))
    first = api.post("/v1/relations", json={"insz": VALID_INSZ, "presence": presence},
                     headers=partner_auth(settings))
    assert first.status_code == 201 and first.json()["proof"] == "eid"
    again = api.post("/v1/relations", json={"insz": VALID_INSZ, "presence": presence},
                     headers=partner_auth(settings))
    assert (again.status_code, again.json()["code"]) == (403, "presence_not_proven")
    assert _relation_count(ctx) == 1


def test_a_failed_attempt_spends_the_challenge(api: TestClient, settings: Settings) -> None:
    challenge = _challenge(api, settings)
    bad = api.post("/v1/relations", json={"insz": VALID_INSZ,
                                          "presence": _bad_signature(settings, challenge)},
                   headers=partner_auth(settings))
    assert bad.status_code == 403
    good_card = api.post("/v1/relations", json={"insz": VALID_INSZ,
                                                "presence": _card(settings, challenge)},
                         headers=partner_auth(settings))
    assert good_card.status_code == 403  # single use, whatever the first outcome


@pytest.mark.parametrize("rsa_card", [False, True], ids=["ecdsa_p384_card", "rsa_card"])
def test_valid_card_proves_relation_and_consent(
    api: TestClient, settings: Settings, ctx: BrokerContext, rsa_card: bool
) -> None:
    relation = api.post("/v1/relations", json={
        "insz": VALID_INSZ,
        "presence": eid_presence(api, settings, "ocmw-gent", VALID_INSZ, rsa_card=rsa_card)},
        headers=partner_auth(settings))
    assert relation.status_code == 201 and relation.json()["proof"] == "eid"
    body = make_desk_consent(presence=eid_presence(api, settings, "ocmw-gent", VALID_INSZ,
                                                   rsa_card=rsa_card))
    consent = api.post("/v1/consents", json=body, headers=partner_auth(settings))
    assert consent.status_code == 201, consent.text
    assert consent.json()["consent"]["proof"] == "eid"
    assert consent.json()["receipt"]["proof"] == "eid"


def test_card_signature_as_raw_r_and_s_is_accepted(api: TestClient, settings: Settings) -> None:
    """A card returns ECDSA as the 96 bytes r || s, not DER."""
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

    challenge = _challenge(api, settings)
    ca = DemoCitizenCA.load(settings.demo_keys_dir)
    key = new_card_key()
    r, s = decode_dss_signature(sign_challenge(key, challenge))
    presence = presence_object(challenge, r.to_bytes(48, "big") + s.to_bytes(48, "big"),
                               [ca.issue(VALID_INSZ, key, datetime.now(UTC)), ca.certificate])
    response = api.post("/v1/relations", json={"insz": VALID_INSZ, "presence": presence},
                        headers=partner_auth(settings))
    assert response.status_code == 201, response.text


def test_desk_consent_without_presence_is_attested(api: TestClient, settings: Settings) -> None:
    declare_relation(api, settings, eid=False)
    response = api.post("/v1/consents", json=make_desk_consent(), headers=partner_auth(settings))
    assert response.status_code == 201
    assert response.json()["consent"]["proof"] == "attested"


@pytest.mark.parametrize(
    "presence",
    [{"challenge": "kort"}, {"challenge": "a" * 20, "signature": "!!", "certificate_chain": []},
     {"challenge": "a" * 20, "signature": base64.b64encode(b"x" * 20).decode(),
      "certificate_chain": ["not a certificate"]}],
    ids=["missing_fields", "empty_chain", "unreadable_certificate"],
)
def test_malformed_presence_is_a_clear_error(api: TestClient, settings: Settings,
                                             presence: Presence) -> None:
    response = api.post("/v1/relations", json={"insz": VALID_INSZ, "presence": presence},
                        headers=partner_auth(settings))
    assert response.status_code in (403, 422)
    assert response.headers["content-type"] == "application/problem+json"


def test_demo_trust_anchors_are_refused_outside_demo_mode(
    tmp_path: Path, settings: Settings, engine: object
) -> None:
    from tests.factories import production_settings

    production = production_settings(settings, tmp_path).model_copy(
        update={"eid_trust_anchors": settings.resolved_eid_trust_anchors})
    with pytest.raises(ConfigurationError, match="eID trust anchors"):
        load_context(production)


def test_without_trust_anchors_no_presence_is_accepted(
    tmp_path: Path, settings: Settings, engine: object
) -> None:
    """Outside demo mode with no GBO_EID_TRUST_ANCHORS the broker starts; a desk record is then
    attested, and a record that claims eID proof is refused."""
    from tests.factories import production_settings

    ctx = load_context(production_settings(settings, tmp_path))
    try:
        assert ctx.eid_anchors.store is None
    finally:
        ctx.close()
