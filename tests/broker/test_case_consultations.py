"""Case consultations over HTTP (DESIGN §10: casusoverleg, art. 458ter Sw.): opened by the
supervisor, sections for purpose casusoverleg without consent to participants while it is open,
nothing outside it, no existence leak to non-participants, the client told at its end. Runs on
SQLite and PostgreSQL (``api``). The end date is reached by moving the stored period into the
past (no sleeping)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from broker.context import BrokerContext
from broker.services.case_consultations import add_months
from broker.settings import Settings
from broker.store.consultations import CaseConsultation
from tests.factories import (
    VALID_INSZ,
    auth,
    client_auth,
    declare_relation,
    in_days,
    issuer_token,
    make_desk_consent,
    make_entry,
    partner_auth,
)

CAW = "caw-oost-vlaanderen"
OCMW = "ocmw-gent"
DMW = "dmw-cm"
GOAL = "Veiligheid van de kinderen bespreken na melding van geweld."


def supervisor(settings: Settings, scope: str = "supervisor") -> dict[str, str]:
    return auth(issuer_token(settings, role="auditor", scope=scope, sub="toezicht-1"))


def opening(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "insz": VALID_INSZ,
        "legal_basis": {"code": "procureur", "reference": "PK-2026-0417"},
        "goal": GOAL, "participants": [CAW, OCMW], "until": in_days(60),
    }
    body.update(overrides)
    return body


def open_consultation(api: TestClient, settings: Settings, **overrides: Any) -> dict[str, Any]:
    response = api.post("/v1/case-consultations", json=opening(**overrides),
                        headers=supervisor(settings))
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def ask(api: TestClient, settings: Settings, partner: str = CAW,
        purpose: str = "casusoverleg", sections: list[str] | None = None) -> dict[str, Any]:
    response = api.post("/v1/access-requests", json={
        "insz": VALID_INSZ, "purpose": purpose,
        "sections": sections or ["identiteit", "justitie"]},
        headers=partner_auth(settings, partner))
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


@pytest.fixture
def dossier(api: TestClient, settings: Settings) -> dict[str, str]:
    """The OCMW wrote a justitie entry; the CAW and the DMW help the client (no consent)."""
    declare_relation(api, settings, OCMW)
    declare_relation(api, settings, CAW, eid=False)
    declare_relation(api, settings, DMW, eid=False)
    written = api.post("/v1/entries", json=make_entry(section="justitie",
                                                      content={"feit": "melding"}),
                       headers=partner_auth(settings, OCMW))
    assert written.status_code == 201, written.text
    return {"justitie": written.json()["id"]}


def _move_into_past(ctx: BrokerContext, consultation_id: str) -> None:
    """The end date passed: the stored period now lies before now."""
    with Session(ctx.engine) as session:
        row = session.get(CaseConsultation, consultation_id)
        assert row is not None
        now = datetime.now(UTC)
        row.opened_at, row.until = now - timedelta(days=30), now - timedelta(seconds=1)
        session.add(row)
        session.commit()


def test_participant_gets_sections_without_consent_inside(
        api: TestClient, settings: Settings, ctx: BrokerContext,
        dossier: dict[str, str]) -> None:
    cc = open_consultation(api, settings)
    answer = ask(api, settings)
    assert answer["sections"]["justitie"]["verdict"] == "granted"
    assert answer["sections"]["justitie"]["reasons"] == ["legal_basis"]
    assert [e["id"] for e in answer["sections"]["justitie"]["entries"]] == [dossier["justitie"]]
    assert answer["obligations"] == ["no_onward_disclosure"]
    assert answer["consultations"] == [cc["id"]]
    leaf = ctx.audit.log.store.leaf(answer["audit"]["index"])
    assert leaf is not None
    facts = json.loads(leaf.leaf)["facts"]
    assert facts == {"obligations": ["no_onward_disclosure"], "consultation_ids": [cc["id"]]}


def test_non_participant_denied(api: TestClient, settings: Settings,
                                dossier: dict[str, str]) -> None:
    open_consultation(api, settings)
    answer = ask(api, settings, partner=DMW)
    assert answer["sections"]["justitie"] == {"verdict": "denied",
                                              "reasons": ["no_open_consultation"]}
    assert answer["obligations"] == [] and "consultations" not in answer


def test_other_purpose_still_needs_consent(api: TestClient, settings: Settings,
                                           dossier: dict[str, str]) -> None:
    open_consultation(api, settings)
    answer = ask(api, settings, purpose="hulpvraagverheldering", sections=["identiteit"])
    assert answer["sections"]["identiteit"]["verdict"] == "denied"
    assert "no_consent_for_section" in answer["sections"]["identiteit"]["reasons"]


def test_denied_after_close(api: TestClient, settings: Settings,
                            dossier: dict[str, str]) -> None:
    cc = open_consultation(api, settings)
    closed = api.post(f"/v1/case-consultations/{cc['id']}/close", headers=supervisor(settings))
    assert closed.status_code == 200, closed.text
    assert closed.json()["status"] == "ended"
    answer = ask(api, settings)
    assert answer["sections"]["justitie"]["reasons"] == ["no_open_consultation"]
    again = api.post(f"/v1/case-consultations/{cc['id']}/close", headers=supervisor(settings))
    assert again.status_code == 409
    assert again.json()["code"] == "case_consultation_ended"


def test_denied_after_end_date_and_client_told(api: TestClient, settings: Settings,
                                               ctx: BrokerContext,
                                               dossier: dict[str, str]) -> None:
    cc = open_consultation(api, settings)
    ask(api, settings)
    # while it is open the client sees neither the consultation nor the accesses under it
    assert api.get("/v1/me/case-consultations",
                   headers=client_auth(settings)).json() == {"consultations": []}
    log = api.get("/v1/me/access-log", headers=client_auth(settings)).json()["entries"]
    assert [e for e in log if e["purpose"] == "casusoverleg"] == []
    _move_into_past(ctx, cc["id"])
    answer = ask(api, settings)
    assert answer["sections"]["justitie"]["reasons"] == ["no_open_consultation"]
    told = api.get("/v1/me/case-consultations", headers=client_auth(settings)).json()
    assert [(c["id"], c["legal_basis"], c["goal"], c["participants"])
            for c in told["consultations"]] == [(cc["id"], "procureur", GOAL, [CAW, OCMW])]
    log = api.get("/v1/me/access-log", headers=client_auth(settings)).json()["entries"]
    assert len([e for e in log if e["purpose"] == "casusoverleg"]) == 2


def test_deferred_notice_keeps_client_uninformed(api: TestClient, settings: Settings,
                                                 ctx: BrokerContext,
                                                 dossier: dict[str, str]) -> None:
    cc = open_consultation(api, settings, legal_basis={
        "code": "procureur", "reference": "PK-2026-0418", "defer_client_notice": True})
    assert cc["legal_basis"]["defer_client_notice"] is True
    ask(api, settings)
    _move_into_past(ctx, cc["id"])
    assert api.get("/v1/me/case-consultations",
                   headers=client_auth(settings)).json() == {"consultations": []}
    log = api.get("/v1/me/access-log", headers=client_auth(settings)).json()["entries"]
    assert [e for e in log if e["purpose"] == "casusoverleg"] == []


def test_participant_reads_it_others_get_the_unknown_ids_404(api: TestClient,
                                                             settings: Settings) -> None:
    cc = open_consultation(api, settings)
    shown = api.get(f"/v1/case-consultations/{cc['id']}", headers=partner_auth(settings, CAW))
    assert shown.status_code == 200
    assert shown.json()["goal"] == GOAL and shown.json()["status"] == "open"
    assert VALID_INSZ not in shown.text
    outsider = api.get(f"/v1/case-consultations/{cc['id']}",
                       headers=partner_auth(settings, DMW))
    unknown = api.get(f"/v1/case-consultations/cc-{'0' * 32}",
                      headers=partner_auth(settings, DMW))
    assert outsider.status_code == unknown.status_code == 404
    assert outsider.json() == unknown.json()


def test_procureur_without_reference_refused(api: TestClient, settings: Settings) -> None:
    response = api.post("/v1/case-consultations",
                        json=opening(legal_basis={"code": "procureur"}),
                        headers=supervisor(settings))
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "legal_basis_reference_required"


def test_wet_needs_no_reference(api: TestClient, settings: Settings) -> None:
    cc = open_consultation(api, settings, legal_basis={"code": "wet"})
    assert cc["legal_basis"] == {"code": "wet", "reference": None,
                                 "defer_client_notice": False}


BAD_OPENINGS = [
    ("unknown_legal_basis", {"legal_basis": {"code": "gewoonte"}}, "unknown_legal_basis"),
    ("until_past", {"until": in_days(-1)}, "consultation_end_in_past"),
    ("until_beyond_six_months", {"until": in_days(200)}, "consultation_too_long"),
    ("unknown_participant", {"participants": [CAW, "ocmw-nergens"]}, "unknown_partner"),
    ("participant_not_bound_by_secrecy", {"participants": [CAW, "buurtwerk-gent"]},
     "participant_not_eligible"),
    ("one_participant", {"participants": [CAW, CAW]}, "participant_not_eligible"),
    ("single_participant_list", {"participants": [CAW]}, "invalid_request"),
    ("goal_empty", {"goal": ""}, "invalid_request"),
    ("insz_bad", {"insz": "12345678901"}, "invalid_request"),
    ("unknown_field", {"client": "x"}, "invalid_request"),
    ("until_naive", {"until": "2027-01-01T00:00:00"}, "invalid_request"),
    ("reference_not_string", {"legal_basis": {"code": "procureur", "reference": 7}},
     "invalid_request"),
]


@pytest.mark.parametrize(("overrides", "code"), [c[1:] for c in BAD_OPENINGS],
                         ids=[c[0] for c in BAD_OPENINGS])
def test_bad_opening_is_problem_json(api: TestClient, settings: Settings,
                                     overrides: dict[str, Any], code: str) -> None:
    response = api.post("/v1/case-consultations", json=opening(**overrides),
                        headers=supervisor(settings))
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == code
    assert VALID_INSZ not in response.text


def test_only_the_supervisor_opens_and_closes(api: TestClient, settings: Settings) -> None:
    refused = api.post("/v1/case-consultations", json=opening(),
                       headers=supervisor(settings, scope="network:gbo-gent"))
    assert refused.status_code == 403
    by_partner = api.post("/v1/case-consultations", json=opening(),
                          headers=partner_auth(settings, CAW))
    assert by_partner.status_code == 401
    cc = open_consultation(api, settings)
    close = api.post(f"/v1/case-consultations/{cc['id']}/close",
                     headers=supervisor(settings, scope="partner:ocmw-gent"))
    assert close.status_code == 403


def test_auditors_list_consultations_and_filter_entries(api: TestClient, settings: Settings,
                                                        dossier: dict[str, str]) -> None:
    cc = open_consultation(api, settings)
    ask(api, settings)
    ask(api, settings, partner=OCMW)
    ask(api, settings, partner=DMW)  # denied: relies on no consultation
    listed = api.get("/v1/audit/case-consultations", headers=supervisor(settings)).json()
    [line] = listed["consultations"]
    assert (line["id"], line["legal_basis"], line["participants"], line["accesses"]) == \
        (cc["id"], "procureur", [CAW, OCMW], 2)
    assert "goal" not in line
    entries = api.get(f"/v1/audit/entries?consultation={cc['id']}",
                      headers=supervisor(settings)).json()["entries"]
    assert [e["kind"] for e in entries] == ["case_consultation.opened", "access.decision",
                                            "access.decision"]
    dpo = api.get("/v1/audit/case-consultations",
                  headers=supervisor(settings, scope="partner:dmw-cm")).json()
    assert dpo == {"consultations": []}


def test_consent_for_casusoverleg_refused(api: TestClient, settings: Settings) -> None:
    """DESIGN §10: no consent opens casusoverleg, so none may name it."""
    declare_relation(api, settings, OCMW)
    response = api.post("/v1/consents", json=make_desk_consent(
        purposes=["casusoverleg"], sections=["identiteit"]),
        headers=partner_auth(settings, OCMW))
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "purpose_not_by_consent"


def test_goal_reference_and_insz_never_reach_the_audit_log(api: TestClient, settings: Settings,
                                                           ctx: BrokerContext,
                                                           dossier: dict[str, str]) -> None:
    cc = open_consultation(api, settings)
    ask(api, settings)
    api.post(f"/v1/case-consultations/{cc['id']}/close", headers=supervisor(settings))
    leaves = [s.leaf for s in ctx.audit.log.store.iter_leaves(0)]
    assert any(cc["id"].encode() in leaf for leaf in leaves)
    for secret in (GOAL, "PK-2026-0417", VALID_INSZ):
        assert not any(secret.encode() in leaf for leaf in leaves), secret
    with Session(ctx.engine) as session:
        row = session.get(CaseConsultation, cc["id"])
        assert row is not None and GOAL.encode() not in row.secret_ct


def test_unknown_consultation_close_is_404(api: TestClient, settings: Settings) -> None:
    response = api.post(f"/v1/case-consultations/cc-{'a' * 32}/close",
                        headers=supervisor(settings))
    assert response.status_code == 404
    assert response.json()["code"] == "case_consultation_not_found"


@pytest.mark.parametrize("path", ["/v1/case-consultations/nope",
                                  "/v1/case-consultations/cc-XYZ/close",
                                  "/v1/audit/entries?consultation=85073003328"],
                         ids=["get_bad_id", "close_bad_id", "audit_filter_bad_id"])
def test_bad_consultation_id_is_problem_json(api: TestClient, settings: Settings,
                                             path: str) -> None:
    headers = supervisor(settings) if "/audit/" in path or path.endswith("/close") \
        else partner_auth(settings, CAW)
    method = api.post if path.endswith("/close") else api.get
    response = method(path, headers=headers)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert "85073003328" not in response.text


@pytest.mark.parametrize(("start", "months", "end"), [
    ("2026-08-31T12:00:00+00:00", 6, "2027-02-28T12:00:00+00:00"),
    ("2026-12-01T00:00:00+00:00", 6, "2027-06-01T00:00:00+00:00"),
    ("2027-08-31T00:00:00+00:00", 6, "2028-02-29T00:00:00+00:00"),
], ids=["clamped_to_february", "over_new_year", "leap_year"])
def test_six_months_ahead_is_calendar_months(start: str, months: int, end: str) -> None:
    assert add_months(datetime.fromisoformat(start), months) == datetime.fromisoformat(end)
