"""The client's controls of DESIGN §9 in a real browser, against a real demo broker, each flow with
and without JavaScript: the client approves a partner's consent request as asked, approves one
narrower, refuses one; revokes a consent recorded at the desk on the worker's word from the
overview; excludes a partner and undoes it; a trusted person acts on a client's behalf (gives and
revokes a consent for them) and the client then sees who did it; the supervisor marks an attested
record reviewed. What the partner gets afterwards is checked over the v1 API.

The two cases of a flow use different citizens (or partners), so they never see each other's
data in the one broker of this module.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from unittest import mock

import httpx2 as httpx
import pytest

from tests.e2e.browser import PHONE, screenshot
from tests.e2e.test_portal_browser import AN, BRAM, expect, login, new_page

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

    from tests.e2e.conftest import DemoBroker

pytestmark = pytest.mark.slow

CASES = {"javascript": True, "no-javascript": False}


@dataclass(frozen=True)
class V1:
    """The v1 API of the demo broker, as partner systems, clients and the supervisor call it,
    with tokens minted in-process by the functions behind ``gbo-broker token`` (same keys)."""

    base: str
    settings: Any

    def call(self, method: str, path: str, token: str, body: Any = None,
             headers: dict[str, str] | None = None) -> Any:
        response = httpx.request(method, f"{self.base}{path}", json=body, timeout=10,
                                 headers={"Authorization": f"Bearer {token}", **(headers or {})})
        assert response.status_code in (200, 201), response.text
        return response.json()

    def partner(self, partner: str, method: str, path: str, body: Any = None) -> Any:
        from broker.security.tokens import partner_token

        token = partner_token(self.settings, partner=partner, worker="w-e2e",
                              now=datetime.now(UTC))
        return self.call(method, path, token, body)

    def client(self, insz: str, method: str, path: str, body: Any = None,
               headers: dict[str, str] | None = None) -> Any:
        """As the client ``insz`` (``headers``: e.g. ``X-On-Behalf-Of``, DESIGN §9)."""
        from broker.security.tokens import client_token

        token = client_token(self.settings, insz=insz, now=datetime.now(UTC))
        return self.call(method, path, token, body, headers)

    def supervisor(self, method: str, path: str, body: Any = None) -> Any:
        """As an auditor with the ``supervisor`` scope (DESIGN §5, §10)."""
        from broker.security.tokens import issuer_token

        token = issuer_token(self.settings, claims={
            "sub": "toezicht-e2e", "role": "auditor", "scope": "supervisor"},
            now=datetime.now(UTC))
        return self.call(method, path, token, body)

    def reasons(self, partner: str, insz: str, purpose: str, section: str) -> dict[str, Any]:
        """What ``partner`` gets of ``section`` for ``purpose``: verdict and reasons."""
        decision = self.partner(partner, "POST", "/v1/access-requests",
                                {"insz": insz, "purpose": purpose, "sections": [section]})
        found: dict[str, Any] = decision["sections"][section]
        return found

    def ask(self, partner: str, insz: str, *, purposes: list[str], sections: list[str],
            message: str) -> str:
        """``partner`` (which helps the client) asks consent for itself; the request's id."""
        until = (datetime.now(UTC) + timedelta(days=120)).isoformat()
        created = self.partner(partner, "POST", "/v1/consent-requests", {
            "insz": insz, "recipients": [{"kind": "partner", "id": partner}],
            "purposes": purposes, "sections": sections, "valid_until": until,
            "message": message})
        request_id: str = created["id"]
        return request_id

    def request_status(self, partner: str, request_id: str) -> str:
        status: str = self.partner(partner, "GET", f"/v1/consent-requests/{request_id}")["status"]
        return status


def v1_of(demo_broker: DemoBroker) -> V1:
    from broker.settings import Settings

    with mock.patch.dict(os.environ, demo_broker.env, clear=True):
        return V1(base=demo_broker.base, settings=Settings())


