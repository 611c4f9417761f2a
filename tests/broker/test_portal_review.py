"""The supervisor's review queue in /audit (DESIGN §9): attested consents and relations listed
(kind, partner, network, date, reviewed or not), marked reviewed with a note, counted per partner
per month; only the supervisor scope sees it. Runs on SQLite and PostgreSQL (``api``)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from broker.context import BrokerContext
from broker.portal.texts import month_nl
from broker.settings import Settings
from broker.store.audit_events import decode
from tests.broker.test_portal_audit import login, table
from tests.broker.test_portal_notices import text_of
from tests.factories import OTHER_INSZ, VALID_INSZ, auth, issuer_token, record_consent

MARK = re.compile(r'action="/audit/nazicht/(consent|relation)/([^"]+)"')
NOTE = "Gebeld met de cliënt: ze bevestigt het gesprek aan de balie."


def queue_api(api: TestClient, settings: Settings) -> list[dict[str, Any]]:
    token = issuer_token(settings, role="auditor", scope="supervisor")
    response = api.get("/v1/audit/review-queue", headers=auth(token))
    assert response.status_code == 200, response.text
    records: list[dict[str, Any]] = response.json()["records"]
    return records


@pytest.fixture
def attested(api: TestClient, settings: Settings) -> dict[str, str]:
    """OCMW Gent records An's relation and consent on its worker's word; DMW CM helps Bram with
    his eID read (nothing to review) and records his consent on its word."""
    consent = record_consent(api, settings, "ocmw-gent", eid=False)["consent"]["id"]
    record_consent(api, settings, "dmw-cm", eid=True, insz=OTHER_INSZ)
    paper = record_consent(api, settings, "dmw-cm", eid=False, insz=OTHER_INSZ)["consent"]["id"]
    return {"ocmw": consent, "dmw": paper}


def test_the_queue_lists_attested_records_with_kind_partner_network_and_date(
    api: TestClient, attested: dict[str, str]
) -> None:
    login(api, "supervisor")
    page = api.get("/audit/nazicht")
    assert page.status_code == 200
    marks = MARK.findall(page.text)
    consents = {record_id for kind, record_id in marks if kind == "consent"}
    assert consents == set(attested.values())
    # OCMW Gent's relation was attested; DMW CM's relations: one attested, one with the eID.
    assert [kind for kind, _ in marks].count("relation") == 2
    said = text_of(page.text)
    assert "Toestemming van OCMW Gent" in said and "Hulpverleningsrelatie van OCMW Gent" in said
    assert "Netwerk GBO Gent" in said and "Nagekeken Nee, nog niet" in said
    assert VALID_INSZ not in page.text and OTHER_INSZ not in page.text


def test_counts_per_partner_per_month(api: TestClient, attested: dict[str, str]) -> None:
    login(api, "supervisor")
    rows = table(api.get("/audit/nazicht").text, "tabel-per-maand")
    month = rows[0][0]
    assert month.split()[0] in ("januari", "februari", "maart", "april", "mei", "juni", "juli",
                                "augustus", "september", "oktober", "november", "december")
    by_partner = {row[1]: row[2:] for row in rows}
    assert by_partner == {"OCMW Gent": ["1", "1", "2"],
                          "Dienst Maatschappelijk Werk CM": ["1", "1", "2"]}


def test_mark_reviewed_with_a_note(api: TestClient, settings: Settings, ctx: BrokerContext,
                                   attested: dict[str, str]) -> None:
    token = login(api, "supervisor")
    record_id = attested["ocmw"]
    response = api.post(f"/audit/nazicht/consent/{record_id}",
                        data={"csrf": token, "note": NOTE, "toon": "open"},
                        follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/audit/nazicht?klaar=nagekeken&toon=open"
    waiting = api.get(response.headers["location"]).text
    assert "Gelukt." in waiting and record_id not in waiting  # no longer waiting
    done = api.get("/audit/nazicht?toon=nagekeken").text
    assert record_id in done and NOTE in done
    assert "Ja, op" in text_of(done) and "Toezichthouder" in done
    [marked] = [r for r in queue_api(api, settings) if r["id"] == record_id]
    assert marked["note"] == NOTE and marked["reviewed_at"] is not None
    entries = [decode(x) for x in ctx.audit.log.store.find_leaves(limit=1000)]
    [audited] = [e for e in entries if e["kind"] == "review.marked"]
    assert audited["partner"] == "ocmw-gent"
    assert NOTE not in repr(entries)  # the note never reaches the log (DESIGN §9)


@pytest.mark.parametrize(("note", "message", "status"), [
    ("", "Schrijf een korte notitie bij je nazicht.", 422),
    ("   ", "Schrijf een korte notitie bij je nazicht.", 422),
    ("x" * 501, "Je notitie is te lang", 422),
], ids=["empty", "blank", "too-long"])
def test_a_bad_note_is_refused_in_dutch_and_marks_nothing(
    api: TestClient, settings: Settings, attested: dict[str, str], note: str, message: str,
    status: int,
) -> None:
    token = login(api, "supervisor")
    response = api.post(f"/audit/nazicht/consent/{attested['ocmw']}",
                        data={"csrf": token, "note": note})
    assert response.status_code == status
    assert message in response.text and 'role="alert"' in response.text
    assert 'aria-invalid="true"' in response.text
    assert all(r["reviewed_at"] is None for r in queue_api(api, settings))


def test_a_record_reviewed_already_or_unknown_is_refused(api: TestClient, settings: Settings,
                                                        attested: dict[str, str]) -> None:
    token = login(api, "supervisor")
    path = f"/audit/nazicht/consent/{attested['dmw']}"
    assert api.post(path, data={"csrf": token, "note": NOTE}).status_code == 200
    for target in (path, "/audit/nazicht/consent/cs-bestaat-niet",
                   "/audit/nazicht/relation/cs-bestaat-niet"):
        again = api.post(target, data={"csrf": token, "note": "nog eens"})
        assert again.status_code == 404
        assert "Dit item staat niet meer in de wachtrij" in again.text
    assert api.post("/audit/nazicht/toestemming/x", data={"csrf": token,
                                                          "note": NOTE}).status_code == 404
    [marked] = [r for r in queue_api(api, settings) if r["id"] == attested["dmw"]]
    assert marked["note"] == NOTE


@pytest.mark.parametrize("scope", ["partner:ocmw-gent", "network:gbo-gent"])
def test_other_scopes_get_the_not_found_page(api: TestClient, settings: Settings,
                                             attested: dict[str, str], scope: str) -> None:
    token = login(api, scope)
    assert 'href="/audit/nazicht"' not in api.get("/audit").text
    page = api.get("/audit/nazicht")
    assert page.status_code == 404 and "Niet gevonden" in page.text
    marked = api.post(f"/audit/nazicht/consent/{attested['ocmw']}",
                      data={"csrf": token, "note": NOTE})
    assert marked.status_code == 404
    assert all(r["reviewed_at"] is None for r in queue_api(api, settings))


def test_the_supervisor_has_the_queue_in_the_menu_and_needs_a_login(api: TestClient) -> None:
    assert api.get("/audit/nazicht", follow_redirects=False).headers["location"] == "/audit/login"
    login(api, "supervisor")
    assert 'href="/audit/nazicht"' in api.get("/audit").text


@pytest.mark.parametrize("token", [None, "wrong"], ids=["missing", "wrong"])
def test_marking_without_the_csrf_token_changes_nothing(
    api: TestClient, settings: Settings, attested: dict[str, str], token: str | None
) -> None:
    login(api, "supervisor")
    data = {"note": NOTE, **({"csrf": token} if token else {})}
    response = api.post(f"/audit/nazicht/consent/{attested['ocmw']}", data=data)
    assert response.status_code == 403
    assert all(r["reviewed_at"] is None for r in queue_api(api, settings))


def test_month_names_are_dutch() -> None:
    assert month_nl("2026-03") == "maart 2026" and month_nl("2026-13") == "2026-13"
