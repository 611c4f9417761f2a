"""The client portal ``/mijn`` in a real browser (DESIGN §2 "Quality"), against a real demo broker.

- The core flow, with and without JavaScript: log in, give a consent after previewing what a
  partner would see, the partner's access succeeds, the client sees it in the access log,
  revokes (after a confirmation), and the partner's next access is denied.
- Every page: zero axe-core violations (WCAG 2.1 A/AA), on a desktop and on a 360 px phone,
  where nothing may scroll sideways. A screenshot of each under ``test-artefacts/screenshots/``.

Pages are data (``PAGES``): a page of the auditor portal is one more row with its own login.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
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

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page

    from tests.e2e.conftest import DemoBroker

pytestmark = pytest.mark.slow

AN = ("An Peeters", "85073003328")  # broker/demo/seed.yaml: helped by ocmw-gent and caw
BRAM = ("Bram Claes", "01020312345")  # helped by dmw-cm and ocmw-gent
TIMEOUT_MS = 10_000


def expect(target: Any) -> Any:
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(target)


def new_page(browser: Browser, *, viewport: dict[str, int] = DESKTOP, javascript: bool = True,
             state: Any = None, enforce_csp: bool = False) -> Page:
    # By default the portal's Content-Security-Policy is bypassed: axe-core is injected as an
    # inline script, which that policy rightly blocks. ``enforce_csp`` keeps it, for the tests
    # that every page works under it (``test_page_breaks_no_content_security_policy_rule``).
    context = browser.new_context(viewport=viewport, java_script_enabled=javascript,
                                  bypass_csp=not enforce_csp, locale="nl-BE",
                                  storage_state=state)
    context.set_default_timeout(TIMEOUT_MS)
    return context.new_page()


def login(page: Page, base: str, name: str) -> None:
    page.goto(f"{base}/mijn/login")
    page.get_by_label(name).check()
    page.get_by_role("button", name="Inloggen als deze persoon").click()
    expect(page).to_have_url(f"{base}/mijn")
    expect(page.get_by_role("heading", level=1)).to_have_text("Mijn overzicht")
    expect(page.get_by_text(f"Ingelogd als {name}")).to_be_visible()


def row(page: Page, scope: Any, label: str) -> Any:
    """The table row whose row header is ``label`` (a section's label)."""
    return scope.get_by_role("row").filter(
        has=page.get_by_role("rowheader", name=label, exact=True))


# --- the core flow ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Flow:
    citizen: tuple[str, str]
    partner: str  # a partner that helps the citizen (seed.yaml) and has no consent for this yet
    partner_name: str
    worker: str
    purpose: str = "hulpvraagverheldering"
    purpose_label: str = "Hulpvraag verhelderen"
    section: str = "hulpvraag"
    section_label: str = "Hulpvraag"


FLOWS = {
    "javascript": (True, Flow(AN, "caw-oost-vlaanderen", "CAW Oost-Vlaanderen", "w-31")),
    # A different citizen: the two flows share one broker and must not see each other's data.
    "no-javascript": (False, Flow(BRAM, "dmw-cm", "Dienst Maatschappelijk Werk CM", "w-7")),
}


@pytest.mark.parametrize("case", list(FLOWS))
def test_client_gives_consent_partner_reads_client_sees_it_revokes_partner_is_denied(
    browser: Browser, demo_broker: DemoBroker, case: str,
) -> None:
    javascript, flow = FLOWS[case]
    base, (name, insz) = demo_broker.base, flow.citizen
    page = new_page(browser, viewport=PHONE, javascript=javascript)

    def partner_reads() -> dict[str, Any]:
        return demo_broker.access(partner=flow.partner, worker=flow.worker, insz=insz,
                                  purpose=flow.purpose, sections=[flow.section])

    before = partner_reads()
    assert before["sections"][flow.section]["verdict"] == "denied"

    login(page, base, name)
    page.get_by_role("link", name="Mijn toestemmingen", exact=True).click()
    page.get_by_role("link", name="Nieuwe toestemming geven").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Toestemming geven")
    page.check(f"input[name=recipient][value='partner:{flow.partner}']")
    page.check(f"input[name=purpose][value='{flow.purpose}']")
    page.check(f"input[name=section][value='{flow.section}']")

    # Preview before saving: the same policy engine, nothing stored yet.
    page.get_by_label("Dienst", exact=True).select_option(flow.partner)
    page.get_by_label("Doel", exact=True).select_option(flow.purpose)
    page.get_by_role("button", name="Toon wat deze dienst zou zien").click()
    preview = page.locator("section.preview")
    expect(preview.get_by_role("heading")).to_contain_text(flow.partner_name)
    expect(preview).to_contain_text("Er is nog niets bewaard")
    expect(row(page, preview, flow.section_label)).to_contain_text("Ja, mag zien")
    expect(row(page, preview, "Werkaantekeningen")).to_contain_text("Nee")
    screenshot(page, f"flow-{case}-1-preview")
    assert partner_reads()["sections"][flow.section]["verdict"] == "denied"  # not saved yet

    # The form kept the choices; save.
    expect(page.locator(f"input[value='partner:{flow.partner}']")).to_be_checked()
    page.get_by_role("button", name="Geef toestemming", exact=True).click()
    expect(page.get_by_role("status")).to_contain_text("Je toestemming is bewaard")
    expect(page.locator("dl.terms").first).to_contain_text(flow.partner_name)
    consent_url = page.url.split("?")[0]
    screenshot(page, f"flow-{case}-2-given")

    granted = partner_reads()
    assert granted["sections"][flow.section]["verdict"] == "granted", granted

    # The client sees that access: newest first, who, why, which part, granted.
    page.get_by_role("link", name="Wie keek?", exact=True).click()
    newest = page.locator("article.access").first
    expect(newest.get_by_role("heading")).to_have_text(flow.partner_name)
    expect(newest).to_contain_text(flow.purpose_label)
    expect(row(page, newest, flow.section_label)).to_contain_text("Ja, mag zien")
    screenshot(page, f"flow-{case}-3-access-log")

    # Revoke, after a confirmation that says what stops.
    page.goto(consent_url)
    page.get_by_role("link", name="Intrekken", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Toestemming intrekken")
    expect(page.get_by_text("stopt dit vanaf nu helemaal")).to_be_visible()
    expect(page.locator("dl.terms")).to_contain_text(flow.partner_name)
    page.get_by_role("button", name="Ja, trek deze toestemming in").click()
    expect(page.get_by_role("status")).to_contain_text("Je toestemming is ingetrokken")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Ingetrokken")
    expect(page.get_by_role("link", name="Intrekken", exact=True)).to_have_count(0)
    screenshot(page, f"flow-{case}-4-revoked")

    denied = partner_reads()
    assert denied["sections"][flow.section] == {
        "verdict": "denied", "reasons": ["no_consent_for_section"]}, denied
    page.get_by_role("link", name="Wie keek?", exact=True).click()
    expect(row(page, page.locator("article.access").first, flow.section_label)).to_contain_text(
        "Nee")
    page.context.close()


# --- every page: axe-core, 360 px, screenshots -------------------------------------------------


@dataclass(frozen=True)
class PortalPage:
    """How to reach one page (or one state of a page), and as whom: a key of ``Visit.states``
    (the auditor portal's pages: log in as an auditor in ``visit``, add its state, and name it
    here), or ``None`` for a visitor who is not logged in."""

    open: Callable[[Page, str, str], None]  # (page, base url, a consent's url)
    as_user: str | None = "client"


def _goto(path: str) -> Callable[[Page, str, str], None]:
    return lambda page, base, consent: page.goto(f"{base}{path}")


def _consent(suffix: str) -> Callable[[Page, str, str], None]:
    return lambda page, base, consent: page.goto(f"{consent}{suffix}")


def _give_with_preview(page: Page, base: str, consent: str) -> None:
    page.goto(f"{base}/mijn/toestemmingen/nieuw")
    page.check("input[name=recipient][value='partner:ocmw-gent']")
    page.check("input[name=purpose][value='doorverwijzing']")
    page.check("input[name=section][value='gezondheid']")
    page.get_by_label("Doel", exact=True).select_option("doorverwijzing")
    page.get_by_role("button", name="Toon wat deze dienst zou zien").click()
    expect(page.locator("section.preview")).to_be_visible()


def _give_with_error(page: Page, base: str, consent: str) -> None:
    page.goto(f"{base}/mijn/toestemmingen/nieuw")
    page.get_by_role("button", name="Geef toestemming", exact=True).click()
    expect(page.get_by_role("alert")).to_be_visible()


def _narrow_confirmation(page: Page, base: str, consent: str) -> None:
    page.goto(f"{consent}/beperken")
    page.uncheck("input[name=section][value='schulden']")
    page.get_by_role("button", name="Verder").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Ben je zeker?")


PAGES = {
    "login": PortalPage(_goto("/mijn/login"), as_user=None),
    "privacy": PortalPage(_goto("/mijn/privacy"), as_user=None),
    "overview": PortalPage(_goto("/mijn")),  # with a referral (``visit``)
    "consents": PortalPage(_goto("/mijn/toestemmingen")),
    "give": PortalPage(_goto("/mijn/toestemmingen/nieuw")),
    "give-preview": PortalPage(_give_with_preview),
    "give-error": PortalPage(_give_with_error),
    "consent": PortalPage(_consent("")),
    "narrow": PortalPage(_consent("/beperken")),
    "narrow-confirmation": PortalPage(_narrow_confirmation),
    "revoke-confirmation": PortalPage(_consent("/intrekken")),
    "receipt": PortalPage(_consent("/bewijs")),
    "access-log": PortalPage(_goto("/mijn/toegang")),
    "dossier": PortalPage(_goto("/mijn/dossier")),
    "preview": PortalPage(_goto("/mijn/voorbeeld")),
    "preview-result": PortalPage(_goto("/mijn/voorbeeld?partner=caw-oost-vlaanderen"
                                       "&doel=rechtenverkenning")),
    "not-found": PortalPage(_goto("/mijn/toestemmingen/cs-bestaat-niet")),
    "unknown-path": PortalPage(_goto("/mijn/bestaat-niet")),
}


@dataclass
class Visit:
    """Browser contexts for the page tests, one per (viewport, user), made when needed."""

    browser: Browser
    base: str
    states: dict[str, Any]  # logged-in browser storage (session cookies) by user
    consent: str  # the url of An's seeded consent for OCMW Gent (never changed by these tests)
    contexts: dict[tuple[int, str | None, bool], BrowserContext] = field(default_factory=dict)

    def open(self, name: str, viewport: dict[str, int], *,
             csp_violations: list[str] | None = None) -> Page:
        """Open page ``name``; with ``csp_violations``, under the portal's CSP, appending to that
        list whatever it blocks."""
        spec = PAGES[name]
        enforce_csp = csp_violations is not None
        key = (viewport["width"], spec.as_user, enforce_csp)
        if key not in self.contexts:
            state = None if spec.as_user is None else self.states[spec.as_user]
            self.contexts[key] = new_page(self.browser, viewport=viewport, state=state,
                                          enforce_csp=enforce_csp).context
        page = self.contexts[key].new_page()
        if csp_violations is not None:
            record_csp_violations(page, csp_violations)
        spec.open(page, self.base, self.consent)
        expect(page.get_by_role("heading", level=1)).to_be_visible()
        return page


@pytest.fixture(scope="module")
def visit(browser: Browser, demo_broker: DemoBroker) -> Iterator[Visit]:
    """An logged in, with accesses in her log: one ordinary, one break-glass (highlighted), and
    a referral on her overview (DESIGN §10), waiting for her consent."""
    base, insz = demo_broker.base, AN[1]
    demo_broker.post(partner="ocmw-gent", worker="w-12", path="/v1/referrals",
                     body={"insz": insz, "to": "dmw-cm", "reason": "gezondheid",
                           "sections": ["identiteit", "contact"]})
    demo_broker.access(partner="ocmw-gent", worker="w-12", insz=insz,
                       purpose="rechtenrealisatie", sections=["inkomen", "schulden", "justitie"])
    demo_broker.access(partner="ocmw-gent", worker="w-12", insz=insz, purpose="noodsituatie",
                       sections=["identiteit", "contact", "gezondheid"],
                       justification="Cliënt dreigt zichzelf iets aan te doen; de arts moet "
                                     "de medicatie kennen.")
    page = new_page(browser)
    login(page, base, AN[0])
    page.get_by_role("link", name="Mijn toestemmingen", exact=True).click()
    article = page.locator("article.consent").filter(has_text="OCMW Gent").filter(
        has_text="Rechten realiseren")
    consent = base + (article.get_by_role("link").first.get_attribute("href") or "")
    found = Visit(browser=browser, base=base, states={"client": page.context.storage_state()},
                  consent=consent)
    page.context.close()
    yield found
    for context in found.contexts.values():
        context.close()


@pytest.mark.parametrize("name", list(PAGES))
def test_page_has_no_axe_violations(visit: Visit, name: str) -> None:
    page = visit.open(name, DESKTOP)
    screenshot(page, f"{name}-desktop")
    violations = axe_violations(page)
    page.close()
    assert violations == [], f"axe-core on {name}:\n{describe(violations)}"


@pytest.mark.parametrize("name", list(PAGES))
def test_page_fits_a_360px_phone_without_axe_violations(visit: Visit, name: str) -> None:
    page = visit.open(name, PHONE)
    screenshot(page, f"{name}-phone")
    width = scroll_width(page)
    violations = axe_violations(page)
    page.close()
    assert width <= PHONE["width"], f"{name} scrolls sideways on a phone: {width} px wide"
    assert violations == [], f"axe-core on {name} (360 px):\n{describe(violations)}"


@pytest.mark.parametrize("name", list(PAGES))
def test_page_breaks_no_content_security_policy_rule(visit: Visit, name: str) -> None:
    """DESIGN §2: no inline script or style, nothing from elsewhere; forms post to this server."""
    violations: list[str] = []
    page = visit.open(name, DESKTOP, csp_violations=violations)
    page.close()
    assert violations == [], f"{name} under the portal's CSP:\n" + "\n".join(violations)


def test_overview_shows_the_referral_in_plain_dutch(visit: Visit) -> None:
    """DESIGN §10: the referral made in ``visit`` is on An's overview, as the axe tests saw it."""
    page = visit.open("overview", PHONE)
    expect(page.get_by_role("heading", name="Mijn doorverwijzingen")).to_be_visible()
    expect(page.get_by_role("list", name="Mijn doorverwijzingen")).to_contain_text(
        "Je bent doorverwezen naar Dienst Maatschappelijk Werk CM — status: wacht op je "
        "toestemming")
    page.close()


def test_csp_check_reports_a_violation_when_there_is_one(visit: Visit) -> None:
    """The checker itself, and that the portal sends a CSP: an inline style is blocked."""
    violations: list[str] = []
    page = visit.open("overview", DESKTOP, csp_violations=violations)
    # Resolves once the browser has reported the violation (after the recorder heard of it).
    blocked = page.locator("main").evaluate("""main => new Promise(resolve => {
        document.addEventListener("securitypolicyviolation",
                                  e => resolve(e.effectiveDirective), {once: true});
        main.insertAdjacentHTML("beforeend", '<p style="color: red">x</p>');
    })""")
    page.close()
    assert blocked == "style-src-attr"
    assert any("style-src" in v for v in violations), violations


def test_axe_reports_a_violation_when_there_is_one(browser: Browser) -> None:
    """The checker itself: an unlabelled field on a page without a language is reported."""
    page = new_page(browser)
    page.set_content("<title>x</title><main><h1>x</h1><input type=text></main>")
    found = {v["id"] for v in axe_violations(page)}
    page.context.close()
    assert {"html-has-lang", "label"} <= found
