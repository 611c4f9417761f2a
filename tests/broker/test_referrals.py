"""Warm referrals and the coordinator (DESIGN §10), end to end over HTTP on both backends."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from broker.context import BrokerContext
from broker.settings import Settings
from broker.store.audit_events import decode
from broker.store.casework import ReferralRow
from broker.store.db import session_scope
from tests.factories import (
    VALID_INSZ,
    client_auth,
    declare_relation,
    give_consent,
    make_entry,
    partner_auth,
)

OCMW, CAW, DMW = "ocmw-gent", "caw-oost-vlaanderen", "dmw-cm"
MESSAGE = "Mevrouw komt dinsdag langs, graag een warme opvang — marker-a41f"
HANDED = ["contact", "hulpvraag", "identiteit"]


def _referral(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"insz": VALID_INSZ, "to": CAW, "reason": "schulden",
                            "sections": HANDED, "message": MESSAGE}
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not None}


def _refer(api: TestClient, settings: Settings, **overrides: Any) -> dict[str, Any]:
    response = api.post("/v1/referrals", json=_referral(**overrides),
                        headers=partner_auth(settings, OCMW))
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def _write(api: TestClient, settings: Settings, section: str, marker: str,
           restricted: bool = False) -> str:
    response = api.post("/v1/entries", json=make_entry(section=section,
                                                      content={"tekst": marker},
                                                      restricted=restricted),
                        headers=partner_auth(settings, OCMW))
    assert response.status_code == 201, response.text
    entry_id: str = response.json()["id"]
    return entry_id


def _consent_for_caw(api: TestClient, settings: Settings,
                     sections: list[str] = HANDED) -> None:
    give_consent(api, settings, recipients=[{"kind": "partner", "id": CAW}],
                 purposes=["doorverwijzing"], sections=sections)


def _post(api: TestClient, settings: Settings, partner: str, referral_id: str, step: str,
          body: dict[str, Any] | None = None) -> Any:
    return api.post(f"/v1/referrals/{referral_id}/{step}", json=body,
                    headers=partner_auth(settings, partner))


def _status(api: TestClient, settings: Settings, referral_id: str, partner: str = OCMW) -> str:
    response = api.get(f"/v1/referrals/{referral_id}", headers=partner_auth(settings, partner))
    assert response.status_code == 200, response.text
    status: str = response.json()["status"]
    return status


def _feed(api: TestClient, settings: Settings, partner: str) -> list[dict[str, Any]]:
    response = api.get("/v1/notifications", headers=partner_auth(settings, partner))
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()["notifications"]
    return found


def _kinds(ctx: BrokerContext) -> list[str]:
    return [decode(leaf)["kind"] for leaf in ctx.audit.log.store.find_leaves(limit=1000)]


def _coordinate(api: TestClient, settings: Settings, partner: str = DMW) -> None:
    """``partner`` helps the client and the client agreed to joint support by the network."""
    declare_relation(api, settings, partner)
    give_consent(api, settings, recipients=[{"kind": "network", "id": "gbo-gent"}],
                 purposes=["gezamenlijke_begeleiding"], sections=["identiteit"])
    response = api.put("/v1/coordination", json={"insz": VALID_INSZ},
                       headers=partner_auth(settings, partner))
    assert response.status_code == 200, response.text


@pytest.fixture
def helped(api: TestClient, settings: Settings) -> None:
    declare_relation(api, settings, OCMW)


# --- lifecycle -----------------------------------------------------------------------------


@pytest.mark.usefixtures("helped")
def test_covered_referral_is_proposed_and_accepting_hands_over_only_what_the_policy_grants(
    api: TestClient, settings: Settings, ctx: BrokerContext
) -> None:
    shared = {s: _write(api, settings, s, f"marker-{s}") for s in HANDED}
    withheld = [_write(api, settings, "hulpvraag", "marker-restricted", restricted=True),
                _write(api, settings, "inkomen", "marker-inkomen"),
                _write(api, settings, "rechten", "marker-rechten"),
                _write(api, settings, "werkaantekeningen", "marker-notes")]
    _consent_for_caw(api, settings)
    created = _refer(api, settings)
    assert created["status"] == "proposed" and created["consent_request_id"] is None
    assert VALID_INSZ not in json.dumps(created) and "marker-a41f" not in json.dumps(created)

    incoming = api.get("/v1/referrals?role=to&status=proposed",
                       headers=partner_auth(settings, CAW)).json()["referrals"]
    assert [r["id"] for r in incoming] == [created["id"]]
    seen = api.get(f"/v1/referrals/{created['id']}", headers=partner_auth(settings, CAW)).json()
    assert seen["message"] == MESSAGE

    response = _post(api, settings, CAW, created["id"], "accept")
    assert response.status_code == 200, response.text
    accepted = response.json()
    assert accepted["referral"]["status"] == "accepted"
    assert accepted["insz"] == VALID_INSZ
    assert (accepted["relation"]["partner"], accepted["relation"]["proof"]) == (CAW, "referral")
    handover = accepted["handover"]["sections"]
    assert {s: v["verdict"] for s, v in handover.items()} == {s: "granted" for s in HANDED}
    released = {e["id"] for v in handover.values() for e in v["entries"]}
    assert released == set(shared.values())
    text = json.dumps(accepted)
    for marker in ("marker-restricted", "marker-inkomen", "marker-rechten", "marker-notes"):
        assert marker not in text
    assert not released & set(withheld)
    # The handover is an access decision like any other, audited before release.
    leaves = [decode(x) for x in ctx.audit.log.store.find_leaves(limit=1000)]
    [decision] = [x for x in leaves if x["kind"] == "access.decision"]
    assert (decision["partner"], decision["purpose"]) == (CAW, "doorverwijzing")
    assert decision["request_id"] == accepted["handover"]["request_id"]


@pytest.mark.usefixtures("helped")
def test_uncovered_referral_waits_for_the_clients_consent_and_hands_over_what_they_allowed(
    api: TestClient, settings: Settings
) -> None:
    _write(api, settings, "identiteit", "marker-id")
    _write(api, settings, "hulpvraag", "marker-vraag")
    created = _refer(api, settings)
    assert created["status"] == "awaiting_consent" and created["consent_request_id"]
    # Not yet proposed: the receiver sees nothing of it.
    caw = partner_auth(settings, CAW)
    assert api.get("/v1/referrals?role=to", headers=caw).json()["referrals"] == []
    assert _post(api, settings, CAW, created["id"], "accept").status_code == 404

    [request] = api.get("/v1/me/consent-requests", headers=client_auth(settings)).json()[
        "requests"]
    assert request["id"] == created["consent_request_id"]
    assert (request["purposes"], request["sections"]) == (["doorverwijzing"], HANDED)
    assert request["recipients"] == [{"kind": "partner", "id": CAW}]
    approved = api.post(f"/v1/me/consent-requests/{request['id']}/approve",
                        json={"sections": ["contact", "identiteit"]},
                        headers=client_auth(settings))
    assert approved.status_code == 201, approved.text
    assert _status(api, settings, created["id"]) == "proposed"

    accepted = _post(api, settings, CAW, created["id"], "accept").json()
    handover = accepted["handover"]["sections"]
    assert handover["identiteit"]["verdict"] == "granted"
    assert handover["hulpvraag"] == {"verdict": "denied", "reasons": ["no_consent_for_section"],
                                     "entries": None}
    assert "marker-vraag" not in json.dumps(accepted)


@pytest.mark.usefixtures("helped")
def test_client_refusing_the_consent_stops_the_referral(
    api: TestClient, settings: Settings
) -> None:
    created = _refer(api, settings)
    api.post(f"/v1/me/consent-requests/{created['consent_request_id']}/refuse",
             headers=client_auth(settings))
    assert _status(api, settings, created["id"]) == "consent_refused"
    assert api.get("/v1/referrals?role=to", headers=partner_auth(settings, CAW)).json()[
        "referrals"] == []


@pytest.mark.usefixtures("helped")
def test_decline_needs_a_catalogue_reason_and_ends_the_referral(
    api: TestClient, settings: Settings, ctx: BrokerContext
) -> None:
    _consent_for_caw(api, settings)
    created = _refer(api, settings)
    bad = _post(api, settings, CAW, created["id"], "decline", {"reason": "geen_zin"})
    assert (bad.status_code, bad.json()["code"]) == (422, "unknown_referral_reason")
    response = _post(api, settings, CAW, created["id"], "decline", {"reason": "wachtlijst"})
    assert response.status_code == 200, response.text
    assert (response.json()["status"], response.json()["decline_reason"]) == ("declined",
                                                                              "wachtlijst")
    again = _post(api, settings, CAW, created["id"], "accept")
    assert (again.status_code, again.json()["code"]) == (409, "referral_not_open")
    [leaf] = [decode(x) for x in ctx.audit.log.store.find_leaves(limit=1000)
              if decode(x)["kind"] == "referral.declined"]
    assert leaf["facts"]["reason"] == "wachtlijst" and leaf["partner"] == CAW


@pytest.mark.usefixtures("helped")
def test_only_the_receiver_answers_and_only_in_order(api: TestClient, settings: Settings) -> None:
    _consent_for_caw(api, settings)
    created = _refer(api, settings)
    assert _post(api, settings, OCMW, created["id"], "accept").status_code == 404
    assert _post(api, settings, DMW, created["id"], "accept").status_code == 404
    early = _post(api, settings, CAW, created["id"], "complete")
    assert (early.status_code, early.json()["code"]) == (409, "referral_not_open")
    _post(api, settings, CAW, created["id"], "accept")
    done = _post(api, settings, CAW, created["id"], "complete")
    assert done.status_code == 200 and done.json()["status"] == "completed"
    assert _post(api, settings, CAW, created["id"], "drop").status_code == 409


@pytest.mark.usefixtures("helped")
def test_drop_out_notifies_the_clients_coordinator(
    api: TestClient, settings: Settings
) -> None:
    _coordinate(api, settings, DMW)
    _consent_for_caw(api, settings)
    created = _refer(api, settings)
    _post(api, settings, CAW, created["id"], "accept")
    dropped = _post(api, settings, CAW, created["id"], "drop")
    assert dropped.status_code == 200 and dropped.json()["status"] == "dropped"
    [notice] = _feed(api, settings, DMW)
    assert (notice["kind"], notice["referral_id"], notice["partner"]) == (
        "referral_dropped", created["id"], CAW)
    assert set(notice) == {"id", "kind", "referral_id", "partner", "created_at"}
    assert _feed(api, settings, CAW) == [] and _feed(api, settings, OCMW) == []


@pytest.mark.usefixtures("helped")
def test_referral_unanswered_for_14_days_expires_and_notifies_the_coordinator(
    api: TestClient, settings: Settings, ctx: BrokerContext
) -> None:
    _coordinate(api, settings, DMW)
    _consent_for_caw(api, settings)
    created = _refer(api, settings)
    assert _feed(api, settings, DMW) == []
    with session_scope(ctx.engine) as session:  # fourteen days later
        row = session.exec(select(ReferralRow)).one()
        assert row.expires_at - row.created_at == timedelta(days=14)
        row.expires_at = datetime.now(UTC) - timedelta(seconds=1)
        session.add(row)
        session.commit()
    [notice] = _feed(api, settings, DMW)
    assert (notice["kind"], notice["referral_id"], notice["partner"]) == (
        "referral_expired", created["id"], CAW)
    assert _status(api, settings, created["id"]) == "expired"
    late = _post(api, settings, CAW, created["id"], "accept")
    assert (late.status_code, late.json()["code"]) == (409, "referral_not_open")
    assert _feed(api, settings, DMW) == [notice]  # once: unacknowledged, not duplicated
    assert _kinds(ctx).count("referral.expired") == 1


@pytest.mark.usefixtures("helped")
def test_listing_by_role_and_status(api: TestClient, settings: Settings) -> None:
    _consent_for_caw(api, settings)
    first = _refer(api, settings)
    second = _refer(api, settings, reason="huisvesting")
    _post(api, settings, CAW, first["id"], "decline", {"reason": "geen_aanbod"})
    def ids(partner: str, query: str) -> list[str]:
        response = api.get(f"/v1/referrals?{query}", headers=partner_auth(settings, partner))
        assert response.status_code == 200, response.text
        return [r["id"] for r in response.json()["referrals"]]

    assert ids(OCMW, "role=from") == [second["id"], first["id"]]
    assert ids(CAW, "role=to&status=declined") == [first["id"]]
    assert ids(CAW, "role=to&status=proposed") == [second["id"]]
    assert ids(OCMW, "role=to") == [] and ids(CAW, "role=from") == []


@pytest.mark.usefixtures("helped")
def test_every_state_change_is_audited_without_message_or_insz(
    api: TestClient, settings: Settings, ctx: BrokerContext
) -> None:
    created = _refer(api, settings)
    api.post(f"/v1/me/consent-requests/{created['consent_request_id']}/approve",
             headers=client_auth(settings))
    _post(api, settings, CAW, created["id"], "accept")
    _post(api, settings, CAW, created["id"], "complete")
    kinds = _kinds(ctx)
    for kind in ("created", "consent_given", "accepted", "completed"):
        assert kinds.count(f"referral.{kind}") == 1, kind
    assert "relation.created" in kinds and "consent_request.created" in kinds
    stored = b"".join(x.leaf for x in ctx.audit.log.store.find_leaves(limit=1000))
    assert b"marker-a41f" not in stored and VALID_INSZ.encode() not in stored
    [created_leaf] = [decode(x) for x in ctx.audit.log.store.find_leaves(limit=1000)
                      if decode(x)["kind"] == "referral.created"]
    assert created_leaf["facts"]["referral_reason"] == "schulden"
    assert created_leaf["facts"]["to_partner"] == CAW


# --- coordinator -----------------------------------------------------------------------------


def _coordinator(api: TestClient, settings: Settings, partner: str) -> Any:
    response = api.request("GET", "/v1/coordination", json={"insz": VALID_INSZ},
                           headers=partner_auth(settings, partner))
    assert response.status_code == 200, response.text
    return response.json()["coordinator"]


def test_coordination_needs_a_joint_support_consent(
    api: TestClient, settings: Settings, ctx: BrokerContext
) -> None:
    declare_relation(api, settings, DMW)
    give_consent(api, settings, recipients=[{"kind": "network", "id": "gbo-gent"}],
                 purposes=["doorverwijzing"], sections=["identiteit"])
    refused = api.put("/v1/coordination", json={"insz": VALID_INSZ},
                      headers=partner_auth(settings, DMW))
    assert (refused.status_code, refused.json()["code"]) == (403, "coordination_refused")
    assert refused.headers["content-type"] == "application/problem+json"
    assert "no_consent_for_purpose" in refused.json()["detail"]
    assert _coordinator(api, settings, DMW) is None
    assert "coordination.refused" in _kinds(ctx)


def test_coordinator_is_changeable_audited_and_disclosed_as_far_as_policy_allows(
    api: TestClient, settings: Settings, ctx: BrokerContext
) -> None:
    _coordinate(api, settings, DMW)
    assert _coordinator(api, settings, DMW) == DMW
    # ocmw helps the client and the joint-support consent covers the whole network.
    declare_relation(api, settings, OCMW)
    assert _coordinator(api, settings, OCMW) == DMW
    # caw has no relation: it learns nothing, as if there were no coordinator.
    assert _coordinator(api, settings, CAW) is None
    taken = api.put("/v1/coordination", json={"insz": VALID_INSZ},
                    headers=partner_auth(settings, OCMW))
    assert taken.json()["coordinator"] == OCMW
    assert _coordinator(api, settings, DMW) == OCMW
    leaves = [decode(x) for x in ctx.audit.log.store.find_leaves(limit=1000)
              if decode(x)["kind"] == "coordination.set"]
    assert [(x["partner"], x["facts"]["coordinator_before"]) for x in leaves] == [
        (DMW, None), (OCMW, DMW)]


def test_ended_relation_notifies_the_coordinator(api: TestClient, settings: Settings) -> None:
    _coordinate(api, settings, DMW)
    relation = declare_relation(api, settings, CAW)
    api.post(f"/v1/relations/{relation['id']}/end", headers=partner_auth(settings, CAW))
    [notice] = _feed(api, settings, DMW)
    assert (notice["kind"], notice["relation_id"], notice["partner"]) == (
        "relation_ended", relation["id"], CAW)


# --- bad input -------------------------------------------------------------------------------


@pytest.mark.usefixtures("helped")
@pytest.mark.parametrize(("bad", "code"), [
    ({"to": "nobody"}, "unknown_partner"),
    ({"to": OCMW}, "referral_to_itself"),
    ({"to": "buurtwerk-gent"}, "referral_target_unavailable"),
    ({"reason": "verveling"}, "unknown_referral_reason"),
    ({"reason": "Schulden 85073003328"}, "invalid_request"),
    ({"sections": ["inkomen"]}, "section_not_for_referral"),
    ({"sections": ["werkaantekeningen"]}, "section_not_for_referral"),
    ({"sections": ["contact", "contact"]}, "section_not_for_referral"),
    ({"sections": []}, "invalid_request"),
    ({"message": "x" * 1001}, "invalid_request"),
    ({"insz": "85073003329"}, "invalid_request"),
    ({"extra": 1}, "invalid_request"),
], ids=["unknown_partner", "itself", "not_bound_by_secrecy", "unknown_reason",
        "reason_not_a_code", "section_not_needed", "never_shared_section", "duplicate_section",
        "no_sections", "message_too_long", "bad_insz", "unknown_field"])
def test_bad_referral_is_refused_with_a_clear_error(
    api: TestClient, settings: Settings, ctx: BrokerContext, bad: dict[str, Any], code: str
) -> None:
    response = api.post("/v1/referrals", json=_referral(**bad),
                        headers=partner_auth(settings, OCMW))
    assert (response.status_code, response.json()["code"]) == (422, code)
    assert response.headers["content-type"] == "application/problem+json"
    assert "marker-a41f" not in response.text and VALID_INSZ not in response.text
    assert not any(k.startswith("referral.") for k in _kinds(ctx))


def test_referral_needs_a_valid_help_relation(api: TestClient, settings: Settings) -> None:
    response = api.post("/v1/referrals", json=_referral(), headers=partner_auth(settings, OCMW))
    assert (response.status_code, response.json()["code"]) == (403, "no_valid_help_relation")


@pytest.mark.parametrize("query", ["role=both", "status=lost", "role=from&status=Proposed"])
def test_bad_listing_query_is_refused(api: TestClient, settings: Settings, query: str) -> None:
    response = api.get(f"/v1/referrals?{query}", headers=partner_auth(settings, OCMW))
    assert (response.status_code, response.json()["code"]) == (422, "invalid_request")


@pytest.mark.parametrize("step", ["accept", "complete", "drop"])
def test_unknown_referral_is_404(api: TestClient, settings: Settings, step: str) -> None:
    response = _post(api, settings, CAW, "rf-" + "0" * 32, step)
    assert (response.status_code, response.json()["code"]) == (404, "referral_not_found")


@pytest.mark.parametrize("body", [{}, {"insz": "123"}, {"insz": VALID_INSZ, "x": 1}],
                         ids=["no_insz", "bad_insz", "unknown_field"])
def test_bad_coordination_body_is_refused(api: TestClient, settings: Settings,
                                          body: dict[str, Any]) -> None:
    for method in ("PUT", "GET"):
        response = api.request(method, "/v1/coordination", json=body,
                               headers=partner_auth(settings, DMW))
        assert (response.status_code, response.json()["code"]) == (422, "invalid_request")


# --- FHIR R5 Task ----------------------------------------------------------------------------


@pytest.mark.usefixtures("helped")
def test_referral_exports_as_a_valid_fhir_r5_task_that_follows_its_status(
    api: TestClient, settings: Settings
) -> None:
    from fhir.resources.task import Task

    _consent_for_caw(api, settings)
    created = _refer(api, settings)

    def task(partner: str = OCMW) -> Any:
        response = api.get(f"/v1/referrals/{created['id']}/fhir",
                           headers=partner_auth(settings, partner))
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "application/fhir+json"
        assert VALID_INSZ not in response.text and "marker-a41f" not in response.text
        return Task.model_validate_json(response.text)

    requested = task()
    assert (requested.status, requested.intent) == ("requested", "order")
    assert requested.owner.identifier.value == CAW
    assert requested.requester.identifier.value == OCMW
    assert requested.reason[0].concept.coding[0].code == "schulden"
    assert sorted(i.valueCode for i in requested.input) == HANDED
    _post(api, settings, CAW, created["id"], "decline", {"reason": "al_geholpen"})
    declined = task(CAW)
    assert declined.status == "rejected"
    assert declined.statusReason.concept.coding[0].code == "al_geholpen"
    other = api.get(f"/v1/referrals/{created['id']}/fhir", headers=partner_auth(settings, DMW))
    assert (other.status_code, other.json()["code"]) == (404, "referral_not_found")
