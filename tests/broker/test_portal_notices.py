"""What partners recorded at their desk, on the client's overview (DESIGN §9 "the client is
told"), with a one-click revoke of an ``attested`` consent; and exclusions of a partner in
/mijn (DESIGN §9 client controls). Runs on SQLite and PostgreSQL (``api``)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from broker.settings import Settings
from tests.broker.test_portal_client import AN, BRAM, login, my_consents
from tests.factories import (
    OTHER_INSZ,
    VALID_INSZ,
    client_auth,
    declare_relation,
    partner_auth,
    record_consent,
)


def text_of(html: str) -> str:
    """What a reader sees of ``html``: its text, tags dropped, white space collapsed."""
    return " ".join(re.sub(r"<[^>]+>", " ", html).split()).replace(" .", ".").replace(" ,", ",")


REVOKE_BUTTON = re.compile(r'<form method="post" action="/mijn/toestemmingen/(cs-[0-9a-f]+)/'
                           r'intrekken">')


def reasons_for(api: TestClient, settings: Settings, partner: str,
                insz: str = VALID_INSZ) -> set[str]:
    """The reason codes ``partner`` gets when it asks for identiteit to explore rights."""
    response = api.post("/v1/access-requests", json={
        "insz": insz, "purpose": "rechtenverkenning", "sections": ["identiteit"]},
        headers=partner_auth(settings, partner))
    assert response.status_code == 200, response.text
    found: list[str] = response.json()["sections"]["identiteit"]["reasons"]
    return set(found)


# --- desk notices -------------------------------------------------------------------------------


def test_overview_tells_what_was_recorded_at_the_desk_and_how_it_was_proven(
    api: TestClient, settings: Settings
) -> None:
    attested = record_consent(api, settings, "ocmw-gent", eid=False)["consent"]["id"]
    proven = record_consent(api, settings, "caw-oost-vlaanderen", eid=True)["consent"]["id"]
    login(api, AN)
    page = api.get("/mijn").text
    notices = page.split('id="balie-titel"')[1].split("</section>")[0]
    said = text_of(notices)
    assert "Aan de balie vastgelegd" in page
    assert "OCMW Gent noteerde op" in said and "CAW Oost-Vlaanderen noteerde op" in said
    assert "dat je toestemming gaf, op het woord van de hulpverlener." in said
    assert "dat je toestemming gaf, met je identiteitskaart." in said
    assert "Je identiteitskaart werd niet gelezen." in said
    # One click revokes the attested consent only; the eID-proven one is revoked as usual.
    assert REVOKE_BUTTON.findall(notices) == [attested]
    assert f'href="/mijn/toestemmingen/{proven}"' in notices
    assert 'href="/mijn/uitsluitingen?dienst=ocmw-gent"' in notices
    assert VALID_INSZ not in page


def test_one_click_revokes_an_attested_desk_consent_from_the_overview(
    api: TestClient, settings: Settings
) -> None:
    attested = record_consent(api, settings, "ocmw-gent", eid=False)["consent"]["id"]
    token = login(api, AN)
    overview = api.get("/mijn").text
    assert REVOKE_BUTTON.findall(overview) == [attested]
    response = api.post(f"/mijn/toestemmingen/{attested}/intrekken", data={"csrf": token},
                        follow_redirects=False)
    assert response.status_code == 303
    assert "Je toestemming is ingetrokken" in api.get(response.headers["location"]).text
    [revoked] = my_consents(api, settings)
    assert revoked["status"] == "revoked"
    after = api.get("/mijn").text
    assert REVOKE_BUTTON.findall(after) == []
    assert "dat je toestemming gaf" not in after  # a consent no longer in force: no notice


def test_another_clients_desk_records_are_not_on_my_overview(api: TestClient,
                                                             settings: Settings) -> None:
    record_consent(api, settings, "dmw-cm", eid=False, insz=OTHER_INSZ)
    login(api, AN)
    page = api.get("/mijn").text
    assert "Aan de balie vastgelegd" not in page and "Dienst Maatschappelijk Werk CM" not in page
    login(api, BRAM)
    assert "Dienst Maatschappelijk Werk CM noteerde op" in text_of(api.get("/mijn").text)


# --- exclusions -------------------------------------------------------------------------------


def test_exclude_a_partner_then_undo_it(api: TestClient, settings: Settings) -> None:
    declare_relation(api, settings, "ocmw-gent")
    assert "excluded_by_client" not in reasons_for(api, settings, "ocmw-gent")
    token = login(api, AN)
    offered = api.get("/mijn/uitsluitingen?dienst=ocmw-gent").text
    assert '<option value="ocmw-gent" selected>' in offered
    assert "ook niet in een noodsituatie" in offered
    response = api.post("/mijn/uitsluitingen", data={"csrf": token, "partner": "ocmw-gent"},
                        follow_redirects=False)
    assert response.status_code == 303
    page = api.get(response.headers["location"]).text
    assert "De dienst is uitgesloten" in page and "OCMW Gent is uitgesloten sinds" in text_of(page)
    assert '<option value="ocmw-gent"' not in page  # not offered twice
    assert "excluded_by_client" in reasons_for(api, settings, "ocmw-gent")
    [exclusion] = api.get("/v1/me/exclusions", headers=client_auth(settings)).json()["exclusions"]
    assert exclusion["partner"] == "ocmw-gent" and exclusion["active"]

    undone = api.post(f"/mijn/uitsluitingen/{exclusion['id']}/opheffen", data={"csrf": token},
                      follow_redirects=False)
    assert undone.status_code == 303
    page = api.get(undone.headers["location"]).text
    assert "De uitsluiting is opgeheven" in page and "Vroeger uitgesloten" in page
    assert "Er is geen enkele dienst uitgesloten." in page
    assert "excluded_by_client" not in reasons_for(api, settings, "ocmw-gent")


@pytest.mark.parametrize(("partner", "message", "status"), [
    ("bestaat-niet", "Kies een dienst uit de lijst.", 422),
    ("", "Kies een dienst uit de lijst.", 422),
    ("ocmw-gent", "Deze dienst is al uitgesloten.", 409),
], ids=["unknown", "missing", "twice"])
def test_a_bad_exclusion_is_refused_in_dutch(api: TestClient, settings: Settings, partner: str,
                                             message: str, status: int) -> None:
    token = login(api, AN)
    api.post("/mijn/uitsluitingen", data={"csrf": token, "partner": "ocmw-gent"})
    response = api.post("/mijn/uitsluitingen", data={"csrf": token, "partner": partner})
    assert response.status_code == status
    assert message in response.text and 'role="alert"' in response.text
    exclusions = api.get("/v1/me/exclusions", headers=client_auth(settings)).json()["exclusions"]
    assert [x["partner"] for x in exclusions] == ["ocmw-gent"]


def test_undo_of_an_unknown_ended_or_foreign_exclusion_is_404(api: TestClient,
                                                             settings: Settings) -> None:
    theirs = api.post("/v1/me/exclusions", json={"partner": "dmw-cm"},
                      headers=client_auth(settings, OTHER_INSZ)).json()["id"]
    mine = api.post("/v1/me/exclusions", json={"partner": "dmw-cm"},
                    headers=client_auth(settings)).json()["id"]
    token = login(api, AN)
    assert api.post(f"/mijn/uitsluitingen/{mine}/opheffen", data={"csrf": token}).status_code == 200
    for exclusion_id in (mine, theirs, "x-bestaat-niet"):
        response = api.post(f"/mijn/uitsluitingen/{exclusion_id}/opheffen", data={"csrf": token})
        assert response.status_code == 404
        assert "Deze uitsluiting bestaat niet of is al opgeheven." in response.text
    [still] = api.get("/v1/me/exclusions",
                      headers=client_auth(settings, OTHER_INSZ)).json()["exclusions"]
    assert still["active"]


@pytest.mark.parametrize("token", [None, "wrong"], ids=["missing", "wrong"])
@pytest.mark.parametrize("action", ["exclude", "undo"])
def test_exclusion_forms_without_the_csrf_token_change_nothing(
    api: TestClient, settings: Settings, action: str, token: str | None
) -> None:
    excluded = api.post("/v1/me/exclusions", json={"partner": "dmw-cm"},
                        headers=client_auth(settings)).json()["id"]
    login(api, AN)
    path, data = {
        "exclude": ("/mijn/uitsluitingen", {"partner": "ocmw-gent"}),
        "undo": (f"/mijn/uitsluitingen/{excluded}/opheffen", {}),
    }[action]
    sent: dict[str, Any] = {**data, **({"csrf": token} if token else {})}
    response = api.post(path, data=sent)
    assert response.status_code == 403 and "Er is niets veranderd" in response.text
    found = api.get("/v1/me/exclusions", headers=client_auth(settings)).json()["exclusions"]
    assert [(x["partner"], x["active"]) for x in found] == [("dmw-cm", True)]
