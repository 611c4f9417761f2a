"""Every page of the client's controls (DESIGN §9), of the supervisor's review queue and of the
case consultations (DESIGN §10: the auditors' list, the client's notice at the end), in a real
browser against a real demo broker: zero axe-core violations (WCAG 2.1 A/AA) on a desktop and on
a 360 px phone (where nothing may scroll sideways), and nothing blocked by the portal's
Content-Security-Policy. A screenshot of each under ``test-artefacts/screenshots/``.

Pages are data (``PAGES``): how to reach a page (or one state of it), and as whom: the client
(An), a trusted person acting for her (Bram), or the supervisor. Reaching a page changes
nothing, so the tests run in any order.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest

from tests.e2e.browser import (
    DESKTOP,
    PHONE,
    axe_violations,
    describe,
    record_csp_violations,
    screenshot,
    scroll_width,
)
from tests.e2e.test_controls_browser import V1, audit_login, v1_of
from tests.e2e.test_portal_browser import AN, BRAM, expect, login, new_page

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page

    from tests.e2e.conftest import DemoBroker

pytestmark = pytest.mark.slow


@dataclass(frozen=True)
class Seeded:
    """What the pages show: ids made by ``seeded`` through the v1 API."""

    pending: str  # the demo's request of CAW Oost-Vlaanderen to An (broker/demo/seed.yaml)
    approved: str  # a request of OCMW Gent that An approved
    by_trusted_person: str  # the url of An's consent that Bram gave and narrowed for her


Opener = Callable[["Page", str, Seeded], None]


def _goto(path: str) -> Opener:
    return lambda page, base, seeded: page.goto(f"{base}{path}")


def _narrow(*, keep: tuple[str, ...]) -> Opener:
    def open_it(page: Page, base: str, seeded: Seeded) -> None:
        page.goto(f"{base}/mijn/vragen/{seeded.pending}/beperken")
        for box in page.locator("input[name=section]").all():
            box.set_checked(box.get_attribute("value") in keep)
        page.get_by_role("button", name="Verder").click()
        if keep:
            expect(page.get_by_role("heading", level=1)).to_have_text("Ben je zeker?")
        else:
            expect(page.get_by_role("alert")).to_be_visible()
    return open_it


def _bad_mandate(page: Page, base: str, seeded: Seeded) -> None:
    page.goto(f"{base}/mijn/vertrouwenspersonen")
    page.get_by_label("Rijksregisternummer van je vertrouwenspersoon").fill("12345678901")
    page.get_by_label("Naam van je vertrouwenspersoon").fill("Iemand")
    page.get_by_role("button", name="Kies deze vertrouwenspersoon").click()
    expect(page.get_by_role("alert")).to_contain_text("Dit rijksregisternummer klopt niet")


def _bad_note(page: Page, base: str, seeded: Seeded) -> None:
    page.goto(f"{base}/audit/nazicht?toon=open")
    first = page.locator("article.review").first
    first.get_by_label("Notitie bij je nazicht").fill("   ")
    first.get_by_role("button", name="Markeer als nagekeken").click()
    expect(page.get_by_role("alert")).to_contain_text("Schrijf een korte notitie")


@dataclass(frozen=True)
class ControlPage:
    open: Opener
    as_user: str = "client"  # client (An) | acting (Bram for An) | supervisor


PAGES = {
    "overview-with-request-and-notices": ControlPage(_goto("/mijn")),
    "requests": ControlPage(_goto("/mijn/vragen")),
    "request": ControlPage(lambda page, base, s: page.goto(f"{base}/mijn/vragen/{s.pending}")),
    "request-approved": ControlPage(
        lambda page, base, s: page.goto(f"{base}/mijn/vragen/{s.approved}")),
    "request-narrow": ControlPage(
        lambda page, base, s: page.goto(f"{base}/mijn/vragen/{s.pending}/beperken")),
    "request-narrow-confirmation": ControlPage(_narrow(keep=("hulpvraag",))),
    "request-narrow-error": ControlPage(_narrow(keep=())),
    "exclusions": ControlPage(_goto("/mijn/uitsluitingen?dienst=ocmw-gent")),
    "mandates": ControlPage(_goto("/mijn/vertrouwenspersonen")),
    "mandates-error": ControlPage(_bad_mandate),
    "consent-by-trusted-person": ControlPage(
        lambda page, base, s: page.goto(s.by_trusted_person)),
    "acting-overview": ControlPage(_goto("/mijn"), "acting"),
    "acting-consents": ControlPage(_goto("/mijn/toestemmingen"), "acting"),
    "acting-give": ControlPage(_goto("/mijn/toestemmingen/nieuw"), "acting"),
    "acting-dossier-refused": ControlPage(_goto("/mijn/dossier"), "acting"),
    "acting-mandates": ControlPage(_goto("/mijn/vertrouwenspersonen"), "acting"),
    "audit-review": ControlPage(_goto("/audit/nazicht"), "supervisor"),
    "audit-review-error": ControlPage(_bad_note, "supervisor"),
    "audit-consultations": ControlPage(_goto("/audit/casusoverleg"), "supervisor"),
}


def seed(v1: V1) -> tuple[Seeded, str]:
    """An's pages have something to show; returns them and the mandate An gave Bram."""
    an, bram = AN[1], BRAM[1]
    until = (datetime.now(UTC) + timedelta(days=60)).isoformat()
    [pending] = [r["id"] for r in v1.client(an, "GET", "/v1/me/consent-requests")["requests"]
                 if r["status"] == "pending"]
    approved = v1.ask("ocmw-gent", an, purposes=["doorverwijzing"], sections=["hulpvraag"],
                      message="Mogen we je hulpvraag doorgeven aan het CAW?")
    v1.client(an, "POST", f"/v1/me/consent-requests/{approved}/approve")
    v1.partner("ocmw-gent", "POST", "/v1/consents", {  # on the worker's word: a notice
        "insz": an, "evidence": {"method": "verbal_at_desk"}, "valid_until": until,
        "recipients": [{"kind": "partner", "id": "ocmw-gent"}],
        "purposes": ["rechtenverkenning"], "sections": ["contact"]})
    v1.client(an, "POST", "/v1/me/exclusions", {"partner": "dmw-solidaris"})
    ended = v1.client(an, "POST", "/v1/me/exclusions", {"partner": "buurtwerk-gent"})["id"]
    v1.client(an, "DELETE", f"/v1/me/exclusions/{ended}")
    mandate = v1.client(an, "POST", "/v1/me/mandates", {
        "insz": bram, "valid_until": until, "trusted_person_name": "Bram Claes",
        "my_name": "An Peeters"})["id"]
    v1.client(bram, "POST", "/v1/me/mandates", {  # so An's page lists one held too
        "insz": an, "valid_until": until, "trusted_person_name": "An Peeters",
        "my_name": "Bram Claes"})
    given = v1.client(bram, "POST", "/v1/me/consents", headers={"X-On-Behalf-Of": mandate},
                      body={"recipients": [{"kind": "partner_type", "id": "caw"}],
                            "purposes": ["rechtenverkenning"],
                            "sections": ["werk", "rechten"], "valid_until": until})
    consent_id = given["consent"]["id"]
    v1.client(bram, "POST", f"/v1/me/consents/{consent_id}/narrow",
              headers={"X-On-Behalf-Of": mandate}, body={"sections": ["rechten"]})
    # DESIGN §10: a case consultation about An, used once and closed: her overview tells her
    consultation = v1.supervisor("POST", "/v1/case-consultations", {
        "insz": an, "legal_basis": {"code": "wet"}, "until": until,
        "goal": "Afspraken over de veiligheid thuis.",
        "participants": ["caw-oost-vlaanderen", "ocmw-gent"]})["id"]
    v1.partner("caw-oost-vlaanderen", "POST", "/v1/access-requests",
               {"insz": an, "purpose": "casusoverleg"})
    v1.supervisor("POST", f"/v1/case-consultations/{consultation}/close")
    return Seeded(pending=pending, approved=approved,
                  by_trusted_person=f"{v1.base}/mijn/toestemmingen/{consent_id}"), mandate


