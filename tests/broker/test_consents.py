"""``POST /v1/consents``: consent recorded at a partner's desk (DESIGN §5; DESIGN §3)."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from broker.context import BrokerContext
from broker.settings import Settings
from broker.store.audit_events import decode
from tests.backends import on_backends
from tests.factories import (
    OTHER_INSZ,
    VALID_INSZ,
    client_auth,
    declare_relation,
    in_days,
    make_desk_consent,
    partner_auth,
    record_consent,
    stored_count,
)


def _stored_versions(engine: Engine) -> int:
    return stored_count(engine, "consent_version")


def test_desk_consent_recorded_with_its_receipt(
    api: TestClient, settings: Settings, ctx: BrokerContext
) -> None:
    created = record_consent(api, settings, "ocmw-gent")
    consent = created["consent"]
    assert consent["version"] == 1 and consent["status"] == "active"
    assert consent["change"] == "created" and consent["recorded_by_partner"] == "ocmw-gent"
    assert consent["evidence"] == {"method": "verbal_at_desk", "recorded_by": "w-1",
                                   "reference": None}
    assert created["receipt"]["consent_id"] == consent["id"]
    assert created["receipt"]["subject"] == ctx.keyring.client_ref("gbo-gent", VALID_INSZ)
    assert created["jws"].count(".") == 2
    [listed] = api.get("/v1/me/consents", headers=client_auth(settings)).json()["consents"]
    assert listed["current"] == consent


def test_recording_worker_defaults_to_the_authenticated_one(
    api: TestClient, settings: Settings
) -> None:
    declare_relation(api, settings)
    body = make_desk_consent(evidence={"method": "verbal_at_desk"})
    response = api.post("/v1/consents", json=body, headers=partner_auth(settings, sub="w-77"))
    assert response.status_code == 201
    assert response.json()["consent"]["evidence"]["recorded_by"] == "w-77"


def test_partner_without_a_relation_cannot_record_consent(
    api: TestClient, settings: Settings, engine: Engine
) -> None:
    declare_relation(api, settings, "caw-oost-vlaanderen")  # another partner's relation
    declare_relation(api, settings, "ocmw-gent", insz=OTHER_INSZ)  # another client
    response = api.post("/v1/consents", json=make_desk_consent(), headers=partner_auth(settings))
    assert response.status_code == 403
    assert response.json()["code"] == "no_valid_help_relation"
    assert _stored_versions(engine) == 0


def test_partner_whose_relation_ended_cannot_record_consent(
    api: TestClient, settings: Settings, engine: Engine
) -> None:
    relation = declare_relation(api, settings)
    api.post(f"/v1/relations/{relation['id']}/end", headers=partner_auth(settings))
    response = api.post("/v1/consents", json=make_desk_consent(), headers=partner_auth(settings))
    assert response.status_code == 403
    assert _stored_versions(engine) == 0


def test_consent_bound_to_a_relation_names_it(api: TestClient, settings: Settings) -> None:
    relation = declare_relation(api, settings, "caw-oost-vlaanderen")
    created = record_consent(api, settings, help_relation_id=relation["id"])
    assert created["consent"]["help_relation_id"] == relation["id"]
    assert created["receipt"]["help_relation_id"] == relation["id"]


def test_desk_consent_is_audited_with_id_and_version(
    api: TestClient, settings: Settings, ctx: BrokerContext
) -> None:
    created = record_consent(api, settings)
    [entry] = [decode(x) for x in ctx.audit.log.store.find_leaves(kind_prefix="consent.")]
    assert entry["kind"] == "consent.created"
    assert entry["consent_ids"] == [created["consent"]["id"]]
    assert entry["facts"] == {"consent_id": created["consent"]["id"], "version": 1,
                              "evidence": "verbal_at_desk", "proof": "eid"}
    # DESIGN §9: the worker as the keyed pseudonym of the token's sub ("w-1"), never raw.
    worker = ctx.keyring.worker_ref("gbo-gent", "ocmw-gent", "w-1")
    assert (entry["partner"], entry["worker"]) == ("ocmw-gent", worker) and worker != "w-1"
    assert entry["client"] == ctx.keyring.client_ref("gbo-gent", VALID_INSZ)
    assert VALID_INSZ not in repr(entry)


def test_desk_consent_needs_a_partner_token(api: TestClient, settings: Settings) -> None:
    assert api.post("/v1/consents", json=make_desk_consent()).status_code == 401
    response = api.post("/v1/consents", json=make_desk_consent(), headers=client_auth(settings))
    assert response.status_code == 401


BAD_DESK_CONSENTS: dict[str, tuple[dict[str, Any], str, str]] = {
    "unknown_purpose": ({"purposes": ["hobby"]}, "unknown_purpose", "/purposes/0"),
    "unknown_section": ({"sections": ["inkomen", "hobby"]}, "unknown_section", "/sections/1"),
    "working_notes": ({"sections": ["werkaantekeningen"]}, "section_not_shareable",
                      "/sections/0"),
    "empty_recipients": ({"recipients": []}, "empty_recipients", "/recipients"),
    "empty_purposes": ({"purposes": []}, "empty_purposes", "/purposes"),
    "empty_sections": ({"sections": []}, "empty_sections", "/sections"),
    "valid_until_in_past": ({"valid_until": in_days(-1)}, "valid_until_in_past", "/valid_until"),
    "valid_until_over_24_months": ({"valid_until": in_days(24 * 31 + 2)},
                                   "valid_until_too_far", "/valid_until"),
    "valid_from_after_until": ({"valid_from": in_days(20), "valid_until": in_days(10)},
                               "valid_from_after_valid_until", "/valid_from"),
    "valid_from_in_past": ({"valid_from": in_days(-2)}, "valid_from_in_past", "/valid_from"),
    "unknown_partner": ({"recipients": [{"kind": "partner", "id": "ocmw-antwerpen"}]},
                        "unknown_partner", "/recipients/0"),
    "recipient_not_bound_by_secrecy": (
        {"recipients": [{"kind": "partner", "id": "buurtwerk-gent"}]},
        "recipient_not_bound_by_secrecy", "/recipients/0"),
    "break_glass_purpose": ({"purposes": ["noodsituatie"], "sections": ["gezondheid"]},
                            "purpose_not_by_consent", "/purposes/0"),
    "unknown_partner_type": ({"recipients": [{"kind": "partner_type", "id": "bank"}]},
                             "unknown_partner_type", "/recipients/0"),
    "other_network": ({"recipients": [{"kind": "network", "id": "gbo-antwerpen"}]},
                      "unknown_network", "/recipients/0"),
    "portal_evidence_at_desk": ({"evidence": {"method": "portal"}}, "invalid_evidence",
                                "/evidence/method"),
    "paper_without_reference": ({"evidence": {"method": "signed_paper", "recorded_by": "w-1"}},
                                "invalid_evidence", "/evidence/reference"),
    "unknown_relation": ({"help_relation_id": "r-unknown"}, "relation_not_valid",
                         "/help_relation_id"),
    "wrong_recipient_kind": ({"recipients": [{"kind": "person", "id": "x"}]},
                             "invalid_request", "body.recipients.0.kind"),
    "recipient_without_id": ({"recipients": [{"kind": "partner"}]}, "invalid_request",
                             "body.recipients.0.id"),
    "missing_insz": ({"insz": None}, "invalid_request", "body.insz"),
    "invalid_insz": ({"insz": "85073003329"}, "invalid_request", "body.insz"),
    "missing_evidence": ({"evidence": None}, "invalid_request", "body.evidence"),
    "missing_valid_until": ({"valid_until": None}, "invalid_request", "body.valid_until"),
    "valid_until_without_zone": ({"valid_until": "2031-01-01T00:00:00"}, "invalid_request",
                                 "body.valid_until"),
    "purposes_not_a_list": ({"purposes": "rechtenverkenning"}, "invalid_request",
                            "body.purposes"),
    "unknown_evidence_method": ({"evidence": {"method": "telepathy"}}, "invalid_request",
                                "body.evidence.method"),
    "unknown_field": ({"status": "active"}, "invalid_request", "body.<field>"),
    "unknown_evidence_field": ({"evidence": {"method": "verbal_at_desk", "by": "x"}},
                               "invalid_request", "body.evidence.<field>"),
}


# On both backends: the refusal after a lookup (409), one after each kind of check in the service
# (catalogue, registry, dates) and one by the request schema; the others fail the same checks.
@on_backends(("change", "code", "where"), BAD_DESK_CONSENTS, both={
    "unknown_relation", "unknown_purpose", "unknown_partner", "valid_until_in_past",
    "unknown_field"})
def test_bad_desk_consent_rejected_and_nothing_stored(
    api: TestClient, settings: Settings, engine: Engine, change: dict[str, Any], code: str,
    where: str,
) -> None:
    declare_relation(api, settings)
    response = api.post(
        "/v1/consents", json=make_desk_consent(**change), headers=partner_auth(settings)
    )
    assert response.status_code == (409 if code == "relation_not_valid" else 422)
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert (problem["type"], problem["code"]) == (f"urn:gbo-broker:problem:{code}", code)
    assert where == problem.get("pointer") or where in {
        ".".join(e["loc"]) for e in problem.get("errors", [])
    }
    assert "8507300332" not in response.text  # the INSZ (or its typo) is never echoed
    assert _stored_versions(engine) == 0


def test_consent_bound_to_another_clients_relation_is_refused(
    api: TestClient, settings: Settings, engine: Engine
) -> None:
    declare_relation(api, settings)
    theirs = declare_relation(api, settings, "caw-oost-vlaanderen", insz=OTHER_INSZ)
    response = api.post(
        "/v1/consents",
        json=make_desk_consent(help_relation_id=theirs["id"]),
        headers=partner_auth(settings),
    )
    assert response.status_code == 409
    assert response.json()["code"] == "relation_not_valid"
    assert _stored_versions(engine) == 0
