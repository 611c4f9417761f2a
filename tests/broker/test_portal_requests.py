"""Consent requests in the client portal (DESIGN §9): a partner asks over the v1 API, the client
reads the request with the partner's message on /mijn, and approves it (as asked, or narrower
after a confirmation of what the partner will see) or refuses it; decided and expired requests
are shown as such. Runs on SQLite and PostgreSQL (``api``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, update

from broker.context import BrokerContext
from broker.settings import Settings
from consent.tables import ConsentRequestRow
from tests.broker.test_portal_client import AN, BRAM, in_days, login, my_consents
from tests.factories import (
    OTHER_INSZ,
    VALID_INSZ,
    client_auth,
    declare_relation,
    make_consent_terms,
    partner_auth,
)

MESSAGE = "Dag An, mogen we je inkomen en je woonsituatie bekijken voor je huurpremie?"


def ask(api: TestClient, settings: Settings, partner: str = "ocmw-gent",
        insz: str = VALID_INSZ, **overrides: Any) -> dict[str, Any]:
    """``partner`` starts helping the client and asks their consent: ``partner`` itself may see
    inkomen and huisvesting to explore rights (and realise them), for about six months."""
    declare_relation(api, settings, partner, insz)
    body = make_consent_terms(recipients=[{"kind": "partner", "id": partner}],
                              purposes=["rechtenverkenning", "rechtenrealisatie"],
                              message=MESSAGE)
    body.update(overrides)
    response = api.post("/v1/consent-requests", json={"insz": insz, **body},
                        headers=partner_auth(settings, partner))
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def status_of(api: TestClient, settings: Settings, request_id: str,
              partner: str = "ocmw-gent") -> str:
    response = api.get(f"/v1/consent-requests/{request_id}",
                       headers=partner_auth(settings, partner))
    assert response.status_code == 200, response.text
    status: str = response.json()["status"]
    return status


def narrow_form(csrf: str, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"csrf": csrf, "purpose": ["rechtenverkenning"],
                            "section": ["inkomen"], "valid_until": in_days(60)}
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not None}


# --- reading ----------------------------------------------------------------------------------


def test_overview_shows_a_pending_request_with_partner_and_message(
    api: TestClient, settings: Settings
) -> None:
    request_id = ask(api, settings)["id"]
    login(api, AN)
    overview = api.get("/mijn").text
    assert "Een dienst vraagt je toestemming" in overview
    assert "OCMW Gent" in overview and MESSAGE in overview
    assert f'href="/mijn/vragen/{request_id}"' in overview
    page = api.get(f"/mijn/vragen/{request_id}")
    assert page.status_code == 200
    assert MESSAGE in page.text and "Wacht op je antwoord" in page.text
    assert "Inkomen" in page.text and "Wonen" in page.text  # the terms, in words
    assert "Ja, ik geef deze toestemming" in page.text and "Nee, ik weiger" in page.text
    assert VALID_INSZ not in page.text and VALID_INSZ not in overview


def test_a_message_is_shown_as_text_never_as_markup(api: TestClient, settings: Settings) -> None:
    request_id = ask(api, settings, message='<script>alert("x")</script><b>vet</b>')["id"]
    login(api, AN)
    page = api.get(f"/mijn/vragen/{request_id}").text
    assert "<script>alert" not in page and "&lt;script&gt;" in page


def test_another_clients_request_is_404_like_an_unknown_one(api: TestClient,
                                                            settings: Settings) -> None:
    theirs = ask(api, settings, insz=OTHER_INSZ)["id"]
    token = login(api, AN)
    for request_id in (theirs, "cr-bestaat-niet"):
        for suffix in ("", "/beperken"):
            page = api.get(f"/mijn/vragen/{request_id}{suffix}")
            assert page.status_code == 404 and "Niet gevonden" in page.text
        for action in ("goedkeuren", "weigeren"):
            response = api.post(f"/mijn/vragen/{request_id}/{action}", data={"csrf": token})
            assert response.status_code == 404
    assert status_of(api, settings, theirs) == "pending"
    assert "OCMW Gent" not in api.get("/mijn/vragen").text


# --- deciding ---------------------------------------------------------------------------------


def test_approve_as_asked_gives_a_client_proven_consent(api: TestClient,
                                                        settings: Settings) -> None:
    request_id = ask(api, settings)["id"]
    token = login(api, AN)
    response = api.post(f"/mijn/vragen/{request_id}/goedkeuren", data={"csrf": token},
                        follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == f"/mijn/vragen/{request_id}?klaar=goedgekeurd"
    done = api.get(response.headers["location"]).text
    assert "Gelukt." in done and "Goedgekeurd" in done and "door jou" in done
    assert status_of(api, settings, request_id) == "approved"
    [given] = my_consents(api, settings)
    assert given["current"]["proof"] == "client"
    assert given["current"]["sections"] == ["inkomen", "huisvesting"]
    assert f'href="/mijn/toestemmingen/{given["id"]}"' in done
    access = api.post("/v1/access-requests", json={"insz": VALID_INSZ,
                                                   "purpose": "rechtenverkenning",
                                                   "sections": ["inkomen"]},
                      headers=partner_auth(settings))
    assert access.json()["sections"]["inkomen"]["verdict"] == "granted"


def test_approve_narrower_confirms_what_the_partner_will_see_then_stores_it(
    api: TestClient, settings: Settings
) -> None:
    request_id = ask(api, settings)["id"]
    token = login(api, AN)
    form = api.get(f"/mijn/vragen/{request_id}/beperken")
    assert form.status_code == 200 and 'name="section" value="huisvesting" checked' in form.text
    path = f"/mijn/vragen/{request_id}/beperken"
    confirm = api.post(path, data=narrow_form(token))
    assert confirm.status_code == 200
    assert "Ben je zeker?" in confirm.text
    sees, _, refused = confirm.text.partition("Dit krijgt ze <strong>niet</strong>")
    assert "Inkomen" in sees and "Wonen" not in sees  # what OCMW Gent will be able to see
    assert "Wonen" in refused and "Rechten realiseren" in refused
    assert status_of(api, settings, request_id) == "pending"  # nothing stored yet
    assert my_consents(api, settings) == []
    done = api.post(path, data=narrow_form(token, bevestigd="ja"), follow_redirects=False)
    assert done.status_code == 303
    assert status_of(api, settings, request_id) == "approved"
    [given] = my_consents(api, settings)
    assert given["current"]["sections"] == ["inkomen"]
    assert given["current"]["purposes"] == ["rechtenverkenning"]
    assert given["current"]["valid_until"][:10] == in_days(60)


@pytest.mark.parametrize(("overrides", "message", "status"), [
    ({"section": ["inkomen", "gezondheid"]}, "Je kan alleen minder toelaten", 422),
    ({"purpose": ["rechtenverkenning", "doorverwijzing"]}, "Je kan alleen minder toelaten", 422),
    ({"valid_until": in_days(300)}, "Je kan alleen minder toelaten", 422),
    ({"section": None}, "Kies minstens één soort gegevens.", 422),
    ({"purpose": None}, "Kies minstens één doel.", 422),
    ({"valid_until": in_days(-2)}, "De einddatum ligt in het verleden.", 422),
    ({"valid_until": "morgen"}, "Schrijf de einddatum als jaar-maand-dag", 422),
], ids=["more-sections", "more-purposes", "later-end", "no-sections", "no-purposes",
        "end-in-past", "end-not-a-date"])
def test_a_narrower_approval_that_is_not_narrower_is_refused_in_dutch(
    api: TestClient, settings: Settings, overrides: dict[str, Any], message: str, status: int
) -> None:
    request_id = ask(api, settings)["id"]
    token = login(api, AN)
    for confirmed in (None, "ja"):
        response = api.post(f"/mijn/vragen/{request_id}/beperken",
                            data=narrow_form(token, bevestigd=confirmed, **overrides))
        assert response.status_code == status, response.text
        assert message in response.text and 'role="alert"' in response.text
    assert status_of(api, settings, request_id) == "pending"
    assert my_consents(api, settings) == []


def test_refuse_stores_the_refusal_and_gives_nothing(api: TestClient,
                                                    settings: Settings) -> None:
    request_id = ask(api, settings)["id"]
    token = login(api, AN)
    response = api.post(f"/mijn/vragen/{request_id}/weigeren", data={"csrf": token},
                        follow_redirects=False)
    assert response.status_code == 303
    page = api.get(response.headers["location"]).text
    assert "De vraag is geweigerd" in page and "Geweigerd op" in page
    assert "Ja, ik geef deze toestemming" not in page  # decided: no more choices
    assert status_of(api, settings, request_id) == "refused"
    assert my_consents(api, settings) == []
    assert "Een dienst vraagt je toestemming" not in api.get("/mijn").text


def test_a_decided_request_cannot_be_decided_again(api: TestClient, settings: Settings) -> None:
    request_id = ask(api, settings)["id"]
    token = login(api, AN)
    api.post(f"/mijn/vragen/{request_id}/weigeren", data={"csrf": token})
    again = api.post(f"/mijn/vragen/{request_id}/goedkeuren", data={"csrf": token})
    assert again.status_code == 409
    assert "Over deze vraag is al beslist, of ze is verlopen." in again.text
    narrower = api.post(f"/mijn/vragen/{request_id}/beperken", data=narrow_form(token))
    assert narrower.status_code == 409 and "Over deze vraag is al beslist" in narrower.text
    assert 'name="section"' not in narrower.text  # no form for a decided request
    assert status_of(api, settings, request_id) == "refused"
    assert my_consents(api, settings) == []


def test_an_expired_request_is_shown_as_expired_and_cannot_be_approved(
    api: TestClient, settings: Settings, ctx: BrokerContext
) -> None:
    request_id = ask(api, settings)["id"]
    with Session(ctx.engine) as db:  # fourteen days went by (DESIGN §9)
        db.exec(update(ConsentRequestRow).where(ConsentRequestRow.id == request_id)  # type: ignore[arg-type]
                .values(expires_at=datetime.now(UTC) - timedelta(minutes=1)))
        db.commit()
    token = login(api, AN)
    page = api.get(f"/mijn/vragen/{request_id}").text
    assert "Verlopen" in page and "zonder antwoord" in page and "Nee, ik weiger" not in page
    assert "Een dienst vraagt je toestemming" not in api.get("/mijn").text
    refused = api.post(f"/mijn/vragen/{request_id}/goedkeuren", data={"csrf": token})
    assert refused.status_code == 409 and "verlopen" in refused.text
    assert status_of(api, settings, request_id) == "expired"


def test_a_withdrawn_request_says_the_partner_withdrew_it(api: TestClient,
                                                         settings: Settings) -> None:
    request_id = ask(api, settings)["id"]
    withdrawn = api.post(f"/v1/consent-requests/{request_id}/withdraw",
                         headers=partner_auth(settings))
    assert withdrawn.status_code == 200, withdrawn.text
    login(api, AN)
    page = api.get(f"/mijn/vragen/{request_id}").text
    assert "Ingetrokken door de dienst" in page and "trok deze vraag in" in page


@pytest.mark.parametrize("action", ["goedkeuren", "weigeren", "beperken"])
@pytest.mark.parametrize("token", [None, "wrong"], ids=["missing", "wrong"])
def test_csrf_missing_or_wrong_is_403_and_decides_nothing(
    api: TestClient, settings: Settings, action: str, token: str | None
) -> None:
    request_id = ask(api, settings)["id"]
    login(api, AN)
    data = narrow_form(token, bevestigd="ja") if action == "beperken" else {"csrf": token}
    response = api.post(f"/mijn/vragen/{request_id}/{action}",
                        data={k: v for k, v in data.items() if v is not None})
    assert response.status_code == 403 and "Er is niets veranderd" in response.text
    assert status_of(api, settings, request_id) == "pending"


def test_the_request_list_shows_every_status(api: TestClient, settings: Settings) -> None:
    approved = ask(api, settings)["id"]
    refused = ask(api, settings, "caw-oost-vlaanderen")["id"]
    api.post(f"/v1/me/consent-requests/{approved}/approve", headers=client_auth(settings))
    api.post(f"/v1/me/consent-requests/{refused}/refuse", headers=client_auth(settings))
    pending = ask(api, settings, "dmw-cm")["id"]
    login(api, AN)
    page = api.get("/mijn/vragen").text
    for request_id, label in ((approved, "Goedgekeurd"), (refused, "Geweigerd"),
                              (pending, "Wacht op je antwoord")):
        assert f'href="/mijn/vragen/{request_id}"' in page and label in page
    assert api.get("/mijn/vragen").status_code == 200
    login(api, BRAM)
    assert "Er is nog geen vraag om toestemming." in api.get("/mijn/vragen").text