@dataclass
class Visit:
    browser: Browser
    base: str
    states: dict[str, Any]
    seeded: Seeded
    contexts: dict[tuple[int, str, bool], BrowserContext] = field(default_factory=dict)

    def open(self, name: str, viewport: dict[str, int], *,
             csp_violations: list[str] | None = None) -> Page:
        spec = PAGES[name]
        key = (viewport["width"], spec.as_user, csp_violations is not None)
        if key not in self.contexts:
            self.contexts[key] = new_page(self.browser, viewport=viewport,
                                          state=self.states[spec.as_user],
                                          enforce_csp=csp_violations is not None).context
        page = self.contexts[key].new_page()
        if csp_violations is not None:
            record_csp_violations(page, csp_violations)
        spec.open(page, self.base, self.seeded)
        expect(page.get_by_role("heading", level=1)).to_be_visible()
        if spec.as_user == "acting":
            expect(page.locator("form.acting")).to_contain_text("Je handelt namens An Peeters")
        return page


@pytest.fixture(scope="module")
def visit(browser: Browser, demo_broker: DemoBroker) -> Iterator[Visit]:
    v1 = v1_of(demo_broker)
    seeded, mandate = seed(v1)
    base, states = demo_broker.base, {}
    page = new_page(browser)
    login(page, base, AN[0])
    states["client"] = page.context.storage_state()
    page.context.close()
    page = new_page(browser)
    login(page, base, BRAM[0])
    page.goto(f"{base}/mijn/vertrouwenspersonen")
    page.get_by_role("button", name="Handel namens An Peeters", exact=True).click()
    expect(page.locator("form.acting")).to_be_visible()
    states["acting"] = page.context.storage_state()
    page.context.close()
    page = new_page(browser)
    audit_login(page, base, "supervisor")
    states["supervisor"] = page.context.storage_state()
    page.context.close()
    found = Visit(browser=browser, base=base, states=states, seeded=seeded)
    yield found
    for context in found.contexts.values():
        context.close()


