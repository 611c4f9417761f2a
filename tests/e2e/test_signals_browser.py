"""The signal pages (DESIGN §11) in a real browser against a real demo broker: the coordinator's
signals, bundles and a released bundle in ``/audit``, and the opt-out in ``/mijn``, with zero
axe-core violations (WCAG 2.1 A/AA) on a desktop and on a 360 px phone (nothing scrolls
sideways). The coordinator also releases a bundle through the page itself."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pytest

from tests.e2e.browser import (
    DESKTOP,
    PHONE,
    axe_violations,
    describe,
    screenshot,
    scroll_width,
)
from tests.e2e.test_controls_browser import V1, audit_login, v1_of
from tests.e2e.test_portal_browser import AN, expect, login, new_page

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

    from tests.e2e.conftest import DemoBroker

pytestmark = pytest.mark.slow
LAST_YEAR = datetime.now(UTC).year - 1


@dataclass(frozen=True)
class Seeded:
    draft: str
    released: str
    signal: str


def _coordinator(v1: V1, method: str, path: str, body: Any = None) -> Any:
    from broker.security.tokens import auditor_token

    token = auditor_token(v1.settings, scope="network:gbo-gent", now=datetime.now(UTC),
                          rights=("signals",))
    return v1.call(method, path, token, body)


def seed(v1: V1) -> Seeded:
    signal = v1.partner("ocmw-gent", "POST", "/v1/signals", {
        "theme": "huisvesting", "title": "Wachtlijst sociale huisvesting",
        "description": "Alleenstaanden met een leefloon vinden geen betaalbare woning."})
    v1.partner("caw-oost-vlaanderen", "POST", f"/v1/signals/{signal['id']}/follow-ups",
               {"note": "Ook bij ons, vooral jongeren."})
    released = _coordinator(v1, "POST", "/v1/signal-bundles", {
        "network": "gbo-gent", "from": f"{LAST_YEAR}-01-01", "to": f"{LAST_YEAR}-03-31"})
    _coordinator(v1, "POST", f"/v1/signal-bundles/{released['id']}/release")
    draft = _coordinator(v1, "POST", "/v1/signal-bundles", {
        "network": "gbo-gent", "from": f"{LAST_YEAR}-04-01", "to": f"{LAST_YEAR}-06-30"})
    return Seeded(draft=draft["id"], released=released["id"], signal=signal["id"])


def _refused_note(page: Page, base: str, seeded: Seeded) -> None:
    page.goto(f"{base}/audit/signalen")
    page.get_by_label("Notitie bij de opvolging").first.fill("Bel haar op 0470 12 34 56.")
    page.get_by_role("button", name="Opvolging bewaren").first.click()
    expect(page.get_by_role("alert")).to_contain_text("De tekst noemt iemand")


Opener = Callable[["Page", str, Seeded], None]


def _goto(path: Callable[[Seeded], str]) -> Opener:
    return lambda page, base, seeded: page.goto(f"{base}{path(seeded)}")


PAGES: dict[str, tuple[Opener, str]] = {
    "signals": (_goto(lambda s: "/audit/signalen"), "coordinator"),
    "signals-refused": (_refused_note, "coordinator"),
    "bundles": (_goto(lambda s: "/audit/bundels"), "coordinator"),
    "bundle-draft": (_goto(lambda s: f"/audit/bundels/{s.draft}"), "coordinator"),
    "bundle-released": (_goto(lambda s: f"/audit/bundels/{s.released}"), "coordinator"),
    "opt-out": (_goto(lambda s: "/mijn/statistiek"), "client"),
}


@dataclass
class Visit:
    browser: Browser
    base: str
    states: dict[str, Any]
    seeded: Seeded
    v1: V1

    def open(self, name: str, viewport: dict[str, int]) -> Page:
        opener, who = PAGES[name]
        page = new_page(self.browser, viewport=viewport, state=self.states[who])
        opener(page, self.base, self.seeded)
        expect(page.get_by_role("heading", level=1)).to_be_visible()
        return page


@pytest.fixture(scope="module")
def visit(browser: Browser, demo_broker: DemoBroker) -> Iterator[Visit]:
    v1 = v1_of(demo_broker)
    seeded = seed(v1)
    states = {}
    page = new_page(browser)
    audit_login(page, demo_broker.base, "network:gbo-gent")
    states["coordinator"] = page.context.storage_state()
    page.context.close()
    page = new_page(browser)
    login(page, demo_broker.base, AN[0])
    states["client"] = page.context.storage_state()
    page.context.close()
    yield Visit(browser=browser, base=demo_broker.base, states=states, seeded=seeded, v1=v1)


@pytest.mark.parametrize("name", list(PAGES))
def test_signal_page_has_no_axe_violations(visit: Visit, name: str) -> None:
    page = visit.open(name, DESKTOP)
    screenshot(page, f"signals-{name}-desktop")
    violations = axe_violations(page)
    page.context.close()
    assert violations == [], f"axe-core on {name}:\n{describe(violations)}"


@pytest.mark.parametrize("name", list(PAGES))
def test_signal_page_fits_a_360px_phone_without_axe_violations(visit: Visit, name: str) -> None:
    page = visit.open(name, PHONE)
    width = scroll_width(page)
    violations = axe_violations(page)
    page.context.close()
    assert width <= PHONE["width"], f"{name} scrolls sideways on a phone: {width} px wide"
    assert violations == [], f"axe-core on {name} (360 px):\n{describe(violations)}"


def test_coordinator_releases_a_bundle_from_its_page(visit: Visit) -> None:
    draft = _coordinator(visit.v1, "POST", "/v1/signal-bundles", {
        "network": "gbo-gent", "from": f"{LAST_YEAR}-07-01", "to": f"{LAST_YEAR}-09-30"})
    page = new_page(visit.browser, state=visit.states["coordinator"])
    page.goto(f"{visit.base}/audit/bundels/{draft['id']}")
    page.get_by_role("button", name="Bundel vrijgeven").click()
    expect(page.get_by_role("link", name="Rapport (PDF)")).to_be_visible()
    expect(page.get_by_role("heading", name="Hoe deze cijfers tot stand komen")).to_be_visible()
    page.context.close()
