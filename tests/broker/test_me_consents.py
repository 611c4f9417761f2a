"""The client's consents over HTTP (DESIGN §3): give, read with history, narrow, revoke;
only their own; bad input for every endpoint."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from broker.context import BrokerContext
from broker.settings import Settings
from broker.store.audit_events import decode
from tests.backends import on_backends
from tests.factories import (
    OTHER_INSZ,
    client_auth,
    declare_relation,
    give_consent,
    in_days,
    make_consent_terms,
    partner_auth,
    record_consent,
    stored_count,
)


def _versions(engine: Engine) -> int:
    return stored_count(engine, "consent_version")


def _narrow(api: TestClient, settings: Settings, consent_id: str, **change: Any) -> Any:
    return api.post(
        f"/v1/me/consents/{consent_id}/narrow", json=change, headers=client_auth(settings)
    )


def _revoke(api: TestClient, settings: Settings, consent_id: str) -> Any:
    return api.post(f"/v1/me/consents/{consent_id}/revoke", headers=client_auth(settings))


def _mine(api: TestClient, settings: Settings, insz: str | None = None) -> list[dict[str, Any]]:
    headers = client_auth(settings) if insz is None else client_auth(settings, insz)
    consents: list[dict[str, Any]] = api.get("/v1/me/consents", headers=headers).json()["consents"]
    return consents


def test_client_gives_consent_in_the_portal(api: TestClient, settings: Settings) -> None:
    created = give_consent(api, settings)
    consent = created["consent"]
    assert consent["evidence"]["method"] == "portal"
    assert consent["recorded_by_partner"] is None
    assert (consent["version"], consent["status"], consent["change"]) == (1, "active", "created")
    assert created["receipt"]["collection_method"] == "portal"


def test_narrowing_creates_a_new_version_and_keeps_the_old_one_readable(
    api: TestClient, settings: Settings, engine: Engine
) -> None:
    consent_id = give_consent(api, settings)["consent"]["id"]
    response = _narrow(api, settings, consent_id, sections=["inkomen"])
    assert response.status_code == 200
    new = response.json()["consent"]
    assert (new["id"], new["version"], new["change"]) == (consent_id, 2, "narrowed")
    assert new["sections"] == ["inkomen"] and new["status"] == "active"
    [listed] = _mine(api, settings)
    old, current = listed["versions"]
    assert listed["current"] == current == new
    assert old["sections"] == ["inkomen", "huisvesting"]  # the old terms, never overwritten
    assert old["superseded"] is True and old["status"] == "revoked"
    assert old["revoked_at"] == new["created_at"]
    assert _versions(engine) == 2


def test_consent_id_stays_meaningful_after_narrowing(api: TestClient, settings: Settings) -> None:
    consent_id = give_consent(api, settings)["consent"]["id"]
    _narrow(api, settings, consent_id, purposes=["rechtenverkenning"], valid_until=in_days(30))
    one = api.get(f"/v1/me/consents/{consent_id}", headers=client_auth(settings)).json()
    assert one["id"] == consent_id
    assert one["current"]["version"] == 2
    assert [v["version"] for v in one["versions"]] == [1, 2]


def test_revocation_is_a_version_of_its_own(api: TestClient, settings: Settings) -> None:
    consent_id = give_consent(api, settings)["consent"]["id"]
    _narrow(api, settings, consent_id, sections=["huisvesting"])
    response = _revoke(api, settings, consent_id)
    assert response.status_code == 200
    revoked = response.json()["consent"]
    assert (revoked["version"], revoked["change"], revoked["status"]) == (3, "revoked", "revoked")
    assert response.json()["receipt"]["change"] == "revoked"
    [listed] = _mine(api, settings)
    assert listed["status"] == "revoked"
    assert [(v["change"], v["status"]) for v in listed["versions"]] == [
        ("created", "revoked"), ("narrowed", "revoked"), ("revoked", "revoked")
    ]


@pytest.mark.parametrize("action", ["revoke", "narrow"])
def test_revoked_consent_cannot_change_again(
    api: TestClient, settings: Settings, engine: Engine, action: str
) -> None:
    consent_id = give_consent(api, settings)["consent"]["id"]
    _revoke(api, settings, consent_id)
    response = (
        _revoke(api, settings, consent_id) if action == "revoke"
        else _narrow(api, settings, consent_id, sections=["inkomen"])
    )
    assert response.status_code == 409
    assert response.json()["code"] == "consent_not_active"
    assert _versions(engine) == 2


def test_consent_bound_to_a_relation_ends_when_the_relation_ends(
    api: TestClient, settings: Settings
) -> None:
    relation = declare_relation(api, settings, "caw-oost-vlaanderen")
    consent_id = give_consent(api, settings, help_relation_id=relation["id"])["consent"]["id"]
    assert _mine(api, settings)[0]["status"] == "active"
    ended = api.post(
        f"/v1/relations/{relation['id']}/end", headers=partner_auth(settings, "caw-oost-vlaanderen")
    )
    assert ended.status_code == 200
    assert _mine(api, settings)[0]["status"] == "expired"
    narrowed = _narrow(api, settings, consent_id, sections=["inkomen"])
    assert narrowed.status_code == 409


def test_changes_are_audited_with_consent_id_and_version(
    api: TestClient, settings: Settings, ctx: BrokerContext
) -> None:
    consent_id = give_consent(api, settings)["consent"]["id"]
    _narrow(api, settings, consent_id, sections=["inkomen"])
    _revoke(api, settings, consent_id)
    entries = [decode(x) for x in ctx.audit.log.store.find_leaves(kind_prefix="consent.")]
    assert [(e["kind"], e["facts"]["version"]) for e in entries] == [
        ("consent.created", 1), ("consent.narrowed", 2), ("consent.revoked", 3)
    ]
    assert all(e["consent_ids"] == [consent_id] and e["partner"] is None for e in entries)


# --- only their own ------------------------------------------------------------------------------

OWN_ENDPOINTS = {
    "read": ("GET", "/v1/me/consents/{id}", None),
    "narrow": ("POST", "/v1/me/consents/{id}/narrow", {"sections": ["inkomen"]}),
    "revoke": ("POST", "/v1/me/consents/{id}/revoke", None),
    "receipt": ("GET", "/v1/me/consents/{id}/receipt", None),
    "fhir": ("GET", "/v1/me/consents/{id}/fhir", None),
}


@pytest.mark.parametrize(("method", "path", "body"), OWN_ENDPOINTS.values(),
                         ids=OWN_ENDPOINTS.keys())
def test_another_clients_consent_is_indistinguishable_from_none(
    api: TestClient, settings: Settings, engine: Engine, method: str, path: str, body: Any
) -> None:
    theirs = give_consent(api, settings, insz=OTHER_INSZ)["consent"]["id"]
    give_consent(api, settings)  # the caller has consents of their own
    mine = client_auth(settings)
    foreign = api.request(method, path.format(id=theirs), json=body, headers=mine)
    missing = api.request(method, path.format(id="cs-nonexistent"), json=body, headers=mine)
    assert foreign.status_code == missing.status_code == 404
    assert foreign.json() == missing.json()
    assert foreign.json()["code"] == "consent_not_found"
    assert _versions(engine) == 2
    assert [c["id"] for c in _mine(api, settings, OTHER_INSZ)] == [theirs]
    assert theirs not in {c["id"] for c in _mine(api, settings)}


ME_ENDPOINTS = {
    "relations": ("GET", "/v1/me/relations"),
    "consents": ("GET", "/v1/me/consents"),
    "give": ("POST", "/v1/me/consents"),
    "read": ("GET", "/v1/me/consents/{id}"),
    "narrow": ("POST", "/v1/me/consents/{id}/narrow"),
    "revoke": ("POST", "/v1/me/consents/{id}/revoke"),
    "receipt": ("GET", "/v1/me/consents/{id}/receipt"),
    "fhir": ("GET", "/v1/me/consents/{id}/fhir"),
}


@pytest.mark.parametrize(("method", "path"), ME_ENDPOINTS.values(), ids=ME_ENDPOINTS.keys())
def test_a_partner_never_reads_or_changes_a_clients_consents(
    api: TestClient, settings: Settings, engine: Engine, method: str, path: str
) -> None:
    consent_id = record_consent(api, settings)["consent"]["id"]
    response = api.request(
        method, path.format(id=consent_id), json=make_consent_terms(),
        headers=partner_auth(settings),
    )
    assert response.status_code == 401
    assert response.json()["code"] == "unauthorized"
    assert consent_id not in response.text
    assert _versions(engine) == 1


# --- bad input -----------------------------------------------------------------------------------

BAD_GIVEN: dict[str, tuple[dict[str, Any], str]] = {
    "unknown_purpose": ({"purposes": ["hobby"]}, "unknown_purpose"),
    "unknown_section": ({"sections": ["hobby"]}, "unknown_section"),
    "working_notes": ({"sections": ["werkaantekeningen"]}, "section_not_shareable"),
    "empty_recipients": ({"recipients": []}, "empty_recipients"),
    "valid_until_in_past": ({"valid_until": in_days(-1)}, "valid_until_in_past"),
    "valid_until_over_24_months": ({"valid_until": in_days(24 * 31 + 2)}, "valid_until_too_far"),
    "unknown_partner": ({"recipients": [{"kind": "partner", "id": "nobody"}]}, "unknown_partner"),
    "unknown_network": ({"network": "gbo-antwerpen"}, "unknown_network"),
    "unknown_relation": ({"help_relation_id": "r-unknown"}, "relation_not_valid"),
    "wrong_recipient_kind": ({"recipients": [{"kind": "everyone", "id": "x"}]},
                             "invalid_request"),
    "missing_purposes": ({"purposes": None}, "invalid_request"),
    "missing_valid_until": ({"valid_until": None}, "invalid_request"),
    "sections_not_a_list": ({"sections": "inkomen"}, "invalid_request"),
    "valid_until_not_a_date": ({"valid_until": "tomorrow"}, "invalid_request"),
    "evidence_from_the_client": ({"evidence": {"method": "signed_paper"}}, "invalid_request"),
    "insz_in_the_body": ({"insz": "85073003328"}, "invalid_request"),
}


@on_backends(("change", "code"), BAD_GIVEN, both={
    "unknown_relation", "unknown_section", "unknown_partner", "valid_until_in_past",
    "insz_in_the_body"})
def test_bad_given_consent_rejected_and_nothing_stored(
    api: TestClient, settings: Settings, engine: Engine, change: dict[str, Any], code: str
) -> None:
    response = api.post(
        "/v1/me/consents", json=make_consent_terms(**change), headers=client_auth(settings)
    )
    assert response.status_code == (409 if code == "relation_not_valid" else 422)
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"] == f"urn:gbo-broker:problem:{code}"
    assert "85073003328" not in response.text
    assert _versions(engine) == 0


BAD_NARROWINGS: dict[str, tuple[dict[str, Any], str]] = {
    "adds_a_section": ({"sections": ["inkomen", "huisvesting", "werk"]}, "not_a_narrowing"),
    "adds_a_recipient": ({"recipients": [{"kind": "partner", "id": "ocmw-gent"}]},
                         "not_a_narrowing"),
    "later_end": ({"valid_until": in_days(300)}, "not_a_narrowing"),
    "changes_nothing": ({}, "not_a_narrowing"),
    "unknown_section": ({"sections": ["hobby"]}, "unknown_section"),
    "unknown_purpose": ({"purposes": ["hobby"]}, "unknown_purpose"),
    "empty_recipients": ({"recipients": []}, "empty_recipients"),
    "empty_sections": ({"sections": []}, "empty_sections"),
    "end_in_past": ({"valid_until": in_days(-1)}, "valid_until_in_past"),
    "wrong_recipient_kind": ({"recipients": [{"kind": "world", "id": "x"}]}, "invalid_request"),
    "sections_not_a_list": ({"sections": "inkomen"}, "invalid_request"),
    "end_without_zone": ({"valid_until": "2027-01-01T00:00:00"}, "invalid_request"),
    "unknown_field": ({"grantor": {"name": "X", "role": "ouder"}}, "invalid_request"),
}


# Compared with the stored version: on both backends each way it is not narrower, and one
# refusal by the catalogue and one by the request schema.
@on_backends(("change", "code"), BAD_NARROWINGS, both={
    "adds_a_section", "adds_a_recipient", "later_end", "changes_nothing", "unknown_section",
    "end_without_zone"})
def test_bad_narrowing_rejected_and_nothing_stored(
    api: TestClient, settings: Settings, engine: Engine, change: dict[str, Any], code: str
) -> None:
    consent_id = give_consent(api, settings)["consent"]["id"]
    response = _narrow(api, settings, consent_id, **change)
    assert response.status_code == 422
    assert response.json()["code"] == code
    assert _versions(engine) == 1
    assert _mine(api, settings)[0]["current"]["version"] == 1


@pytest.mark.parametrize(("query", "status"), [("?version=9", 404), ("?version=0", 422),
                                               ("?version=x", 422)],
                         ids=["unknown_version", "version_zero", "version_not_a_number"])
@pytest.mark.parametrize("kind", ["receipt", "fhir"])
def test_bad_version_query_rejected(
    api: TestClient, settings: Settings, kind: str, query: str, status: int
) -> None:
    consent_id = give_consent(api, settings)["consent"]["id"]
    response = api.get(f"/v1/me/consents/{consent_id}/{kind}{query}",
                       headers=client_auth(settings))
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
