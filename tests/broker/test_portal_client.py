"""The client portal /mijn (DESIGN §2, first slice): demo login, pages, consent forms with CSRF,
preview by the policy engine, access log, dossier. Runs on SQLite and PostgreSQL (``api``)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from broker.app import create_app
from broker.context import load_context
from broker.errors import ConfigurationError
from broker.security.keys import session_key_file
from broker.settings import Settings
from tests.backends import on_backends
from tests.factories import (
    OTHER_INSZ,
    VALID_INSZ,
    client_auth,
    declare_relation,
    give_consent,
    make_entry,
    partner_auth,
)

CSRF = re.compile(r'name="csrf" value="([^"]+)"')
AN, BRAM = "0", "1"  # the demo citizens' places in broker/demo/seed.yaml (VALID_INSZ, OTHER_INSZ)
PAGES = ["/mijn", "/mijn/toestemmingen", "/mijn/toestemmingen/nieuw", "/mijn/voorbeeld",
         "/mijn/voorbeeld?partner=caw-oost-vlaanderen&doel=rechtenverkenning", "/mijn/toegang",
         "/mijn/dossier"]


def csrf_of(api: TestClient, path: str) -> str:
    page = api.get(path)
    assert page.status_code == 200, page.text
    found = CSRF.search(page.text)
    assert found is not None
    return found.group(1)


def login(api: TestClient, citizen: str = AN) -> str:
    """Log in as a demo citizen; returns the session's CSRF token."""
    token = csrf_of(api, "/mijn/login")
    response = api.post("/mijn/login", data={"csrf": token, "citizen": citizen},
                        follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/mijn"
    return csrf_of(api, "/mijn")


def my_consents(api: TestClient, settings: Settings, insz: str = VALID_INSZ) -> list[Any]:
    response = api.get("/v1/me/consents", headers=client_auth(settings, insz))
    assert response.status_code == 200
    found: list[Any] = response.json()["consents"]
    return found


def in_days(days: int) -> str:
    return (date.today() + timedelta(days=days)).isoformat()


def form(csrf: str, **overrides: Any) -> dict[str, Any]:
    """A give-consent form: caw may see inkomen to explore rights, for about six months."""
    body: dict[str, Any] = {
        "csrf": csrf, "recipient": ["partner_type:caw"], "purpose": ["rechtenverkenning"],
        "section": ["inkomen"], "valid_until": in_days(180), "actie": "bewaar",
        "preview_partner": "caw-oost-vlaanderen", "preview_purpose": "rechtenverkenning",
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not None}


# --- login and session ------------------------------------------------------------------------


def test_login_page_lists_demo_citizens_by_name_only(api: TestClient) -> None:
    page = api.get("/mijn/login")
    assert page.status_code == 200
    assert "demo" in page.text.lower() and "An Peeters" in page.text and "Bram Claes" in page.text
    assert VALID_INSZ not in page.text and OTHER_INSZ not in page.text


def test_login_sets_a_sealed_httponly_lax_cookie(api: TestClient) -> None:
    token = csrf_of(api, "/mijn/login")
    response = api.post("/mijn/login", data={"csrf": token, "citizen": AN},
                        follow_redirects=False)
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/mijn" in cookie
    assert "Secure" not in cookie  # demo mode serves plain http on localhost
    assert VALID_INSZ not in cookie
    assert "An Peeters" in api.get("/mijn").text


# Decided by the session cookie before any query; the first page on both backends.
@on_backends("path", {p: p for p in [*PAGES, "/mijn/toestemmingen/cs-x",
                                      "/mijn/toestemmingen/cs-x/bewijs.json"]},
             both={PAGES[0]})
def test_pages_redirect_to_login_without_a_session(api: TestClient, path: str) -> None:
    response = api.get(path, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/mijn/login"


def test_forged_or_damaged_cookie_is_no_session(api: TestClient) -> None:
    login(api)
    value = api.cookies.get("gbo_portal")
    assert value is not None
    api.cookies.clear()
    api.cookies.set("gbo_portal", value[:-4] + "AAAA", path="/mijn")
    assert api.get("/mijn", follow_redirects=False).status_code == 303


def test_logout_ends_the_session(api: TestClient) -> None:
    token = login(api)
    response = api.post("/mijn/logout", data={"csrf": token}, follow_redirects=False)
    assert response.status_code == 303
    assert api.get("/mijn", follow_redirects=False).status_code == 303


# --- pages ------------------------------------------------------------------------------------


def test_every_page_renders_and_never_shows_the_insz(api: TestClient, settings: Settings) -> None:
    declare_relation(api, settings, "caw-oost-vlaanderen")
    consent_id = give_consent(api, settings)["consent"]["id"]
    login(api)
    pages = [*PAGES, f"/mijn/toestemmingen/{consent_id}",
             f"/mijn/toestemmingen/{consent_id}/beperken",
             f"/mijn/toestemmingen/{consent_id}/intrekken",
             f"/mijn/toestemmingen/{consent_id}/bewijs",
             f"/mijn/toestemmingen/{consent_id}/bewijs?versie=1"]
    for path in pages:
        page = api.get(path)
        assert page.status_code == 200, path
        assert page.headers["content-type"].startswith("text/html")
        assert page.headers["cache-control"] == "no-store"
        assert VALID_INSZ not in page.text, path
    overview = api.get("/mijn").text
    assert "CAW Oost-Vlaanderen" in overview  # who helps me
    assert "Hoeveel geld je krijgt en waarvan." in api.get("/mijn/toestemmingen").text  # uitleg


def test_receipt_download_is_the_signed_receipt(api: TestClient, settings: Settings) -> None:
    consent_id = give_consent(api, settings)["consent"]["id"]
    login(api)
    response = api.get(f"/mijn/toestemmingen/{consent_id}/bewijs.json")
    assert response.status_code == 200
    assert "attachment" in response.headers["content-disposition"]
    body = response.json()
    v1 = api.get(f"/v1/me/consents/{consent_id}/receipt", headers=client_auth(settings)).json()
    assert body == v1
    assert VALID_INSZ not in response.text


def test_dossier_shows_entries_but_never_working_notes(api: TestClient,
                                                       settings: Settings) -> None:
    declare_relation(api, settings, "ocmw-gent")
    for section, text in (("inkomen", "leefloon-canary-1"), ("werkaantekeningen", "notitie-x9")):
        created = api.post("/v1/entries", json=make_entry(section=section,
                                                          content={"bron": text}),
                           headers=partner_auth(settings))
        assert created.status_code == 201, created.text
    login(api)
    page = api.get("/mijn/dossier").text
    assert "leefloon-canary-1" in page and "OCMW Gent" in page
    assert "notitie-x9" not in page


def test_access_log_shows_accesses_and_highlights_break_glass(api: TestClient,
                                                              settings: Settings) -> None:
    declare_relation(api, settings, "ocmw-gent")
    # The access log reads the audit detail with the client's data key, which exists once an
    # entry was written (routes/me.py); without one, v1 and the portal both show no accesses.
    created = api.post("/v1/entries", json=make_entry(section="gezondheid"),
                       headers=partner_auth(settings))
    assert created.status_code == 201, created.text
    justification = "Bewusteloos aangetroffen in de wachtzaal, huisarts nodig."
    for body in ({"purpose": "rechtenverkenning"},
                 {"purpose": "noodsituatie", "justification": justification}):
        response = api.post("/v1/access-requests", json={"insz": VALID_INSZ, **body},
                            headers=partner_auth(settings))
        assert response.status_code == 200, response.text
    login(api)
    page = api.get("/mijn/toegang").text
    assert page.count("OCMW Gent") >= 2
    assert "Noodsituatie" in page and justification in page
    assert "✘ Nee" in page and "Je gaf hiervoor geen toestemming." in page  # not by colour only
    assert VALID_INSZ not in page


# --- giving, preview, narrowing, revoking -------------------------------------------------------


def test_give_consent_through_the_form(api: TestClient, settings: Settings) -> None:
    token = login(api)
    response = api.post("/mijn/toestemmingen/nieuw", data=form(token), follow_redirects=False)
    assert response.status_code == 303
    [created] = my_consents(api, settings)
    assert response.headers["location"] == f"/mijn/toestemmingen/{created['id']}?klaar=gegeven"
    current = created["current"]
    assert current["recipients"] == [{"kind": "partner_type", "id": "caw"}]
    assert current["sections"] == ["inkomen"] and current["evidence"]["method"] == "portal"
    assert "Gelukt" in api.get(response.headers["location"]).text


def test_preview_grants_a_covered_section_and_denies_others(api: TestClient,
                                                            settings: Settings) -> None:
    declare_relation(api, settings, "caw-oost-vlaanderen")
    token = login(api)
    page = api.post("/mijn/toestemmingen/nieuw", data=form(token, actie="voorbeeld"))
    assert page.status_code == 200
    rows = dict(re.findall(r'<th scope="row">([^<]+)</th>\s*<td><span class="verdict (\w+)',
                           page.text))
    assert rows["Inkomen"] == "ok"
    assert rows["Wonen"] == "no" and rows["Gezondheid"] == "no"
    assert "Je gaf hiervoor geen toestemming." in page.text
    assert my_consents(api, settings) == []  # a preview stores nothing
    # Without the proposal (current consents only) nothing is granted.
    current = api.get("/mijn/voorbeeld?partner=caw-oost-vlaanderen&doel=rechtenverkenning").text
    assert 'verdict ok' not in current and "Je gaf hiervoor geen toestemming." in current


def test_preview_denies_a_partner_that_does_not_help(api: TestClient) -> None:
    login(api)
    page = api.get("/mijn/voorbeeld?partner=dmw-cm&doel=rechtenverkenning").text
    assert "Deze dienst helpt je nu niet." in page and "verdict ok" not in page


def test_narrow_through_the_form_after_confirmation(api: TestClient, settings: Settings) -> None:
    consent_id = give_consent(api, settings, sections=["inkomen", "huisvesting"])["consent"]["id"]
    token = login(api)
    data = {"csrf": token, "recipient": "partner_type:caw", "purpose": "rechtenverkenning",
            "section": "inkomen", "valid_until": my_consents(api, settings)[0]["current"][
                "valid_until"][:10]}
    path = f"/mijn/toestemmingen/{consent_id}/beperken"
    confirm = api.post(path, data=data)
    assert confirm.status_code == 200
    assert "Ben je zeker?" in confirm.text and "Niet meer te zien" in confirm.text
    assert "Wonen" in confirm.text
    assert my_consents(api, settings)[0]["current"]["version"] == 1  # nothing changed yet
    done = api.post(path, data={**data, "bevestigd": "ja"}, follow_redirects=False)
    assert done.status_code == 303
    [narrowed] = my_consents(api, settings)
    assert narrowed["current"]["version"] == 2 and narrowed["current"]["sections"] == ["inkomen"]
    history = api.get(f"/mijn/toestemmingen/{consent_id}").text
    assert "Versie 2: Beperkt" in history and "Versie 1: Gegeven" in history


def test_narrowing_that_widens_is_refused_in_dutch(api: TestClient, settings: Settings) -> None:
    consent_id = give_consent(api, settings)["consent"]["id"]
    token = login(api)
    response = api.post(f"/mijn/toestemmingen/{consent_id}/beperken", data={
        "csrf": token, "recipient": "partner_type:caw", "purpose": "rechtenverkenning",
        "section": ["inkomen", "huisvesting", "gezondheid"], "valid_until": in_days(60)})
    assert response.status_code == 422
    assert "Je kan hier alleen iets weghalen" in response.text
    assert my_consents(api, settings)[0]["current"]["version"] == 1


def test_revoke_through_the_form_after_confirmation(api: TestClient, settings: Settings) -> None:
    consent_id = give_consent(api, settings)["consent"]["id"]
    token = login(api)
    confirm = api.get(f"/mijn/toestemmingen/{consent_id}/intrekken")
    assert "stopt dit vanaf nu helemaal" in confirm.text
    done = api.post(f"/mijn/toestemmingen/{consent_id}/intrekken", data={"csrf": token},
                    follow_redirects=False)
    assert done.status_code == 303
    assert my_consents(api, settings)[0]["status"] == "revoked"
    again = api.post(f"/mijn/toestemmingen/{consent_id}/intrekken", data={"csrf": token})
    assert again.status_code == 409 and "al ingetrokken of verlopen" in again.text


# --- security -----------------------------------------------------------------------------------


@pytest.mark.parametrize("token", [None, "wrong"], ids=["missing", "wrong"])
@pytest.mark.parametrize("action", ["give", "narrow", "revoke", "logout"])
def test_csrf_missing_or_wrong_is_403_and_changes_nothing(
    api: TestClient, settings: Settings, action: str, token: str | None
) -> None:
    consent_id = give_consent(api, settings, sections=["inkomen", "huisvesting"])["consent"]["id"]
    login(api)
    path, data = {
        "give": ("/mijn/toestemmingen/nieuw", form(token)),
        "narrow": (f"/mijn/toestemmingen/{consent_id}/beperken",
                   {"csrf": token, "recipient": "partner_type:caw", "section": "inkomen",
                    "purpose": "rechtenverkenning", "valid_until": in_days(30),
                    "bevestigd": "ja"}),
        "revoke": (f"/mijn/toestemmingen/{consent_id}/intrekken", {"csrf": token}),
        "logout": ("/mijn/logout", {"csrf": token}),
    }[action]
    response = api.post(path, data={k: v for k, v in data.items() if v is not None},
                        follow_redirects=False)
    assert response.status_code == 403
    assert "Er is niets veranderd" in response.text
    [only] = my_consents(api, settings)
    assert only["status"] == "active" and only["current"]["version"] == 1
    assert api.get("/mijn", follow_redirects=False).status_code == 200  # still logged in


def test_login_without_csrf_is_refused(api: TestClient) -> None:
    api.get("/mijn/login")
    response = api.post("/mijn/login", data={"citizen": AN}, follow_redirects=False)
    assert response.status_code == 403
    assert api.get("/mijn", follow_redirects=False).status_code == 303


def test_another_clients_consent_is_404_like_an_unknown_one(api: TestClient,
                                                            settings: Settings) -> None:
    theirs = give_consent(api, settings, insz=OTHER_INSZ)["consent"]["id"]
    token = login(api, AN)
    for consent_id in (theirs, "cs-does-not-exist"):
        for suffix in ("", "/beperken", "/intrekken", "/bewijs", "/bewijs.json"):
            response = api.get(f"/mijn/toestemmingen/{consent_id}{suffix}")
            assert response.status_code == 404, suffix
            assert "Niet gevonden" in response.text
        revoked = api.post(f"/mijn/toestemmingen/{consent_id}/intrekken", data={"csrf": token})
        assert revoked.status_code == 404
    assert my_consents(api, settings, OTHER_INSZ)[0]["status"] == "active"


BAD_FORMS: dict[str, tuple[dict[str, Any], str]] = {
    "unknown-purpose": ({"purpose": ["nieuwsgierigheid"]}, "Kies een doel uit de lijst."),
    "unknown-section": ({"section": ["paspoort"]}, "Kies gegevens uit de lijst."),
    "working-notes": ({"section": ["werkaantekeningen"]}, "Werkaantekeningen worden nooit gedeeld"),
    "end-in-past": ({"valid_until": in_days(-1)}, "De einddatum ligt in het verleden."),
    "end-too-far": ({"valid_until": in_days(800)}, "ten hoogste 24 maanden"),
    "end-not-a-date": ({"valid_until": "31-12-2026"}, "Schrijf de einddatum als jaar-maand-dag"),
    "end-missing": ({"valid_until": ""}, "Kies een einddatum."),
    "no-recipients": ({"recipient": None}, "Kies minstens één dienst"),
    "unknown-partner": ({"recipient": ["partner:bestaat-niet"]}, "Kies een dienst uit de lijst."),
    "bad-recipient": ({"recipient": ["iemand"]}, "Kies een dienst uit de lijst."),
    "no-purposes": ({"purpose": None}, "Kies minstens één doel."),
    "no-sections": ({"section": None}, "Kies minstens één soort gegevens."),
    "purpose-too-long": ({"purpose": ["x" * 80]}, "Er klopt iets niet in het formulier."),
}


# Refused by the form's checks before anything is stored; on both backends the refusals after
# the registry, the catalogue and the dates, and one by the form's shape.
@on_backends(("overrides", "message"), BAD_FORMS, both={
    "unknown-partner", "unknown-section", "end-in-past", "purpose-too-long"})
def test_bad_form_input_rerenders_with_a_dutch_error(
    api: TestClient, settings: Settings, overrides: dict[str, Any], message: str
) -> None:
    token = login(api)
    for actie in ("bewaar", "voorbeeld"):
        response = api.post("/mijn/toestemmingen/nieuw", data=form(token, actie=actie,
                                                                    **overrides))
        assert response.status_code == 422, response.text
        assert message in response.text
        assert 'role="alert"' in response.text and "<form" in response.text
    assert my_consents(api, settings) == []


# --- keys and configuration ---------------------------------------------------------------------


def test_session_key_is_private_and_marked_demo(settings: Settings) -> None:
    path = session_key_file(settings)
    assert path.stat().st_mode & 0o777 == 0o600
    assert '"demo": true' in path.read_text()


def test_demo_session_key_refused_outside_demo_mode(settings: Settings, engine: object) -> None:
    from broker.demo import DEMO_REGISTRY

    production = settings.model_copy(update={"demo": False, "registry_file": DEMO_REGISTRY})
    with pytest.raises(ConfigurationError, match="demo keys") as info:
        load_context(production)
    assert "the portal session key" in info.value.detail


def test_outside_demo_mode_login_says_oidc_is_not_configured(
    tmp_path: Path, settings: Settings, engine: object
) -> None:
    from tests.factories import production_settings

    ctx = load_context(production_settings(settings, tmp_path))
    try:
        with TestClient(create_app(context=ctx), base_url="https://testserver") as client:
            page = client.get("/mijn/login")
            assert page.status_code == 200
            assert "OpenID Connect" in page.text and "nog niet ingesteld" in page.text
            assert "Secure" in page.headers["set-cookie"]
            assert CSRF.search(page.text) is None  # no demo login form outside demo mode
            refused = client.post("/mijn/login", data={"citizen": AN}, follow_redirects=False)
            assert refused.status_code in (403, 404)
            assert client.get("/mijn", follow_redirects=False).status_code == 303
    finally:
        ctx.close()


def test_session_expires(api: TestClient, ctx: Any) -> None:
    from broker.portal.session import new_session, seal, unseal

    now = datetime.now(UTC)
    sealed = seal(new_session(now, insz=VALID_INSZ, name="x"), ctx.session_key.key)
    assert unseal(sealed, ctx.session_key.key, now) is not None
    assert unseal(sealed, ctx.session_key.key, now + timedelta(hours=2)) is None
    assert unseal(sealed, b"\x00" * 32, now) is None