@pytest.fixture(scope="module")
def v1(demo_broker: DemoBroker) -> V1:
    return v1_of(demo_broker)


def client_page(browser: Browser, base: str, who: tuple[str, str], javascript: bool) -> Page:
    page = new_page(browser, viewport=PHONE, javascript=javascript)
    login(page, base, who[0])
    return page


def open_request(page: Page, message: str) -> None:
    """From the overview, the request whose message is ``message``."""
    card = page.locator("li.request").filter(has_text=message)
    expect(card).to_be_visible()
    card.get_by_role("link", name="Bekijk de vraag en beslis").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Vraag van")
    expect(page.locator("blockquote.message")).to_have_text(message)


# --- consent requests -------------------------------------------------------------------------


@dataclass(frozen=True)
class Asking:
    citizen: tuple[str, str]
    partner: str  # helps the citizen in the demo seed (broker/demo/seed.yaml)
    partner_name: str


ASKING = {"javascript": Asking(AN, "ocmw-gent", "OCMW Gent"),
          "no-javascript": Asking(BRAM, "dmw-cm", "Dienst Maatschappelijk Werk CM")}


@pytest.mark.parametrize("case", list(CASES))
def test_client_approves_a_pending_request_as_asked(browser: Browser, demo_broker: DemoBroker,
                                                    v1: V1, case: str) -> None:
    who = ASKING[case]
    insz = who.citizen[1]
    message = f"Mogen we je hulpvraag lezen om je door te verwijzen? ({uuid.uuid4().hex[:6]})"
    request_id = v1.ask(who.partner, insz, purposes=["doorverwijzing"], sections=["hulpvraag"],
                        message=message)
    assert v1.reasons(who.partner, insz, "doorverwijzing", "hulpvraag")["verdict"] == "denied"
    page = client_page(browser, demo_broker.base, who.citizen, CASES[case])
    open_request(page, message)
    expect(page.locator("dl.terms")).to_contain_text("Hulpvraag")
    page.get_by_role("button", name="Ja, ik geef deze toestemming").click()
    expect(page.get_by_role("status")).to_contain_text("De toestemming is gegeven")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Goedgekeurd")
    screenshot(page, f"request-approved-{case}")
    assert v1.request_status(who.partner, request_id) == "approved"
    assert v1.reasons(who.partner, insz, "doorverwijzing", "hulpvraag")["verdict"] == "granted"
    page.get_by_role("link", name="Bekijk de toestemming en het bewijs").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Actief")
    page.context.close()


@pytest.mark.parametrize("case", list(CASES))
def test_client_approves_a_request_narrower(browser: Browser, demo_broker: DemoBroker, v1: V1,
                                            case: str) -> None:
    who = ASKING[case]
    insz = who.citizen[1]
    message = f"Mogen we je rechten en je werk bekijken? ({uuid.uuid4().hex[:6]})"
    request_id = v1.ask(who.partner, insz, purposes=["rechtenverkenning"],
                        sections=["rechten", "werk"], message=message)
    page = client_page(browser, demo_broker.base, who.citizen, CASES[case])
    open_request(page, message)
    page.get_by_role("link", name="Ja, maar minder").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Minder toelaten")
    page.get_by_label("Werk: ").uncheck()
    page.get_by_role("button", name="Verder").click()
    # The confirmation says what the partner will be able to see, and what not.
    expect(page.get_by_role("heading", level=1)).to_have_text("Ben je zeker?")
    sees = page.locator("dl.terms")
    expect(sees.get_by_text("Rechten", exact=True)).to_have_count(1)
    expect(sees.get_by_text("Werk", exact=True)).to_have_count(0)
    expect(page.locator("ul.stops").get_by_text("Werk", exact=True)).to_have_count(1)
    screenshot(page, f"request-narrower-confirm-{case}")
    assert v1.request_status(who.partner, request_id) == "pending"  # nothing stored yet
    page.get_by_role("button", name="Ja, geef deze toestemming").click()
    expect(page.get_by_role("status")).to_contain_text("De toestemming is gegeven")
    assert v1.request_status(who.partner, request_id) == "approved"
    assert v1.reasons(who.partner, insz, "rechtenverkenning", "rechten")["verdict"] == "granted"
    werk = v1.reasons(who.partner, insz, "rechtenverkenning", "werk")
    assert werk["verdict"] == "denied" and "no_consent_for_section" in werk["reasons"]
    page.context.close()


