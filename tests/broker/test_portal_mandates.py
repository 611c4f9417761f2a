"""Mandates in the client portal (DESIGN §9): a client names a trusted person by INSZ (never
echoed in a page, URL or log line), both see the mandate, either ends it; the trusted person
switches to acting "namens" the client (kept in the sealed session), manages the client's
consents and requests, never sees their dossier, access log or relations, and the client sees
who did what. Runs on SQLite and PostgreSQL (``api``)."""

from __future__ import annotations

import logging
import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from broker.settings import Settings
from tests.broker.test_portal_client import AN, BRAM, form, in_days, login, my_consents
from tests.broker.test_portal_notices import text_of
from tests.broker.test_portal_requests import ask, status_of
from tests.factories import (
    OTHER_INSZ,
    VALID_INSZ,
    client_auth,
    declare_relation,
    make_entry,
    partner_auth,
    record_consent,
)

BANNER = "Je handelt namens An Peeters."
CANARY = "dossier-kanarie-5e1f"
SWITCH = re.compile(r'name="mandaat" value="(m-[0-9a-f]+)"')
NOT_UNDER_MANDATE = "Dit kan je niet zien met een volmacht"


def mandate_form(csrf: str, **overrides: Any) -> dict[str, Any]:
    """An names Bram (``OTHER_INSZ``) her trusted person, as typed on his card."""
    body: dict[str, Any] = {"csrf": csrf, "insz": "01.02.03-123.45",
                            "trusted_person_name": "Bram Claes", "my_name": "An Peeters",
                            "valid_until": in_days(90)}
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not None}


def mandates_of(api: TestClient, settings: Settings, insz: str) -> dict[str, list[Any]]:
    response = api.get("/v1/me/mandates", headers=client_auth(settings, insz))
    assert response.status_code == 200
    found: dict[str, list[Any]] = response.json()
    return found


def an_names_bram(api: TestClient, settings: Settings) -> str:
    """Through the v1 API; the mandate's id."""
    response = api.post("/v1/me/mandates", headers=client_auth(settings), json={
        "insz": OTHER_INSZ, "valid_until": f"{in_days(90)}T12:00:00+00:00",
        "trusted_person_name": "Bram Claes", "my_name": "An Peeters"})
    assert response.status_code == 201, response.text
    mandate_id: str = response.json()["id"]
    return mandate_id


