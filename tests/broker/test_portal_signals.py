"""The signal pages of the portals (DESIGN §11): the coordinator goes from signals to a released
bundle with its PDF, CSV and JSON in ``/audit``; other scopes read or get 404; the client opts
out of the figures and back in from ``/mijn``."""

from __future__ import annotations

import io
from datetime import date

from fastapi.testclient import TestClient
from pypdf import PdfReader

from broker.context import BrokerContext
from broker.settings import Settings
from tests.broker.test_portal_audit import csrf_of
from tests.broker.test_portal_audit import login as audit_login
from tests.broker.test_portal_client import login as client_login
from tests.broker.test_signal_bundles import YEAR, seed_accesses
from tests.broker.test_signals import make_signal
from tests.factories import partner_auth

COORDINATOR = "network:gbo-gent"


def test_coordinator_goes_from_signals_to_a_released_bundle_in_the_portal(
    api: TestClient, settings: Settings, ctx: BrokerContext
) -> None:
    seed_accesses(ctx, clients=200, day=date(YEAR, 5, 5))
    signal = api.post("/v1/signals", json=make_signal(), headers=partner_auth(settings)).json()
    csrf = audit_login(api, COORDINATOR)
    page = api.get("/audit/signalen")
    assert page.status_code == 200 and make_signal()["title"] in page.text
    followed = api.post(f"/audit/signalen/{signal['id']}", data={
        "csrf": csrf, "note": "Besproken op het netwerkoverleg.", "status": "gesignaleerd",
        "owner": ""}, follow_redirects=False)
    assert followed.status_code == 303
    assert "Besproken op het netwerkoverleg." in api.get("/audit/signalen").text
    refused = api.post(f"/audit/signalen/{signal['id']}", data={
        "csrf": csrf, "note": "Mail naar an.peeters@example.org", "status": "", "owner": ""})
    assert refused.status_code == 422 and "e-mailadres op teken 11 tot 32" in refused.text
    made = api.post("/audit/bundels", data={"csrf": csrf, "van": f"{YEAR}-04-01",
                                             "tot": f"{YEAR}-06-30"}, follow_redirects=False)
    assert made.status_code == 303
    bundle_url = made.headers["location"]
    assert "Bundel vrijgeven" in api.get(bundle_url).text
    released = api.post(f"{bundle_url}/vrijgeven", data={"csrf": csrf}, follow_redirects=False)
    assert released.status_code == 303
    shown = api.get(bundle_url).text
    assert "vrijgegeven op" in shown and "Hoe deze cijfers tot stand komen" in shown
    pdf = api.get(f"{bundle_url}/rapport.pdf")
    assert pdf.status_code == 200
    text = " ".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.content)).pages)
    assert "Signalenbundel" in " ".join(text.split())
    assert api.get(f"{bundle_url}/cijfers.csv").text.startswith("figuur,kwartaal")
    assert api.get(f"{bundle_url}/bundel.json").json()["status"] == "released"
    again = api.post(f"{bundle_url}/vrijgeven", data={"csrf": csrf})
    assert again.status_code == 409 and "verandert niet meer" in again.text


def test_a_partner_scope_gets_404_and_a_reader_cannot_curate(
    api: TestClient, settings: Settings
) -> None:
    signal = api.post("/v1/signals", json=make_signal(), headers=partner_auth(settings)).json()
    audit_login(api, "partner:ocmw-gent")
    assert api.get("/audit/signalen").status_code == 404
    assert api.get("/audit/bundels").status_code == 404
    csrf = audit_login(api, "supervisor")
    page = api.get("/audit/signalen")
    assert page.status_code == 200 and "Opvolging bewaren" not in page.text
    refused = api.post(f"/audit/signalen/{signal['id']}",
                       data={"csrf": csrf, "note": "Afgesloten.", "status": "afgesloten"})
    assert refused.status_code == 404


def test_client_opts_out_of_figures_and_back_in_from_the_portal(
    api: TestClient, settings: Settings
) -> None:
    client_login(api)
    page = api.get("/mijn/statistiek")
    assert page.status_code == 200 and "Je telt mee" in page.text
    csrf = csrf_of(api, "/mijn/statistiek")
    done = api.post("/mijn/statistiek", data={"csrf": csrf}, follow_redirects=False)
    assert done.status_code == 303
    assert "Je telt niet mee" in api.get("/mijn/statistiek").text
    back = api.post("/mijn/statistiek/ongedaan", data={"csrf": csrf}, follow_redirects=False)
    assert back.status_code == 303
    assert "Je telt mee" in api.get("/mijn/statistiek").text
    twice = api.post("/mijn/statistiek/ongedaan", data={"csrf": csrf})
    assert twice.status_code == 404 and "Je telde al mee" in twice.text
