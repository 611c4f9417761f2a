"""Signed consent receipts over HTTP (DESIGN §3), verified with the published JWKS."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient

from broker.context import BrokerContext, load_context
from broker.demo import DEMO_REGISTRY
from broker.errors import ConfigurationError
from broker.security.keys import receipt_key_file
from broker.settings import Settings
from consent.errors import ReceiptInvalid
from consent.receipt import sign_receipt, verify_receipt
from tests.factories import OTHER_INSZ, VALID_INSZ, client_auth, give_consent, record_consent


def _jwks(api: TestClient) -> dict[str, Any]:
    response = api.get("/.well-known/jwks.json")  # public: no token
    assert response.status_code == 200
    jwks: dict[str, Any] = response.json()
    return jwks


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_jwks_publishes_only_the_public_ed25519_key(api: TestClient) -> None:
    [key] = _jwks(api)["keys"]
    assert (key["kty"], key["crv"], key["alg"], key["use"]) == ("OKP", "Ed25519", "EdDSA", "sig")
    assert "d" not in key


def test_receipt_verifies_with_the_published_jwks(api: TestClient, settings: Settings) -> None:
    consent_id = give_consent(api, settings)["consent"]["id"]
    response = api.get(f"/v1/me/consents/{consent_id}/receipt", headers=client_auth(settings))
    assert response.status_code == 200
    body = response.json()
    assert verify_receipt(body["jws"], _jwks(api)) == body["receipt"]


def test_receipt_of_a_desk_consent_verifies(api: TestClient, settings: Settings) -> None:
    created = record_consent(api, settings)
    assert verify_receipt(created["jws"], _jwks(api)) == created["receipt"]


def test_receipt_fields(api: TestClient, settings: Settings, ctx: BrokerContext) -> None:
    created = give_consent(
        api, settings, sections=["inkomen", "gezondheid"], purposes=["gezamenlijke_begeleiding"],
        recipients=[{"kind": "partner", "id": "ocmw-gent"}],
    )
    receipt = created["receipt"]
    assert receipt["jurisdiction"] == "BE"
    assert receipt["subject"] == ctx.keyring.client_ref("gbo-gent", VALID_INSZ)
    assert receipt["recipients"] == [{"kind": "partner", "id": "ocmw-gent"}]
    assert [c["name"] for c in receipt["controllers"]] == [settings.controller_name]
    assert receipt["policy_url"] == settings.publisher.controller.privacy_notice_url
    assert receipt["iss"] == settings.publisher.issuer
    assert [(d["section"], d["special_category"]) for d in receipt["data_categories"]] == [
        ("inkomen", False), ("gezondheid", True)
    ]
    assert receipt["sensitive"] is True
    assert receipt["withdrawal_method"]
    assert (receipt["consent_version"], receipt["change"]) == (1, "created")


def test_every_version_has_its_own_receipt(api: TestClient, settings: Settings) -> None:
    consent_id = give_consent(api, settings)["consent"]["id"]
    api.post(f"/v1/me/consents/{consent_id}/narrow", json={"sections": ["inkomen"]},
             headers=client_auth(settings))
    api.post(f"/v1/me/consents/{consent_id}/revoke", headers=client_auth(settings))
    receipts = [
        api.get(f"/v1/me/consents/{consent_id}/receipt?version={v}",
                headers=client_auth(settings)).json()
        for v in (1, 2, 3)
    ]
    jwks = _jwks(api)
    assert [verify_receipt(r["jws"], jwks)["change"] for r in receipts] == [
        "created", "narrowed", "revoked"
    ]
    assert len({r["receipt"]["receipt_id"] for r in receipts}) == 3
    latest = api.get(f"/v1/me/consents/{consent_id}/receipt", headers=client_auth(settings))
    assert latest.json() == receipts[2]


def _tampered(jws: str, **changes: Any) -> str:
    header, payload, signature = jws.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims.update(changes)
    body = json.dumps(claims, sort_keys=True, separators=(",", ":")).encode()
    return f"{header}.{_b64(body)}.{signature}"


TAMPERINGS = {
    "more_sections": {"data_categories": [{"section": "justitie", "label": "Justitie",
                                           "special_category": True}]},
    "later_end": {"valid_until": "2099-01-01T00:00:00Z"},
    "other_subject": {"subject": "someone-else"},
    "other_recipients": {"recipients": [{"kind": "network", "id": "gbo-gent"}]},
    "other_issuer": {"iss": "https://evil.example"},
}


@pytest.mark.parametrize("changes", TAMPERINGS.values(), ids=TAMPERINGS.keys())
def test_changed_receipt_does_not_verify(
    api: TestClient, settings: Settings, changes: dict[str, Any]
) -> None:
    jws = give_consent(api, settings)["jws"]
    with pytest.raises(ReceiptInvalid):
        verify_receipt(_tampered(jws, **changes), _jwks(api))


def test_receipt_signed_by_another_key_does_not_verify(
    api: TestClient, settings: Settings
) -> None:
    created = give_consent(api, settings)
    kid = _jwks(api)["keys"][0]["kid"]
    forged = sign_receipt(created["receipt"], Ed25519PrivateKey.generate(), kid)
    with pytest.raises(ReceiptInvalid):
        verify_receipt(forged, _jwks(api))


def test_receipt_names_no_insz(api: TestClient, settings: Settings) -> None:
    created = give_consent(api, settings, insz=OTHER_INSZ)
    payload = created["jws"].split(".")[1]
    assert OTHER_INSZ not in json.dumps(created)
    assert OTHER_INSZ not in base64.urlsafe_b64decode(payload + "==").decode()


def test_receipt_key_file_is_private(settings: Settings) -> None:
    path = receipt_key_file(settings)
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert json.loads(path.read_text())["demo"] is True


def test_demo_receipt_key_refused_outside_demo_mode(settings: Settings, engine: object) -> None:
    production = settings.model_copy(update={"demo": False, "registry_file": DEMO_REGISTRY})
    with pytest.raises(ConfigurationError, match="the receipt signing key"):
        load_context(production)


def test_desk_receipt_names_the_organisation_whose_worker_recorded_it(
    api: TestClient, settings: Settings, ctx: BrokerContext
) -> None:
    desk = record_consent(api, settings, partner="ocmw-gent")["receipt"]
    portal = give_consent(api, settings, OTHER_INSZ)["receipt"]
    assert desk["recorded_by_organisation"] == {
        "id": "ocmw-gent", "name": ctx.registry.partners["ocmw-gent"].name}
    assert portal["recorded_by_organisation"] is None


def test_the_receipts_privacy_notice_is_a_page_naming_the_controller(
    api: TestClient, settings: Settings
) -> None:
    receipt = give_consent(api, settings)["receipt"]
    path = receipt["policy_url"].removeprefix(settings.base_url)
    page = api.get(path)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert settings.controller_name in page.text and settings.controller_email in page.text
