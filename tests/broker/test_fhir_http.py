"""``GET /v1/me/consents/{id}/fhir``: an HL7 FHIR R5 Consent that validates and round-trips
(DESIGN §3)."""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any, get_args

import pytest
from fastapi.testclient import TestClient
from fhir.resources.codesystem import CodeSystem
from fhir.resources.consent import Consent
from fhir.resources.structuredefinition import StructureDefinition

from broker.api.fhir_terminology import CodeSystemName
from broker.context import BrokerContext
from broker.settings import Settings
from consent.fhir import from_fhir, parse_fhir_json
from consent.fhir_terminology import CODE_SYSTEM_NAMES
from consent.receipt import verify_receipt
from tests.factories import (
    VALID_INSZ,
    client_auth,
    declare_relation,
    give_consent,
    record_consent,
)


def _fhir(api: TestClient, settings: Settings, consent_id: str, query: str = "") -> Any:
    response = api.get(f"/v1/me/consents/{consent_id}/fhir{query}", headers=client_auth(settings))
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/fhir+json"
    return response


def test_export_validates_as_an_r5_consent(api: TestClient, settings: Settings) -> None:
    consent_id = give_consent(api, settings)["consent"]["id"]
    response = _fhir(api, settings, consent_id)
    resource = Consent.model_validate_json(response.text)  # fhir.resources models FHIR 5.0.0
    assert resource.status == "active"
    assert resource.decision == "permit"
    assert VALID_INSZ not in response.text


CONSENTS = {
    "portal": lambda api, s: give_consent(api, s),
    "desk_signed_paper": lambda api, s: record_consent(
        api, s, evidence={"method": "signed_paper", "reference": "P-17", "recorded_by": "w-4"}
    ),
    "representative_and_bijzonder": lambda api, s: give_consent(
        api, s, grantor={"name": "Mr. Janssens", "role": "bewindvoerder"},
        sections=["identiteit", "gezondheid"], purposes=["gezamenlijke_begeleiding"],
        recipients=[{"kind": "partner", "id": "ocmw-gent"}, {"kind": "network", "id": "gbo-gent"}],
    ),
    "bound_to_a_relation": lambda api, s: give_consent(
        api, s, help_relation_id=declare_relation(api, s, "dmw-cm")["id"]
    ),
}


@pytest.mark.parametrize("make", CONSENTS.values(), ids=CONSENTS.keys())
def test_export_round_trips_through_consent(
    api: TestClient, settings: Settings, ctx: BrokerContext, make: Any
) -> None:
    consent = make(api, settings)["consent"]
    imported = from_fhir(parse_fhir_json(_fhir(api, settings, consent["id"]).text),
                         publisher=settings.publisher)
    assert imported.consent_id == consent["id"]
    assert imported.version == consent["version"]
    assert imported.client_ref == ctx.keyring.client_ref("gbo-gent", VALID_INSZ)
    terms = imported.terms
    assert [r.model_dump() for r in terms.recipients] == consent["recipients"]
    assert list(terms.purposes) == consent["purposes"]
    assert list(terms.sections) == consent["sections"]
    assert terms.valid_from == datetime.fromisoformat(consent["valid_from"])
    assert terms.valid_until == datetime.fromisoformat(consent["valid_until"])
    assert imported.evidence.model_dump() == consent["evidence"]
    assert (terms.grantor.model_dump() if terms.grantor else None) == consent["grantor"]


def test_revoked_consent_exports_as_inactive_and_older_versions_stay_exportable(
    api: TestClient, settings: Settings
) -> None:
    consent_id = give_consent(api, settings)["consent"]["id"]
    api.post(f"/v1/me/consents/{consent_id}/narrow", json={"sections": ["inkomen"]},
             headers=client_auth(settings))
    api.post(f"/v1/me/consents/{consent_id}/revoke", headers=client_auth(settings))
    current = Consent.model_validate_json(_fhir(api, settings, consent_id).text)
    first = from_fhir(parse_fhir_json(_fhir(api, settings, consent_id, "?version=1").text),
                      publisher=settings.publisher)
    assert current.status == "inactive"
    assert current.meta is not None and current.meta.versionId == "3"
    assert list(first.terms.sections) == ["inkomen", "huisvesting"]


def test_revoked_consent_ends_at_its_revocation_and_keeps_the_grants_verification(
    api: TestClient, settings: Settings
) -> None:
    evidence = {"method": "signed_paper", "reference": "P-3", "recorded_by": "w-4"}
    created = record_consent(api, settings, evidence=evidence)
    consent_id = created["consent"]["id"]
    revoked = api.post(f"/v1/me/consents/{consent_id}/revoke", headers=client_auth(settings))
    assert revoked.status_code == 200, revoked.text
    data = _fhir(api, settings, consent_id).json()
    assert data["status"] == "inactive"
    end = datetime.fromisoformat(data["period"]["end"])
    assert end < datetime.fromisoformat(created["consent"]["valid_until"])
    (verification,) = data["verification"]
    assert verification["verificationType"]["coding"][0]["code"] == "signed_paper"
    assert [datetime.fromisoformat(d) for d in verification["verificationDate"]] == [
        datetime.fromisoformat(created["consent"]["created_at"])]
    assert verification["verificationDate"][0] < data["period"]["end"]


def test_export_attaches_the_signed_receipt_which_verifies(
    api: TestClient, settings: Settings
) -> None:
    created = give_consent(api, settings)
    data = _fhir(api, settings, created["consent"]["id"]).json()
    (attachment,) = data["sourceAttachment"]
    assert attachment["contentType"] == "application/jose"
    jws = base64.b64decode(attachment["data"]).decode()
    jwks = api.get("/.well-known/jwks.json").json()
    assert verify_receipt(jws, jwks) == created["receipt"]


def test_every_own_system_and_the_profile_resolve_at_the_broker(
    api: TestClient, settings: Settings
) -> None:
    """The canonical URLs an export names are served (GBO_FHIR_BASE at its default)."""
    created = record_consent(api, settings, sections=["inkomen", "gezondheid"],
                             grantor={"name": "Mr. Janssens", "role": "bewindvoerder"})
    data = _fhir(api, settings, created["consent"]["id"]).json()
    base = settings.publisher.fhir_base
    codings = _codings(data)
    own = [c for c in codings if c["system"].startswith(base + "/CodeSystem/")]
    assert {c["system"].rsplit("/", 1)[1] for c in own} >= {
        "purpose", "section", "legal-basis", "evidence-method", "grantor-role"}
    for coding in own:
        response = api.get("/fhir" + coding["system"][len(base):])
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/fhir+json"
        system = CodeSystem.model_validate_json(response.text)
        assert system.url == coding["system"]
        if system.content == "complete":
            assert coding["code"] in {c.code for c in system.concept or []}
    (profile,) = data["meta"]["profile"]
    resolved = api.get("/fhir" + profile[len(base):])
    assert StructureDefinition.model_validate_json(resolved.text).url == profile


def test_unknown_code_system_is_a_problem(api: TestClient) -> None:
    response = api.get("/fhir/CodeSystem/insz")
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"


def test_published_code_system_names_are_the_terminology_modules() -> None:
    assert set(get_args(CodeSystemName)) == set(CODE_SYSTEM_NAMES)


def _codings(node: Any) -> list[dict[str, Any]]:
    if isinstance(node, dict):
        own = [node] if "system" in node and "code" in node else []
        return own + [c for v in node.values() for c in _codings(v)]
    if isinstance(node, list):
        return [c for v in node for c in _codings(v)]
    return []
