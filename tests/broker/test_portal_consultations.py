"""Case consultations in the portals (DESIGN §10): the auditors' list in /audit (legal basis,
participants, period, accesses) within the scope, and in /mijn the consultation that concerned
the client once it ended, unless the notice was deferred. Runs on SQLite and PostgreSQL
(``api``)."""

from __future__ import annotations

from fastapi.testclient import TestClient

from broker.context import BrokerContext
from broker.settings import Settings
from tests.broker import test_portal_audit as audit_portal
from tests.broker import test_portal_client as client_portal
from tests.broker.test_case_consultations import (
    GOAL,
    _move_into_past,
    ask,
    open_consultation,
)
from tests.broker.test_case_consultations import dossier as dossier  # noqa: F401 (fixture)
from tests.broker.test_portal_notices import text_of


def test_auditor_portal_lists_consultations_with_their_accesses(
        api: TestClient, settings: Settings, dossier: dict[str, str]) -> None:
    cc = open_consultation(api, settings)
    ask(api, settings)
    audit_portal.login(api, "supervisor")
    page = api.get("/audit/casusoverleg")
    assert page.status_code == 200
    [row] = audit_portal.table(page.text, "tabel-casusoverleg")
    assert row[0] == cc["id"]
    assert row[1] == "Machtiging van de procureur des Konings"
    assert row[4:7] == ["loopt", "bij het einde", "1"]
    assert "OCMW" in row[2] and "CAW" in row[2]
    assert GOAL not in page.text and "PK-2026-0417" not in page.text


def test_auditor_portal_filters_the_log_by_consultation(
        api: TestClient, settings: Settings, dossier: dict[str, str]) -> None:
    cc = open_consultation(api, settings)
    answer = ask(api, settings)
    ask(api, settings, purpose="hulpvraagverheldering", sections=["identiteit"])  # not under it
    audit_portal.login(api, "supervisor")
    assert f'href="/audit?overleg={cc["id"]}"' in api.get("/audit/casusoverleg").text
    indices, _ = audit_portal.shown(api, f"overleg={cc['id']}")
    assert answer["audit"]["index"] in indices and len(indices) == 2  # its opening, its access
    refused = api.get("/audit?overleg=85073003328")
    assert refused.status_code == 422
    assert "Dit is geen nummer van een casusoverleg" in refused.text
    assert "85073003328" not in refused.text


def test_auditor_portal_shows_a_partner_scope_only_its_consultations(
        api: TestClient, settings: Settings) -> None:
    open_consultation(api, settings)
    audit_portal.login(api, "partner:dmw-cm")
    page = api.get("/audit/casusoverleg")
    assert page.status_code == 200
    assert audit_portal.table(page.text, "tabel-casusoverleg") == [
        ["Er is geen casusoverleg in jouw bereik."]]


def test_client_sees_the_consultation_only_after_its_end(
        api: TestClient, settings: Settings, ctx: BrokerContext,
        dossier: dict[str, str]) -> None:
    cc = open_consultation(api, settings)
    ask(api, settings)
    client_portal.login(api)
    assert "Casusoverleg over jou" not in api.get("/mijn").text
    _move_into_past(ctx, cc["id"])
    shown = text_of(api.get("/mijn").text)
    assert "Casusoverleg over jou" in shown
    assert f"Waarom: {GOAL}" in shown
    assert "Grond: Machtiging van de procureur des Konings" in shown
    log = text_of(api.get("/mijn/toegang").text)
    assert "Zonder je toestemming, in een casusoverleg dat de wet toelaat." in log


def test_client_not_told_when_the_authorisation_defers_it(
        api: TestClient, settings: Settings, ctx: BrokerContext,
        dossier: dict[str, str]) -> None:
    cc = open_consultation(api, settings, legal_basis={
        "code": "procureur", "reference": "PK-1", "defer_client_notice": True})
    _move_into_past(ctx, cc["id"])
    client_portal.login(api)
    assert "Casusoverleg over jou" not in api.get("/mijn").text