@pytest.mark.parametrize("case", list(CASES))
def test_client_refuses_a_request(browser: Browser, demo_broker: DemoBroker, v1: V1,
                                  case: str) -> None:
    who = ASKING[case]
    insz = who.citizen[1]
    message = f"Mogen we je gezinssituatie bekijken? ({uuid.uuid4().hex[:6]})"
    request_id = v1.ask(who.partner, insz, purposes=["gezamenlijke_begeleiding"],
                        sections=["gezinssituatie"], message=message)
    page = client_page(browser, demo_broker.base, who.citizen, CASES[case])
    open_request(page, message)
    page.get_by_role("button", name="Nee, ik weiger").click()
    expect(page.get_by_role("status")).to_contain_text("De vraag is geweigerd")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Geweigerd")
    expect(page.get_by_role("button", name="Nee, ik weiger")).to_have_count(0)
    assert v1.request_status(who.partner, request_id) == "refused"
    refused = v1.reasons(who.partner, insz, "gezamenlijke_begeleiding", "gezinssituatie")
    assert refused == {"verdict": "denied", "reasons": ["no_consent_for_section"]}, refused
    page.get_by_role("link", name="Overzicht", exact=True).click()
    expect(page.locator("li.request").filter(has_text=message)).to_have_count(0)
    page.context.close()


# --- a desk consent on the worker's word, revoked from the overview ---------------------------


@pytest.mark.parametrize("case", list(CASES))
def test_client_revokes_an_attested_desk_consent_from_the_overview(
    browser: Browser, demo_broker: DemoBroker, v1: V1, case: str
) -> None:
    who = ASKING[case]
    insz = who.citizen[1]
    until = (datetime.now(UTC) + timedelta(days=20)).isoformat()
    consent = v1.partner(who.partner, "POST", "/v1/consents", {  # no eID: attested
        "insz": insz, "evidence": {"method": "verbal_at_desk"},
        "recipients": [{"kind": "partner", "id": who.partner}], "purposes": ["rechtenverkenning"],
        "sections": ["contact"], "valid_until": until})["consent"]
    assert consent["proof"] == "attested"
    assert v1.reasons(who.partner, insz, "rechtenverkenning", "contact")["verdict"] == "granted"
    page = client_page(browser, demo_broker.base, who.citizen, CASES[case])
    notice = page.locator("li.desk.attested").filter(
        has=page.locator(f"form[action='/mijn/toestemmingen/{consent['id']}/intrekken']"))
    expect(notice).to_contain_text(f"{who.partner_name} noteerde op")
    expect(notice).to_contain_text("op het woord van de hulpverlener")
    expect(notice.get_by_role("link", name=f"{who.partner_name} uitsluiten")).to_be_visible()
    screenshot(page, f"desk-notice-{case}")
    notice.get_by_role("button", name="Trek deze toestemming in").click()
    expect(page.get_by_role("status")).to_contain_text("Je toestemming is ingetrokken")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Ingetrokken")
    denied = v1.reasons(who.partner, insz, "rechtenverkenning", "contact")
    assert denied["verdict"] == "denied"
    page.get_by_role("link", name="Overzicht", exact=True).click()
    expect(page.locator(f"form[action='/mijn/toestemmingen/{consent['id']}/intrekken']")
           ).to_have_count(0)
    page.context.close()


# --- exclusions -------------------------------------------------------------------------------