@pytest.mark.parametrize("name", list(PAGES))
def test_control_page_has_no_axe_violations(visit: Visit, name: str) -> None:
    page = visit.open(name, DESKTOP)
    screenshot(page, f"controls-{name}-desktop")
    violations = axe_violations(page)
    page.close()
    assert violations == [], f"axe-core on {name}:\n{describe(violations)}"


@pytest.mark.parametrize("name", list(PAGES))
def test_control_page_fits_a_360px_phone_without_axe_violations(visit: Visit, name: str) -> None:
    page = visit.open(name, PHONE)
    screenshot(page, f"controls-{name}-phone")
    width = scroll_width(page)
    violations = axe_violations(page)
    page.close()
    assert width <= PHONE["width"], f"{name} scrolls sideways on a phone: {width} px wide"
    assert violations == [], f"axe-core on {name} (360 px):\n{describe(violations)}"


@pytest.mark.parametrize("name", list(PAGES))
def test_control_page_breaks_no_content_security_policy_rule(visit: Visit, name: str) -> None:
    violations: list[str] = []
    page = visit.open(name, DESKTOP, csp_violations=violations)
    page.close()
    assert violations == [], f"{name} under the portal's CSP:\n" + "\n".join(violations)


def test_overview_tells_an_of_her_ended_consultation(visit: Visit) -> None:
    """DESIGN §10: the page checked above does show the consultation's notice."""
    page = visit.open("overview-with-request-and-notices", DESKTOP)
    expect(page.get_by_role("heading", name="Casusoverleg over jou")).to_be_visible()
    page.close()
