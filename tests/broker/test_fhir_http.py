"""``GET /v1/me/consents/{id}/fhir``: an HL7 FHIR R5 Consent that validates and round-trips
(DESIGN §3)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from fhir.resources.consent import Consent

from broker.context import BrokerContext
from broker.settings import Settings
from consent.fhir import from_fhir, parse_fhir_json
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
    imported = from_fhir(parse_fhir_json(_fhir(api, settings, consent["id"]).text))
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
    first = from_fhir(parse_fhir_json(_fhir(api, settings, consent_id, "?version=1").text))
    assert current.status == "inactive"
    assert current.meta is not None and current.meta.versionId == "3"
    assert list(first.terms.sections) == ["inkomen", "huisvesting"]
