"""Consent receipts: content, signature with the broker's Ed25519 key, tamper detection."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import jwt
import pytest
import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from consent.errors import ReceiptInvalid
from consent.models import Grantor
from consent.publisher import EXAMPLE
from consent.receipt import (
    Organisation,
    build_receipt,
    public_jwk,
    sign_receipt,
    verify_receipt,
)
from tests.consent.factories import (
    CATALOGUE,
    CLIENT_REF,
    make_consent,
    recipient,
)

KID = "broker-2026-11"
KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
JWKS = {"keys": [public_jwk(KEY.public_key(), KID)]}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _receipt(**overrides: Any) -> dict[str, Any]:
    return build_receipt(make_consent(**overrides), catalogue=CATALOGUE, publisher=EXAMPLE)


def test_published_jwk_is_okp_ed25519() -> None:
    jwk = JWKS["keys"][0]
    assert {k: jwk[k] for k in ("kty", "crv", "kid", "alg")} == {
        "kty": "OKP", "crv": "Ed25519", "kid": KID, "alg": "EdDSA"}
    assert len(_unb64(jwk["x"])) == 32


def test_receipt_verifies_with_published_jwks() -> None:
    receipt = _receipt()
    jws = sign_receipt(receipt, KEY, KID)
    assert verify_receipt(jws, JWKS) == receipt
    assert jwt.get_unverified_header(jws) == {
        "alg": "EdDSA", "kid": KID, "typ": "consent-receipt+jwt"}


def test_receipt_is_deterministic_per_version() -> None:
    assert sign_receipt(_receipt(), KEY, KID) == sign_receipt(_receipt(), KEY, KID)
    assert _receipt()["receipt_id"] != _receipt(version=2)["receipt_id"]


def test_receipt_describes_the_consent() -> None:
    receipt = _receipt(
        recipients=(recipient("partner", "ocmw-gent"), recipient("partner_type", "caw")),
        purposes=("gezamenlijke_begeleiding",),
        sections=("inkomen", "gezondheid"),
        grantor=Grantor(name="An Peeters", role="bewindvoerder"),
    )
    assert receipt["jurisdiction"] == "BE" and receipt["language"] == "nl"
    assert receipt["subject"] == CLIENT_REF
    recipients = [{"kind": "partner", "id": "ocmw-gent"}, {"kind": "partner_type", "id": "caw"}]
    assert receipt["recipients"] == recipients
    assert receipt["purposes"] == [
        {"purpose": "gezamenlijke_begeleiding", "label": "Samen begeleiden",
         "consent_type": "explicit", "termination": receipt["valid_until"],
         "third_party_disclosure": True, "third_parties": recipients}]
    assert receipt["data_categories"] == [
        {"section": "inkomen", "label": "Inkomen", "special_category": False},
        {"section": "gezondheid", "label": "Gezondheid", "special_category": True},
    ]
    assert receipt["sensitive"] is True
    assert receipt["collection_method"] == "verbal_at_desk"
    assert receipt["grantor"] == {"name": "An Peeters", "role": "bewindvoerder"}
    assert "intrekken" in receipt["withdrawal_method"]
    assert receipt["valid_from"].endswith("Z") and receipt["valid_until"].endswith("Z")


def test_receipt_names_the_controller_with_contact_notice_and_legal_basis() -> None:
    """Kantara CR 1.1 piiControllers/policyUrl, ISO/IEC TS 27560 legal basis: the controller is
    the configured organisation, not the recipients."""
    plain, special = _receipt(sections=("inkomen",)), _receipt(sections=("gezondheid",))
    controller = EXAMPLE.controller
    assert plain["controllers"] == [{
        "id": controller.id, "name": controller.name,
        "contact": {"email": controller.contact_email},
        "privacy_notice_url": controller.privacy_notice_url}]
    assert plain["policy_url"] == controller.privacy_notice_url
    assert plain["consent_type"] == "explicit"
    assert [b["code"] for b in plain["legal_basis"]] == ["gdpr-6-1-a"]
    assert [b["code"] for b in special["legal_basis"]] == ["gdpr-6-1-a", "gdpr-9-2-a"]


def test_desk_receipt_names_the_recording_organisation() -> None:
    desk = build_receipt(make_consent(), catalogue=CATALOGUE, publisher=EXAMPLE,
                         recorded_by_organisation=Organisation("ocmw-gent", "OCMW Gent"))
    assert desk["recorded_by"] == "w-7f3a"
    assert desk["recorded_by_organisation"] == {"id": "ocmw-gent", "name": "OCMW Gent"}
    assert _receipt()["recorded_by_organisation"] is None


def test_signed_receipt_carries_the_registered_jwt_claims() -> None:
    consent = make_consent()
    claims = jwt.decode(sign_receipt(_receipt(), KEY, KID), KEY.public_key(),
                        algorithms=["EdDSA"], options={"verify_aud": False})
    assert claims["iss"] == EXAMPLE.issuer
    assert claims["sub"] == CLIENT_REF
    assert claims["iat"] == int(consent.created_at.timestamp())
    assert claims["jti"] == claims["receipt_id"]


def _change_payload_byte(jws: str) -> str:
    header, payload, signature = jws.split(".")
    raw = bytearray(_unb64(payload))
    raw[raw.index(b"ocmw-gent")] ^= 0x01  # one byte of the recipient id
    return ".".join((header, _b64(bytes(raw)), signature))


def _reencode_with_changed_field(jws: str) -> str:
    header, payload, signature = jws.split(".")
    receipt = json.loads(_unb64(payload))
    receipt["data_categories"].append(
        {"section": "justitie", "label": "Justitie", "special_category": True})
    return ".".join((header, _b64(rfc8785.dumps(receipt)), signature))


def _resigned_by_other_key(jws: str) -> str:
    receipt = json.loads(_unb64(jws.split(".")[1]))
    receipt["valid_until"] = "2030-01-01T00:00:00Z"
    return sign_receipt(receipt, Ed25519PrivateKey.generate(), KID)


def _unsigned(jws: str) -> str:
    header = _b64(b'{"alg":"none","kid":"%s","typ":"consent-receipt+jwt"}' % KID.encode())
    return f"{header}.{jws.split('.')[1]}."


def _hmac_with_public_key(jws: str) -> str:
    payload = _unb64(jws.split(".")[1])
    secret = _unb64(JWKS["keys"][0]["x"])
    return jwt.PyJWS().encode(
        payload, secret, algorithm="HS256", headers={"kid": KID, "typ": "consent-receipt+jwt"})


def _unknown_kid(jws: str) -> str:
    return sign_receipt(json.loads(_unb64(jws.split(".")[1])), KEY, "other-kid")


def _truncated_signature(jws: str) -> str:
    return jws[:-4]


@pytest.mark.parametrize(
    "tamper",
    [
        _change_payload_byte,
        _reencode_with_changed_field,
        _resigned_by_other_key,
        _unsigned,
        _hmac_with_public_key,
        _unknown_kid,
        _truncated_signature,
    ],
    ids=[
        "payload_byte_changed",
        "reencoded_with_changed_field",
        "resigned_by_other_key_same_kid",
        "alg_none",
        "hmac_with_public_key",
        "unknown_kid",
        "truncated_signature",
    ],
)
def test_changed_receipt_does_not_verify(tamper: Callable[[str], str]) -> None:
    jws = sign_receipt(_receipt(), KEY, KID)
    with pytest.raises(ReceiptInvalid):
        verify_receipt(tamper(jws), JWKS)


def test_non_canonical_payload_does_not_verify() -> None:
    payload = json.dumps(_receipt(), indent=1).encode()  # signed by us, but not RFC 8785
    jws = jwt.PyJWS().encode(
        payload, KEY, algorithm="EdDSA", headers={"kid": KID, "typ": "consent-receipt+jwt"})
    with pytest.raises(ReceiptInvalid):
        verify_receipt(jws, JWKS)
