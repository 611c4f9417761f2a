"""The attack of a lying partner (DESIGN §9), end to end over HTTP on both backends.

dmw-solidaris never met the client. With its own key alone it declares a help relation, records a
consent "given at the desk" naming itself for every section, and asks for everything. It gets at
most the basis sections (name, contact), never a bijzonder one; the client is told; the
supervisor's review queue lists both records. With the client's eID at the desk, or the client's
own approval of a consent request, the same partner gets what the consent names.
"""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from broker.settings import Settings
from tests.factories import (
    VALID_INSZ,
    auth,
    client_auth,
    declare_relation,
    eid_presence,
    in_days,
    issuer_token,
    make_entry,
    partner_auth,
)

ATTACKER = "dmw-solidaris"
EVERYTHING = ["identiteit", "contact", "inkomen", "huisvesting", "gezondheid", "justitie"]
TERMS: dict[str, Any] = {
    "recipients": [{"kind": "partner", "id": ATTACKER}],
    "purposes": ["gezamenlijke_begeleiding"],
    "sections": EVERYTHING,
    "valid_until": in_days(300),
}


def _dossier(api: TestClient, settings: Settings) -> None:
    """The client's real helper, ocmw-gent (eID at its desk), wrote one entry per section."""
    declare_relation(api, settings, "ocmw-gent")
    for section in EVERYTHING:
        response = api.post("/v1/entries", json=make_entry(section=section,
                                                           content={"s": section}),
                            headers=partner_auth(settings, "ocmw-gent"))
        assert response.status_code == 201


def _ask(api: TestClient, settings: Settings) -> dict[str, Any]:
    response = api.post("/v1/access-requests", json={
        "insz": VALID_INSZ, "purpose": "gezamenlijke_begeleiding", "sections": EVERYTHING},
        headers=partner_auth(settings, ATTACKER))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _released(body: dict[str, Any]) -> set[str]:
    return {name for name, s in body["sections"].items() if s.get("entries")}


def test_partner_alone_gets_basis_sections_only_and_is_reported(
    api: TestClient, settings: Settings
) -> None:
    _dossier(api, settings)
    relation = declare_relation(api, settings, ATTACKER, eid=False)
    assert relation["proof"] == "attested"
    consent = api.post("/v1/consents", json={
        **TERMS, "insz": VALID_INSZ, "evidence": {"method": "verbal_at_desk"}},
        headers=partner_auth(settings, ATTACKER))
    assert consent.status_code == 201 and consent.json()["consent"]["proof"] == "attested"

    body = _ask(api, settings)
    assert _released(body) == {"identiteit", "contact"}
    for section in ("inkomen", "huisvesting", "gezondheid", "justitie"):
        assert body["sections"][section] == {"verdict": "denied",
                                             "reasons": ["needs_client_proof"]}

    # The client is told: both desk records, with their proof, the consent revocable at once.
    notices = api.get("/v1/me/notices", headers=client_auth(settings)).json()["records"]
    mine = {(n["kind"], n["partner"]): n for n in notices}
    assert mine[("relation", ATTACKER)]["proof"] == "attested"
    assert mine[("consent", ATTACKER)]["revocable"] is True
    assert mine[("relation", "ocmw-gent")]["proof"] == "eid"

    # The supervisor sees both in the review queue.
    supervisor = auth(issuer_token(settings, role="auditor", scope="supervisor"))
    queue = api.get("/v1/audit/review-queue", headers=supervisor).json()
    queued = {(r["kind"], r["partner"]) for r in queue["records"]}
    assert {("consent", ATTACKER), ("relation", ATTACKER)} <= queued
    assert ("relation", "ocmw-gent") not in queued  # eID-proven: nothing to review

    # One click: the client revokes the attested consent, and the partner gets nothing more.
    consent_id = mine[("consent", ATTACKER)]["id"]
    assert api.post(f"/v1/me/consents/{consent_id}/revoke",
                    headers=client_auth(settings)).status_code == 200
    assert _released(_ask(api, settings)) == set()


def test_partner_with_the_clients_eid_gets_what_the_consent_names(
    api: TestClient, settings: Settings
) -> None:
    _dossier(api, settings)
    declare_relation(api, settings, ATTACKER, eid=True)
    consent = api.post("/v1/consents", json={
        **TERMS, "insz": VALID_INSZ, "evidence": {"method": "verbal_at_desk"},
        "presence": eid_presence(api, settings, ATTACKER, VALID_INSZ)},
        headers=partner_auth(settings, ATTACKER))
    assert consent.status_code == 201 and consent.json()["consent"]["proof"] == "eid"
    assert _released(_ask(api, settings)) == set(EVERYTHING)


def test_partner_with_a_client_approved_request_gets_what_the_client_approved(
    api: TestClient, settings: Settings
) -> None:
    _dossier(api, settings)
    declare_relation(api, settings, ATTACKER, eid=False)
    asked = api.post("/v1/consent-requests", json={
        **TERMS, "insz": VALID_INSZ, "message": "Mogen we samen je dossier opvolgen?"},
        headers=partner_auth(settings, ATTACKER))
    assert asked.status_code == 201 and asked.json()["status"] == "pending"
    assert _released(_ask(api, settings)) == set()  # a request is no consent

    approved = api.post(f"/v1/me/consent-requests/{asked.json()['id']}/approve",
                        json={"sections": ["identiteit", "inkomen", "gezondheid"]},
                        headers=client_auth(settings))
    assert approved.status_code == 201, approved.text
    assert approved.json()["consent"]["proof"] == "client"
    assert _released(_ask(api, settings)) == {"identiteit", "inkomen", "gezondheid"}