@pytest.mark.parametrize("case", list(CASES))
def test_client_excludes_a_partner_and_undoes_it(browser: Browser, demo_broker: DemoBroker,
                                                 v1: V1, case: str) -> None:
    citizen = ASKING[case].citizen
    insz = citizen[1]

    def excluded() -> bool:
        found = v1.reasons("dmw-solidaris", insz, "rechtenverkenning", "identiteit")
        return "excluded_by_client" in found["reasons"]

    assert not excluded()
    page = client_page(browser, demo_broker.base, citizen, CASES[case])
    page.get_by_role("link", name="Diensten uitsluiten", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Diensten uitsluiten")
    page.get_by_label("Welke dienst mag niets meer krijgen?").select_option("dmw-solidaris")
    page.get_by_role("button", name="Sluit deze dienst uit").click()
    expect(page.get_by_role("status")).to_contain_text("De dienst is uitgesloten")
    expect(page.locator("main li").filter(has_text="Solidaris")).to_contain_text(
        "is uitgesloten sinds")
    screenshot(page, f"excluded-{case}")
    assert excluded()
    page.get_by_role("button", name="Uitsluiting opheffen voor Dienst Maatschappelijk Werk "
                                    "Solidaris").click()
    expect(page.get_by_role("status")).to_contain_text("De uitsluiting is opgeheven")
    expect(page.get_by_text("Er is geen enkele dienst uitgesloten.")).to_be_visible()
    assert not excluded()
    page.context.close()


# --- a trusted person ---------------------------------------------------------------------------


TRUST = {"javascript": (AN, BRAM), "no-javascript": (BRAM, AN)}  # (client, trusted person)


@pytest.mark.parametrize("case", list(CASES))
def test_trusted_person_acts_for_the_client_who_then_sees_who_did_it(
    browser: Browser, demo_broker: DemoBroker, v1: V1, case: str
) -> None:
    (client, client_insz), (trusted, trusted_insz) = TRUST[case]
    javascript, base = CASES[case], demo_broker.base

    # The client names the trusted person (the number is typed, never shown back).
    page = client_page(browser, base, (client, client_insz), javascript)
    page.get_by_role("link", name="Vertrouwenspersonen", exact=True).click()
    page.get_by_label("Rijksregisternummer van je vertrouwenspersoon").fill(trusted_insz)
    page.get_by_label("Naam van je vertrouwenspersoon").fill(trusted)
    page.get_by_label("Jouw naam, zoals je vertrouwenspersoon je kent").fill(client)
    page.get_by_role("button", name="Kies deze vertrouwenspersoon").click()
    expect(page.get_by_role("status")).to_contain_text("Gelukt")
    expect(page.locator("main")).to_contain_text(trusted)
    assert trusted_insz not in page.content()

    # The trusted person, logged in as themselves, acts for the client.
    other = client_page(browser, base, (trusted, trusted_insz), javascript)
    other.get_by_role("link", name="Vertrouwenspersonen", exact=True).click()
    other.get_by_role("button", name=f"Handel namens {client}", exact=True).click()
    banner = other.locator("form.acting")
    expect(banner).to_contain_text(f"Je handelt namens {client}.")
    screenshot(other, f"acting-overview-{case}")
    other.get_by_role("link", name="Mijn dossier", exact=True).click()
    expect(other.get_by_role("heading", level=1)).to_have_text(
        "Dit kan je niet zien met een volmacht")
    expect(banner).to_be_visible()

    other.get_by_role("link", name="Mijn toestemmingen", exact=True).click()
    other.get_by_role("link", name="Nieuwe toestemming geven").click()
    other.check("input[name=recipient][value='partner:dmw-solidaris']")
    other.check("input[name=purpose][value='rechtenverkenning']")
    other.check("input[name=section][value='gezinssituatie']")
    expect(other.get_by_role("button", name="Toon wat deze dienst zou zien")).to_have_count(0)
    other.get_by_role("button", name="Geef toestemming", exact=True).click()
    expect(other.get_by_role("status")).to_contain_text("Je toestemming is bewaard")
    consent_url = other.url.split("?")[0]
    [given] = [c for c in v1.client(client_insz, "GET", "/v1/me/consents")["consents"]
               if c["id"] in consent_url]
    assert given["current"]["recipients"] == [{"kind": "partner", "id": "dmw-solidaris"}]
    mine = v1.client(trusted_insz, "GET", "/v1/me/consents")["consents"]
    assert given["id"] not in {c["id"] for c in mine}  # the client's, not the person's own
    other.get_by_role("link", name="Intrekken", exact=True).click()
    other.get_by_role("button", name="Ja, trek deze toestemming in").click()
    expect(other.get_by_role("status")).to_contain_text("Je toestemming is ingetrokken")
    expect(other.locator("ol.history")).to_contain_text("door jou, als vertrouwenspersoon")
    other.get_by_role("button", name="Terug naar mijn eigen gegevens").click()
    expect(other.locator("form.acting")).to_have_count(0)
    expect(other.get_by_role("heading", level=1)).to_have_text("Mijn overzicht")
    other.context.close()

    # The client sees who did it.
    page.goto(consent_url)
    history = page.locator("ol.history")
    expect(history).to_contain_text(f"door je vertrouwenspersoon {trusted}")
    expect(history.locator("li").filter(has_text="Versie 2: Ingetrokken")).to_contain_text(
        f"door je vertrouwenspersoon {trusted}")
    screenshot(page, f"acting-seen-by-client-{case}")
    page.context.close()


# --- the supervisor ---------------------------------------------------------------------------


def audit_login(page: Page, base: str, scope: str) -> None:
    page.goto(f"{base}/audit/login")
    page.get_by_label(scope).check()
    page.get_by_role("button", name="Inloggen met deze demo-rol").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Auditlogboek")


@pytest.mark.parametrize("case", list(CASES))
def test_supervisor_marks_an_attested_record_reviewed(browser: Browser, demo_broker: DemoBroker,
                                                      v1: V1, case: str) -> None:
    insz = ASKING[case].citizen[1]
    until = (datetime.now(UTC) + timedelta(days=10)).isoformat()
    consent_id = v1.partner(ASKING[case].partner, "POST", "/v1/consents", {
        "insz": insz, "evidence": {"method": "signed_paper", "reference": "E2E-1"},
        "recipients": [{"kind": "partner_type", "id": "caw"}], "purposes": ["rechtenverkenning"],
        "sections": ["identiteit"], "valid_until": until})["consent"]["id"]
    note = f"Nagebeld met de cliënt, in orde ({case})."
    page = new_page(browser, viewport=PHONE, javascript=CASES[case])
    audit_login(page, demo_broker.base, "supervisor")
    page.get_by_role("link", name="Nazicht", exact=True).click()
    page.get_by_label("Toon").select_option("open")
    page.get_by_role("button", name="Toon", exact=True).click()
    record = page.locator("article.review").filter(has_text=consent_id)
    expect(record).to_contain_text(f"Toestemming van {ASKING[case].partner_name}")
    expect(record).to_contain_text("Nee, nog niet")
    record.get_by_label("Notitie bij je nazicht").fill(note)
    record.get_by_role("button", name="Markeer als nagekeken").click()
    expect(page.get_by_role("status")).to_contain_text("gemarkeerd als nagekeken")
    expect(page.locator("article.review").filter(has_text=consent_id)).to_have_count(0)
    page.get_by_label("Toon").select_option("nagekeken")
    page.get_by_role("button", name="Toon", exact=True).click()
    done = page.locator("article.review").filter(has_text=consent_id)
    expect(done).to_contain_text(note)
    expect(done).to_contain_text("Ja, op")
    screenshot(page, f"review-marked-{case}")
    page.context.close()
