"""The client's controls (DESIGN §9): exclusions and mandates, and the supervisor's review queue,
over HTTP on both backends."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from broker.context import BrokerContext
from broker.settings import Settings
from broker.store.audit_events import decode
from tests.factories import (
    OTHER_INSZ,
    VALID_INSZ,
    auth,
    client_auth,
    declare_relation,
    eid_presence,
    in_days,
    issuer_token,
    make_consent_terms,
    make_entry,
    partner_auth,
    record_consent,
)

CAW = "caw-oost-vlaanderen"
TRUSTED = "90010100123"  # the trusted person's own INSZ (valid check digits)


def _ask(api: TestClient, settings: Settings, partner: str = CAW, **body: Any) -> dict[str, Any]:
    response = api.post("/v1/access-requests", json={
        "insz": VALID_INSZ, "purpose": "rechtenverkenning", "sections": ["inkomen"], **body},
        headers=partner_auth(settings, partner))
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


# --- exclusions ---------------------------------------------------------------------------------


def _excluded_setup(api: TestClient, settings: Settings) -> None:
    record_consent(api, settings, "ocmw-gent")  # caw may see inkomen (partner type consent)
    declare_relation(api, settings, CAW)
    for author in ("ocmw-gent", CAW):
        api.post("/v1/entries", json=make_entry(section="inkomen", content={"a": author}),
                 headers=partner_auth(settings, author))


def test_excluded_partner_gets_nothing_break_glass_and_own_entries_included(
    api: TestClient, settings: Settings
) -> None:
    _excluded_setup(api, settings)
    assert _ask(api, settings)["sections"]["inkomen"]["verdict"] == "granted"
    made = api.post("/v1/me/exclusions", json={"partner": CAW}, headers=client_auth(settings))
    assert made.status_code == 201 and made.json()["active"] is True
    denied = _ask(api, settings)["sections"]["inkomen"]
    assert denied == {"verdict": "denied", "reasons": ["excluded_by_client"]}
    emergency = _ask(api, settings, purpose="noodsituatie", sections=["identiteit", "gezondheid"],
                     justification="Levensgevaar, client bewusteloos aangetroffen thuis.")
    assert {s["verdict"] for s in emergency["sections"].values()} == {"denied"}
    undone = api.delete(f"/v1/me/exclusions/{made.json()['id']}", headers=client_auth(settings))
    assert undone.status_code == 200 and undone.json()["active"] is False
    assert _ask(api, settings)["sections"]["inkomen"]["verdict"] == "granted"


def test_exclusion_errors(api: TestClient, settings: Settings) -> None:
    me = client_auth(settings)
    unknown = api.post("/v1/me/exclusions", json={"partner": "ocmw-nergens"}, headers=me)
    assert (unknown.status_code, unknown.json()["code"]) == (422, "unknown_partner")
    assert api.post("/v1/me/exclusions", json={"partner": CAW}, headers=me).status_code == 201
    twice = api.post("/v1/me/exclusions", json={"partner": CAW}, headers=me)
    assert (twice.status_code, twice.json()["code"]) == (409, "already_excluded")
    [exclusion] = api.get("/v1/me/exclusions", headers=me).json()["exclusions"]
    other = api.delete(f"/v1/me/exclusions/{exclusion['id']}",
                       headers=client_auth(settings, OTHER_INSZ))
    assert (other.status_code, other.json()["code"]) == (404, "exclusion_not_found")
    assert api.delete(f"/v1/me/exclusions/{exclusion['id']}", headers=me).status_code == 200
    again = api.delete(f"/v1/me/exclusions/{exclusion['id']}", headers=me)
    assert again.status_code == 404


def test_exclusions_are_audited(api: TestClient, settings: Settings, ctx: BrokerContext) -> None:
    me = client_auth(settings)
    made = api.post("/v1/me/exclusions", json={"partner": CAW}, headers=me).json()
    api.delete(f"/v1/me/exclusions/{made['id']}", headers=me)
    entries = [decode(x) for x in ctx.audit.log.store.find_leaves(kind_prefix="exclusion.")]
    assert [(e["kind"], e["facts"]["excluded"]) for e in entries] == [
        ("exclusion.created", CAW), ("exclusion.ended", CAW)]
    assert entries[0]["client"] == ctx.keyring.client_ref("gbo-gent", VALID_INSZ)


# --- mandates -----------------------------------------------------------------------------------


def _mandate(api: TestClient, settings: Settings) -> dict[str, Any]:
    response = api.post("/v1/me/mandates", json={
        "insz": TRUSTED, "valid_until": in_days(300), "trusted_person_name": "Jan (broer)",
        "my_name": "An Peeters"}, headers=client_auth(settings))
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def test_trusted_person_manages_consents_on_behalf_and_the_client_sees_who(
    api: TestClient, settings: Settings, ctx: BrokerContext
) -> None:
    mandate = _mandate(api, settings)
    assert (mandate["role"], mandate["proof"], mandate["trusted_person_name"]) == (
        "trusted_person", "client", "Jan (broer)")
    trusted = client_auth(settings, TRUSTED)
    held = api.get("/v1/me/mandates", headers=trusted).json()["held"]
    assert [(m["id"], m["client_name"]) for m in held] == [(mandate["id"], "An Peeters")]
    acting = {**trusted, "X-On-Behalf-Of": mandate["id"]}
    given = api.post("/v1/me/consents", json=make_consent_terms(), headers=acting)
    assert given.status_code == 201, given.text
    version = given.json()["consent"]
    assert version["on_behalf_of"]["mandate_id"] == mandate["id"]
    assert version["proof"] == "client"
    # A consent given under a mandate opens what it names, like the client's own.
    declare_relation(api, settings, CAW)
    assert _ask(api, settings)["sections"]["inkomen"]["verdict"] == "granted"
    # The client sees the consent, and that the trusted person made it.
    [mine] = api.get("/v1/me/consents", headers=client_auth(settings)).json()["consents"]
    assert mine["current"]["on_behalf_of"]["mandate_id"] == mandate["id"]
    # The trusted person's own consents are untouched; the act is audited with the mandate.
    assert api.get("/v1/me/consents", headers=trusted).json()["consents"] == []
    [entry] = [decode(x) for x in ctx.audit.log.store.find_leaves(kind_prefix="consent.")]
    assert entry["facts"]["on_behalf_of"]["mandate_id"] == mandate["id"]
    assert TRUSTED not in repr(entry) and VALID_INSZ not in repr(entry)
    revoked = api.post(f"/v1/me/consents/{version['id']}/revoke", headers=acting)
    assert revoked.status_code == 200
    assert revoked.json()["consent"]["on_behalf_of"]["mandate_id"] == mandate["id"]


def test_a_mandate_never_opens_the_dossier(api: TestClient, settings: Settings) -> None:
    record_consent(api, settings)
    api.post("/v1/entries", json=make_entry(content={"geheim": "marker-dossier-2b"}),
             headers=partner_auth(settings))
    mandate = _mandate(api, settings)
    acting = {**client_auth(settings, TRUSTED), "X-On-Behalf-Of": mandate["id"]}
    dossier = api.get("/v1/me/dossier", headers=acting)
    log = api.get("/v1/me/access-log", headers=acting)
    for response in (dossier, log):
        assert "marker-dossier-2b" not in response.text
    assert dossier.status_code in (404, 200)
    assert dossier.status_code == 404 or dossier.json()["entries"] == []


@pytest.mark.parametrize("header", ["m-" + "0" * 32, "not-a-mandate"],
                         ids=["unknown_mandate", "malformed_id"])
def test_acting_under_a_mandate_one_does_not_hold_is_refused(
    api: TestClient, settings: Settings, header: str
) -> None:
    response = api.get("/v1/me/consents", headers={**client_auth(settings, TRUSTED),
                                                   "X-On-Behalf-Of": header})
    assert response.status_code in (404, 422)
    assert response.headers["content-type"] == "application/problem+json"


def test_revoked_mandate_no_longer_acts_and_self_mandate_is_refused(
    api: TestClient, settings: Settings
) -> None:
    mandate = _mandate(api, settings)
    assert api.delete(f"/v1/me/mandates/{mandate['id']}",
                      headers=client_auth(settings)).json()["valid"] is False
    acting = {**client_auth(settings, TRUSTED), "X-On-Behalf-Of": mandate["id"]}
    response = api.get("/v1/me/consents", headers=acting)
    assert (response.status_code, response.json()["code"]) == (404, "mandate_not_found")
    self = api.post("/v1/me/mandates", json={"insz": VALID_INSZ, "valid_until": in_days(30)},
                    headers=client_auth(settings))
    assert (self.status_code, self.json()["code"]) == (422, "self_mandate")


def test_legal_representative_is_recorded_at_the_desk_with_their_own_eid(
    api: TestClient, settings: Settings
) -> None:
    declare_relation(api, settings)
    body = {"insz": VALID_INSZ, "representative_insz": TRUSTED, "valid_until": in_days(300),
            "presence": eid_presence(api, settings, "ocmw-gent", TRUSTED)}
    made = api.post("/v1/mandates", json=body, headers=partner_auth(settings))
    assert made.status_code == 201, made.text
    assert (made.json()["role"], made.json()["proof"]) == ("legal_representative", "eid")
    held = api.get("/v1/me/mandates", headers=client_auth(settings, TRUSTED)).json()["held"]
    assert [m["id"] for m in held] == [made.json()["id"]]
    # The client's own card is no proof of the representative.
    wrong = {**body, "presence": eid_presence(api, settings, "ocmw-gent", VALID_INSZ)}
    refused = api.post("/v1/mandates", json=wrong, headers=partner_auth(settings))
    assert (refused.status_code, refused.json()["code"]) == (403, "presence_not_proven")


# --- the supervisor's review queue --------------------------------------------------------------


def _supervisor(settings: Settings, scope: str = "supervisor") -> dict[str, str]:
    return auth(issuer_token(settings, role="auditor", scope=scope))


def test_review_queue_lists_attested_records_and_marks_them_reviewed(
    api: TestClient, settings: Settings, ctx: BrokerContext
) -> None:
    record_consent(api, settings, "dmw-cm", eid=False)
    queue = api.get("/v1/audit/review-queue", headers=_supervisor(settings)).json()
    kinds = sorted(r["kind"] for r in queue["records"])
    assert kinds == ["consent", "relation"]
    assert queue["per_partner_month"][0]["partner"] == "dmw-cm"
    assert (queue["per_partner_month"][0]["consents"],
            queue["per_partner_month"][0]["relations"]) == (1, 1)
    consent = next(r for r in queue["records"] if r["kind"] == "consent")
    marked = api.post(f"/v1/audit/review-queue/consent/{consent['id']}",
                      json={"note": "Gebeld met de klant: klopt."}, headers=_supervisor(settings))
    assert marked.status_code == 200 and marked.json()["note"] == "Gebeld met de klant: klopt."
    again = api.post(f"/v1/audit/review-queue/consent/{consent['id']}",
                     json={"note": "nog eens"}, headers=_supervisor(settings))
    assert (again.status_code, again.json()["code"]) == (404, "review_record_not_found")
    open_ = api.get("/v1/audit/review-queue?reviewed=false", headers=_supervisor(settings))
    assert [r["kind"] for r in open_.json()["records"]] == ["relation"]
    [entry] = [decode(x) for x in ctx.audit.log.store.find_leaves(kind_prefix="review.")]
    assert "klopt" not in repr(entry)  # the note stays out of the log


def test_review_queue_needs_the_supervisor_scope(api: TestClient, settings: Settings) -> None:
    for scope in ("partner:dmw-cm", "network:gbo-gent"):
        response = api.get("/v1/audit/review-queue", headers=_supervisor(settings, scope))
        assert (response.status_code, response.json()["code"]) == (403, "forbidden")