def bram_acts_for_an(api: TestClient, settings: Settings) -> str:
    """Bram logs in and switches to acting for An; returns his CSRF token."""
    mandate_id = an_names_bram(api, settings)
    token = login(api, BRAM)
    page = api.get("/mijn/vertrouwenspersonen").text
    assert SWITCH.findall(page) == [mandate_id]
    assert "Handel namens An Peeters" in page
    response = api.post("/mijn/namens", data={"csrf": token, "mandaat": mandate_id},
                        follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/mijn"
    assert mandate_id not in response.headers["location"]
    return token


# --- naming a trusted person ------------------------------------------------------------------


def test_a_client_names_a_trusted_person_and_the_insz_is_never_echoed(
    api: TestClient, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    token = login(api, AN)
    caplog.set_level(logging.DEBUG)
    response = api.post("/mijn/vertrouwenspersonen", data=mandate_form(token),
                        follow_redirects=False)
    assert response.status_code == 303
    assert OTHER_INSZ not in response.headers["location"]
    page = api.get(response.headers["location"]).text
    assert "Gelukt." in page and "Bram Claes" in page
    for text in (page, api.get("/mijn").text, *[r.getMessage() for r in caplog.records],
                 *[repr(r.__dict__) for r in caplog.records]):
        assert OTHER_INSZ not in text and "01.02.03-123.45" not in text
    [given] = mandates_of(api, settings, VALID_INSZ)["given"]
    assert given["trusted_person_name"] == "Bram Claes" and given["valid"]
    [held] = mandates_of(api, settings, OTHER_INSZ)["held"]
    assert held["id"] == given["id"] and held["client_name"] == "An Peeters"


@pytest.mark.parametrize(("overrides", "message"), [
    ({"insz": VALID_INSZ}, "Je kan jezelf niet als vertrouwenspersoon kiezen."),
    ({"insz": "01020312346"}, "Dit rijksregisternummer klopt niet."),
    ({"insz": ""}, "Dit rijksregisternummer klopt niet."),
    ({"trusted_person_name": ""}, "Vul de naam van je vertrouwenspersoon in."),
    ({"my_name": " "}, "Vul je eigen naam in"),
    ({"trusted_person_name": "x" * 101}, "Een naam mag ten hoogste 100 tekens lang zijn."),
    ({"valid_until": in_days(800)}, "ten hoogste 24 maanden"),
    ({"valid_until": in_days(-1)}, "De einddatum ligt in het verleden."),
], ids=["self", "bad-check-digits", "missing", "no-name", "no-own-name", "name-too-long",
        "too-far", "in-past"])
def test_a_bad_mandate_form_is_refused_in_dutch_without_echoing_the_insz(
    api: TestClient, settings: Settings, overrides: dict[str, Any], message: str
) -> None:
    token = login(api, AN)
    sent = mandate_form(token, **overrides)
    response = api.post("/mijn/vertrouwenspersonen", data=sent)
    assert response.status_code == 422, response.text
    assert message in response.text and 'role="alert"' in response.text
    for insz in (VALID_INSZ, OTHER_INSZ, "01020312346", "01.02.03-123.45"):
        assert insz not in response.text
    if sent.get("trusted_person_name") == "Bram Claes":
        assert 'value="Bram Claes"' in response.text  # the names are kept, the number is not
    assert mandates_of(api, settings, VALID_INSZ)["given"] == []


def test_either_side_ends_a_mandate(api: TestClient, settings: Settings) -> None:
    first_id = an_names_bram(api, settings)
    second_id = an_names_bram(api, settings)
    token = login(api, AN)
    ended = api.post(f"/mijn/vertrouwenspersonen/{first_id}/beeindigen", data={"csrf": token},
                     follow_redirects=False)
    assert ended.status_code == 303
    assert "De volmacht is beëindigd" in api.get(ended.headers["location"]).text
    token = login(api, BRAM)
    assert SWITCH.findall(api.get("/mijn/vertrouwenspersonen").text) == [second_id]
    api.post(f"/mijn/vertrouwenspersonen/{second_id}/beeindigen", data={"csrf": token})
    page = api.get("/mijn/vertrouwenspersonen").text
    assert SWITCH.findall(page) == [] and "Vroegere volmachten" in page
    assert not any(m["valid"] for m in mandates_of(api, settings, VALID_INSZ)["given"])
    again = api.post(f"/mijn/vertrouwenspersonen/{second_id}/beeindigen", data={"csrf": token})
    assert again.status_code == 404
    assert "Deze volmacht bestaat niet of geldt niet meer." in again.text


# --- acting for the client --------------------------------------------------------------------


def test_every_page_says_for_whom_the_trusted_person_acts(api: TestClient,
                                                         settings: Settings) -> None:
    bram_acts_for_an(api, settings)
    consent_id = api.post("/v1/me/consents", headers=client_auth(settings), json={
        "recipients": [{"kind": "partner_type", "id": "caw"}], "purposes": ["rechtenverkenning"],
        "sections": ["inkomen"], "valid_until": f"{in_days(30)}T12:00:00+00:00"}).json()[
        "consent"]["id"]
    for path in ("/mijn", "/mijn/toestemmingen", "/mijn/toestemmingen/nieuw",
                 f"/mijn/toestemmingen/{consent_id}", f"/mijn/toestemmingen/{consent_id}/beperken",
                 "/mijn/vragen", "/mijn/uitsluitingen", "/mijn/vertrouwenspersonen",
                 "/mijn/dossier", "/mijn/toestemmingen/cs-bestaat-niet"):
        page = api.get(path)
        assert page.status_code in (200, 403, 404), path
        assert BANNER in text_of(page.text), path
        assert "Terug naar mijn eigen gegevens" in page.text, path
        assert VALID_INSZ not in page.text and OTHER_INSZ not in page.text, path


@pytest.mark.parametrize("path", ["/mijn/dossier", "/mijn/toegang",
                                  "/mijn/voorbeeld?partner=ocmw-gent&doel=rechtenverkenning"])
def test_a_mandate_never_shows_the_clients_dossier_access_log_or_relations(
    api: TestClient, settings: Settings, path: str
) -> None:
    declare_relation(api, settings, "ocmw-gent")
    created = api.post("/v1/entries", headers=partner_auth(settings),
                       json=make_entry(section="inkomen", content={"bron": CANARY}))
    assert created.status_code == 201, created.text
    api.post("/v1/access-requests", headers=partner_auth(settings),
             json={"insz": VALID_INSZ, "purpose": "rechtenverkenning"})
    bram_acts_for_an(api, settings)
    page = api.get(path)
    assert page.status_code == 403
    assert NOT_UNDER_MANDATE in page.text
    assert CANARY not in page.text and "OCMW Gent" not in page.text
    overview = api.get("/mijn").text
    assert "Wie helpt mij?" not in overview and "OCMW Gent" not in overview
    # The API says the same: notices under a mandate name no relation (DESIGN §9).
    notices = api.get("/v1/me/notices", headers={
        **client_auth(settings, OTHER_INSZ),
        "X-On-Behalf-Of": mandates_of(api, settings, VALID_INSZ)["given"][0]["id"]})
    assert notices.status_code == 200
    assert [r["kind"] for r in notices.json()["records"]] == []
    mine = api.get("/v1/me/notices", headers=client_auth(settings))
    assert [r["kind"] for r in mine.json()["records"]] == ["relation"]


def test_previewing_a_consent_is_not_offered_under_a_mandate(api: TestClient,
                                                            settings: Settings) -> None:
    token = bram_acts_for_an(api, settings)
    give_page = api.get("/mijn/toestemmingen/nieuw").text
    assert "Toon wat deze dienst zou zien" not in give_page
    response = api.post("/mijn/toestemmingen/nieuw", data=form(token, actie="voorbeeld"))
    assert response.status_code == 403 and NOT_UNDER_MANDATE in response.text
    assert my_consents(api, settings) == []


def test_a_trusted_person_gives_and_revokes_for_the_client_who_sees_who_did_it(
    api: TestClient, settings: Settings
) -> None:
    token = bram_acts_for_an(api, settings)
    given = api.post("/mijn/toestemmingen/nieuw", data=form(token), follow_redirects=False)
    assert given.status_code == 303
    consent_path = given.headers["location"].split("?")[0]
    [consent] = my_consents(api, settings, VALID_INSZ)  # An's, not Bram's
    assert my_consents(api, settings, OTHER_INSZ) == []
    assert consent["current"]["proof"] == "client"
    assert "door jou, als vertrouwenspersoon" in api.get(consent_path).text
    revoked = api.post(f"{consent_path}/intrekken", data={"csrf": token},
                       follow_redirects=False)
    assert revoked.status_code == 303
    assert my_consents(api, settings, VALID_INSZ)[0]["status"] == "revoked"

    login(api, AN)
    history = text_of(api.get(consent_path).text)
    assert BANNER not in history
    assert history.count("(door je vertrouwenspersoon Bram Claes)") == 2  # versions 1 and 2
    assert "Versie 2: Ingetrokken" in history
    assert "online, door je vertrouwenspersoon Bram Claes" in history
    assert "door je vertrouwenspersoon Bram Claes" in text_of(
        api.get(f"{consent_path}/bewijs").text)


def test_a_trusted_person_decides_a_request_and_the_client_sees_who(
    api: TestClient, settings: Settings
) -> None:
    request_id = ask(api, settings)["id"]
    token = bram_acts_for_an(api, settings)
    assert f'href="/mijn/vragen/{request_id}"' in api.get("/mijn").text
    response = api.post(f"/mijn/vragen/{request_id}/weigeren", data={"csrf": token},
                        follow_redirects=False)
    assert response.status_code == 303
    assert status_of(api, settings, request_id) == "refused"
    assert "door jou, als vertrouwenspersoon" in api.get(f"/mijn/vragen/{request_id}").text
    login(api, AN)
    page = text_of(api.get(f"/mijn/vragen/{request_id}").text)
    assert "Geweigerd op" in page and "door je vertrouwenspersoon Bram Claes" in page


def test_a_trusted_person_excludes_a_partner_for_the_client(api: TestClient,
                                                            settings: Settings) -> None:
    token = bram_acts_for_an(api, settings)
    api.post("/mijn/uitsluitingen", data={"csrf": token, "partner": "dmw-solidaris"})
    [exclusion] = api.get("/v1/me/exclusions", headers=client_auth(settings)).json()["exclusions"]
    assert exclusion["partner"] == "dmw-solidaris"
    assert api.get("/v1/me/exclusions",
                   headers=client_auth(settings, OTHER_INSZ)).json()["exclusions"] == []
    login(api, AN)
    assert "(door je vertrouwenspersoon Bram Claes)" in text_of(
        api.get("/mijn/uitsluitingen").text)


def test_switching_back_shows_the_persons_own_data_again(api: TestClient,
                                                         settings: Settings) -> None:
    record_consent(api, settings, "dmw-cm", eid=False, insz=OTHER_INSZ)
    token = bram_acts_for_an(api, settings)
    assert "Dienst Maatschappelijk Werk CM" not in api.get("/mijn").text  # An's overview
    back = api.post("/mijn/namens", data={"csrf": token, "mandaat": ""}, follow_redirects=False)
    assert back.status_code == 303
    overview = api.get("/mijn").text
    assert BANNER not in text_of(overview) and "Wie helpt mij?" in overview
    assert "Dienst Maatschappelijk Werk CM" in overview  # Bram's own
    assert api.get("/mijn/dossier").status_code == 200


def test_switching_to_a_mandate_one_does_not_hold_is_refused(api: TestClient,
                                                            settings: Settings) -> None:
    mandate_id = an_names_bram(api, settings)
    token = login(api, AN)  # An gave it; she does not hold it
    for value in (mandate_id, "m-" + "0" * 32, "iets"):
        response = api.post("/mijn/namens", data={"csrf": token, "mandaat": value})
        assert response.status_code == 404
        assert "Deze volmacht bestaat niet of geldt niet meer." in response.text
    assert BANNER not in text_of(api.get("/mijn").text)


def test_a_mandate_ended_while_acting_falls_back_to_ones_own_and_says_so(
    api: TestClient, settings: Settings
) -> None:
    bram_acts_for_an(api, settings)
    [given] = mandates_of(api, settings, VALID_INSZ)["given"]
    ended = api.delete(f"/v1/me/mandates/{given['id']}", headers=client_auth(settings))
    assert ended.status_code == 200
    page = api.get("/mijn").text
    assert BANNER not in text_of(page) and "Je volmacht geldt niet meer." in page
    assert api.get("/mijn/dossier").status_code == 200  # his own again


def test_a_trusted_person_cannot_name_a_trusted_person_while_acting(
    api: TestClient, settings: Settings
) -> None:
    token = bram_acts_for_an(api, settings)
    page = api.get("/mijn/vertrouwenspersonen").text
    assert 'name="insz"' not in page and "Ga eerst terug naar je eigen gegevens" in page
    response = api.post("/mijn/vertrouwenspersonen",
                        data=mandate_form(token, insz=VALID_INSZ, my_name="Bram Claes"))
    assert response.status_code == 422 and "Ga eerst terug naar je eigen gegevens" in response.text
    assert mandates_of(api, settings, OTHER_INSZ)["given"] == []


@pytest.mark.parametrize("token", [None, "wrong"], ids=["missing", "wrong"])
@pytest.mark.parametrize("action", ["give", "end", "switch"])
def test_mandate_forms_without_the_csrf_token_change_nothing(
    api: TestClient, settings: Settings, action: str, token: str | None
) -> None:
    mandate_id = an_names_bram(api, settings)
    login(api, BRAM)
    path, data = {
        "give": ("/mijn/vertrouwenspersonen", mandate_form(token, insz=VALID_INSZ)),
        "end": (f"/mijn/vertrouwenspersonen/{mandate_id}/beeindigen", {"csrf": token}),
        "switch": ("/mijn/namens", {"csrf": token, "mandaat": mandate_id}),
    }[action]
    response = api.post(path, data={k: v for k, v in data.items() if v is not None})
    assert response.status_code == 403 and "Er is niets veranderd" in response.text
    assert BANNER not in text_of(api.get("/mijn").text)
    found = mandates_of(api, settings, VALID_INSZ)["given"]
    assert [m["valid"] for m in found] == [True]
    assert mandates_of(api, settings, OTHER_INSZ)["given"] == []


def test_the_acting_mandate_lives_only_in_the_sealed_cookie(api: TestClient,
                                                            settings: Settings) -> None:
    bram_acts_for_an(api, settings)
    [given] = mandates_of(api, settings, VALID_INSZ)["given"]
    cookie = api.cookies.get("gbo_portal") or ""
    assert cookie and given["id"] not in cookie and OTHER_INSZ not in cookie
    assert BANNER in text_of(api.get("/mijn").text)
    api.cookies.clear()  # the same person, logged in afresh: for himself until he switches
    login(api, BRAM)
    assert BANNER not in text_of(api.get("/mijn").text)
