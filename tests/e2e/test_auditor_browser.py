"""The auditor portal ``/audit`` in a real browser (DESIGN §2 "Quality"), against a real demo broker
with real traffic (relations, consents, entries, access requests, a break-glass) sent through
its v1 API.

- The auditor flow, with and without JavaScript: demo login as ``network:gbo-gent``, filter the
  entries, see only matching rows, download the CSV (the same rows, no INSZ), run "verify now".
- "Verify now" shows its progress while the check runs (held, in a broker served in-process),
  then the result, with and without JavaScript.
- Every ``/audit`` page: zero axe-core violations (WCAG 2.1 A/AA) on a desktop and on a 360 px
  phone, where nothing may scroll sideways; a screenshot of each under ``test-artefacts/``.
"""

from __future__ import annotations

import csv
import io
import os
import re
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from unittest import mock

import httpx2 as httpx
import pytest

from broker.app import create_app
from broker.store.audit_events import AuditEvent
from tests.e2e.browser import (
    DESKTOP,
    PHONE,
    axe_violations,
    describe,
    record_csp_violations,
    screenshot,
    scroll_width,
)
from tests.e2e.test_portal_browser import AN, BRAM, expect, new_page
from tests.factories import finish_verifications, hold_verify_now

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page

    from broker.context import BrokerContext
    from tests.e2e.conftest import DemoBroker

pytestmark = pytest.mark.slow

SCOPE = "network:gbo-gent"
EVERY_INSZ = (AN[1], BRAM[1])
ACCESSES = 30  # per partner below: with the demo's own entries, more than one page (50 rows)


@dataclass(frozen=True)
class Traffic:
    base: str
    break_glass: int  # how many break-glass requests were sent


def _partner_api(demo_broker: DemoBroker) -> Callable[[str, str, str, dict[str, Any]], Any]:
    """POST to the v1 API as a partner system. Tokens are minted in-process by the function
    ``gbo-broker token partner`` runs (``broker.security.tokens.partner_token``, same settings):
    the CLI costs ~0.4 s a token, and this seeds ~70 requests."""
    from broker.security.tokens import partner_token
    from broker.settings import Settings

    with mock.patch.dict(os.environ, demo_broker.env, clear=True):
        settings = Settings()

    def post(partner: str, worker: str, path: str, body: dict[str, Any]) -> Any:
        token = partner_token(settings, partner=partner, worker=worker, now=datetime.now(UTC))
        response = httpx.post(f"{demo_broker.base}{path}", json=body, timeout=10,
                              headers={"Authorization": f"Bearer {token}"})
        assert response.status_code in (200, 201), response.text
        return response.json()

    return post


@pytest.fixture(scope="module")
def traffic(demo_broker: DemoBroker) -> Traffic:
    post = _partner_api(demo_broker)
    insz = AN[1]
    until = (datetime.now(UTC) + timedelta(days=180)).isoformat()
    # A new partner starts helping An, records her consent at the desk, writes an entry.
    post("dmw-solidaris", "w-5", "/v1/relations", {"insz": insz})
    post("dmw-solidaris", "w-5", "/v1/consents", {
        "insz": insz, "evidence": {"method": "verbal_at_desk", "recorded_by": "w-5"},
        "recipients": [{"kind": "partner", "id": "dmw-solidaris"}],
        "purposes": ["rechtenverkenning"], "sections": ["inkomen"], "valid_until": until})
    post("dmw-solidaris", "w-5", "/v1/entries",
         {"insz": insz, "section": "inkomen", "content": {"bron": "ziekte-uitkering"}})
    # DESIGN §10: a referral to caw; without consent for it, An is asked first.
    post("dmw-solidaris", "w-5", "/v1/referrals", {
        "insz": insz, "to": "caw-oost-vlaanderen", "reason": "schulden",
        "sections": ["identiteit", "hulpvraag"]})
    for _ in range(ACCESSES):  # granted, and partly denied (gezondheid: no consent)
        post("dmw-solidaris", "w-5", "/v1/access-requests",
             {"insz": insz, "purpose": "rechtenverkenning", "sections": ["inkomen", "gezondheid"]})
        post("caw-oost-vlaanderen", "w-31", "/v1/access-requests",
             {"insz": insz, "purpose": "rechtenverkenning", "sections": ["inkomen"]})
    # A break-glass, through the CLI like the client flow.
    demo_broker.access(partner="ocmw-gent", worker="w-12", insz=insz, purpose="noodsituatie",
                       sections=["identiteit", "gezondheid"],
                       justification="Cliënt is onwel aan de balie; de arts moet de medicatie "
                                     "kennen.")
    demo_broker.cli("audit", "checkpoint")  # "verify now" checks against a signed checkpoint
    return Traffic(base=demo_broker.base, break_glass=1)


def audit_login(page: Page, base: str, scope: str = SCOPE) -> None:
    page.goto(f"{base}/audit/login")
    page.get_by_label(scope).check()
    page.get_by_role("button", name="Inloggen met deze demo-rol").click()
    expect(page).to_have_url(f"{base}/audit")
    expect(page.get_by_role("heading", level=1)).to_have_text("Auditlogboek")
    expect(page.get_by_text(f"(bereik {scope})")).to_be_visible()


def table_rows(page: Page) -> list[list[str]]:
    """The cells of the entries table's rows (index first)."""
    cells: list[list[str]] = page.locator("#tabel-items tbody tr").evaluate_all(
        "rows => rows.map(r => Array.from(r.cells, c => c.innerText.trim()))")
    return cells


# --- the auditor flow -------------------------------------------------------------------------


FILTERS = {
    # case: (javascript, {label: option value}, what every matching row shows)
    "javascript": (True, {"Partner": "ocmw-gent", "Noodsituatie (break-glass)": "ja"},
                   {"partner": "ocmw-gent", "noodsituatie": "ja"}),
    "no-javascript": (False, {"Partner": "dmw-solidaris", "Soort": "consent"},  # consent.*
                      {"partner": "dmw-solidaris", "soort": "consent"}),
}
COLUMNS = {"index": 0, "soort": 2, "partner": 3, "noodsituatie": 8}


@pytest.mark.parametrize("case", list(FILTERS))
def test_auditor_filters_exports_csv_and_verifies(browser: Browser, traffic: Traffic,
                                                  case: str) -> None:
    javascript, choices, wanted = FILTERS[case]
    page = new_page(browser, javascript=javascript)
    audit_login(page, traffic.base)
    everything = table_rows(page)

    for label, value in choices.items():
        page.get_by_label(label, exact=True).select_option(value)
    page.get_by_role("button", name="Zoeken").click()
    expect(page.locator("#resultaten")).to_contain_text("Resultaten")
    rows = table_rows(page)
    assert rows and len(rows) < len(everything), rows
    for cells in rows:
        assert cells[COLUMNS["partner"]] == wanted["partner"], cells
        if "soort" in wanted:
            assert cells[COLUMNS["soort"]].startswith(wanted["soort"] + "."), cells
        if "noodsituatie" in wanted:
            assert cells[COLUMNS["noodsituatie"]].endswith("ja"), cells
    if "noodsituatie" in wanted:
        assert len(rows) == traffic.break_glass
    screenshot(page, f"audit-flow-{case}-1-filtered")

    with page.expect_download() as info:
        page.get_by_role("link", name="Exporteer alle resultaten als CSV").click()
    download = info.value
    assert download.suggested_filename.startswith("gbo-audit-network-gbo-gent-")
    text = Path(download.path()).read_text(encoding="utf-8-sig")
    records = list(csv.DictReader(io.StringIO(text)))
    assert [r["index"] for r in records] == [c[COLUMNS["index"]] for c in rows]
    for record in records:
        assert record["partner"] == wanted["partner"], record
        if "soort" in wanted:
            assert record["soort"].startswith(wanted["soort"] + "."), record
        if "noodsituatie" in wanted:
            assert record["noodsituatie"] == "ja", record
    for insz in EVERY_INSZ:
        assert insz not in text and insz not in page.content()

    page.get_by_role("link", name="Integriteit", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Integriteit van het logboek")
    page.get_by_role("button", name="Controleer het logboek nu").click()
    result = page.get_by_role("status")
    expect(result).to_contain_text("✔ OK:")
    expect(result).not_to_contain_text("KNOEIEN")
    # The rest of the page follows the result; the streamed progress came first, for the whole
    # log (its size as this page states it), and is hidden once the result is in.
    shown = page.get_by_text(re.compile(r"^Het logboek heeft nu \d+ items\.$")).inner_text()
    expect(page.locator(".voortgang progress").first).to_have_attribute(
        "max", re.sub(r"\D", "", shown))
    expect(page.get_by_role("progressbar")).to_have_count(0)
    screenshot(page, f"audit-flow-{case}-2-verified")
    page.context.close()


# --- "verify now" while it runs ---------------------------------------------------------------


@contextmanager
def serving(app: Any) -> Iterator[str]:
    """``app`` served by uvicorn in this process (so a test can hold its verification); the
    socket listens before the server starts, so requests simply wait for it."""
    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("javascript", [True, False], ids=["javascript", "no-javascript"])
def test_verify_now_shows_its_progress_while_it_runs(
    browser: Browser, ctx: BrokerContext, monkeypatch: pytest.MonkeyPatch, javascript: bool
) -> None:
    for client in ("a" * 32, "b" * 32, "c" * 32):
        ctx.audit.append(AuditEvent(kind="consent.created", network="gbo-gent", client=client),
                         now=datetime.now(UTC))
    ctx.audit.log.checkpoint_now()
    held = hold_verify_now(monkeypatch)
    page = new_page(browser, javascript=javascript)
    try:
        with serving(create_app(context=ctx)) as base:
            audit_login(page, base, "supervisor")
            page.get_by_role("link", name="Integriteit", exact=True).click()
            page.get_by_role("button", name="Controleer het logboek nu").click()
            assert held.started.wait(timeout=30)  # the check is running, held at its first item
            expect(page.get_by_text("Controle loopt… 0 van 3 items gecontroleerd.")
                   ).to_be_visible()
            bar = page.get_by_role("progressbar", name="Voortgang van de controle")
            expect(bar).to_be_visible()
            expect(bar).to_have_attribute("max", "3")
            expect(page.get_by_role("status")).to_have_count(0)  # no result yet
            screenshot(page, f"audit-verify-running-{'js' if javascript else 'no-js'}")
            if javascript:  # axe-core is a script
                violations = axe_violations(page)
                assert violations == [], describe(violations)
            held.release.set()
            expect(page.get_by_role("status")).to_contain_text("✔ OK: 3 items gecontroleerd")
            expect(page.get_by_role("progressbar")).to_have_count(0)
            expect(page.get_by_text("Controle loopt…").filter(visible=True)).to_have_count(0)
    finally:
        held.release.set()
        finish_verifications()
        page.context.close()


# --- every page: axe-core, 360 px, screenshots -------------------------------------------------


def _goto(path: str) -> Callable[[Page, str], object]:
    return lambda page, base: page.goto(f"{base}{path}")


def _next_page(page: Page, base: str) -> None:
    page.goto(f"{base}/audit")
    page.get_by_role("link", name="Volgende pagina").click()
    expect(page.locator("#resultaten")).to_contain_text("vervolgpagina")


def _charts(page: Page, base: str) -> None:
    page.goto(f"{base}/audit/grafieken")
    expect(page.locator("#grafiek-toegang")).to_be_visible()  # drawn by Chart.js


def _verified(page: Page, base: str) -> None:
    page.goto(f"{base}/audit/integriteit")
    page.get_by_role("button", name="Controleer het logboek nu").click()
    expect(page.get_by_role("status")).to_contain_text("OK")


def _csrf_refused(page: Page, base: str) -> None:
    page.goto(f"{base}/audit/integriteit")
    page.locator("main input[name=csrf]").evaluate("el => { el.value = 'vervalst'; }")
    page.get_by_role("button", name="Controleer het logboek nu").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Formulier niet aanvaard")


@dataclass(frozen=True)
class AuditPage:
    open: Callable[[Page, str], object]
    logged_in: bool = True


PAGES = {
    "audit-login": AuditPage(_goto("/audit/login"), logged_in=False),
    "audit-entries": AuditPage(_goto("/audit")),
    "audit-entries-filtered": AuditPage(_goto("/audit?partner=ocmw-gent&nood=ja")),
    "audit-entries-next-page": AuditPage(_next_page),
    "audit-entries-bad-filter": AuditPage(_goto("/audit?van=gisteren")),
    "audit-charts": AuditPage(_charts),
    "audit-integrity": AuditPage(_goto("/audit/integriteit")),
    "audit-integrity-verified": AuditPage(_verified),
    "audit-limits": AuditPage(_goto("/audit/limieten")),
    "audit-referrals": AuditPage(_goto("/audit/doorverwijzingen")),
    "audit-csrf-refused": AuditPage(_csrf_refused),
    "audit-unknown-path": AuditPage(_goto("/audit/bestaat-niet")),
}


@dataclass
class Visit:
    browser: Browser
    base: str
    state: Any  # the auditor's logged-in browser storage
    contexts: dict[tuple[int, bool, bool], BrowserContext] = field(default_factory=dict)

    def open(self, name: str, viewport: dict[str, int], *,
             csp_violations: list[str] | None = None) -> Page:
        """Open page ``name``; with ``csp_violations``, under the portal's CSP, appending to that
        list whatever it blocks."""
        spec = PAGES[name]
        enforce_csp = csp_violations is not None
        key = (viewport["width"], spec.logged_in, enforce_csp)
        if key not in self.contexts:
            state = self.state if spec.logged_in else None
            self.contexts[key] = new_page(self.browser, viewport=viewport, state=state,
                                          enforce_csp=enforce_csp).context
        page = self.contexts[key].new_page()
        if csp_violations is not None:
            record_csp_violations(page, csp_violations)
        spec.open(page, self.base)
        expect(page.get_by_role("heading", level=1)).to_be_visible()
        return page


@pytest.fixture(scope="module")
def visit(browser: Browser, traffic: Traffic) -> Iterator[Visit]:
    page = new_page(browser)
    audit_login(page, traffic.base)
    found = Visit(browser=browser, base=traffic.base, state=page.context.storage_state())
    page.context.close()
    yield found
    for context in found.contexts.values():
        context.close()


VIEWPORTS = {"desktop": DESKTOP, "phone": PHONE}


@pytest.mark.parametrize("device", list(VIEWPORTS))
@pytest.mark.parametrize("name", list(PAGES))
def test_audit_page_has_no_axe_violations_and_fits(visit: Visit, name: str, device: str) -> None:
    viewport = VIEWPORTS[device]
    page = visit.open(name, viewport)
    screenshot(page, f"{name}-{device}")
    width = scroll_width(page)
    violations = axe_violations(page)
    page.close()
    assert width <= viewport["width"], f"{name} scrolls sideways ({device}): {width} px wide"
    assert violations == [], f"axe-core on {name} ({device}):\n{describe(violations)}"


@pytest.mark.parametrize("name", list(PAGES))
def test_audit_page_breaks_no_content_security_policy_rule(visit: Visit, name: str) -> None:
    """DESIGN §2: no inline script or style, nothing from elsewhere; forms post to this server."""
    violations: list[str] = []
    page = visit.open(name, DESKTOP, csp_violations=violations)
    page.close()
    assert violations == [], f"{name} under the portal's CSP:\n" + "\n".join(violations)


CHARTS = ["grafiek-toegang", "grafiek-redenen", "grafiek-nood"]


def test_charts_are_drawn_under_the_content_security_policy(visit: Visit) -> None:
    """The vendored Chart.js and audit-charts.js run under the CSP and draw every chart."""
    violations: list[str] = []
    page = visit.open("audit-charts", DESKTOP, csp_violations=violations)
    for chart in CHARTS:
        expect(page.locator(f"#{chart}")).to_be_visible()  # its box is shown by the script
    drawn = page.evaluate(
        """ids => ids.map(id => {
            const canvas = document.getElementById(id);
            const chart = window.Chart && window.Chart.getChart(canvas);
            return {id, chart: Boolean(chart), width: canvas.width, height: canvas.height,
                    points: chart ? chart.getDatasetMeta(0).data.length : 0};
        })""",
        CHARTS,
    )
    page.close()
    assert violations == [], "\n".join(violations)
    for chart in drawn:
        assert chart["chart"] and chart["width"] > 0 and chart["height"] > 0, chart
        assert chart["points"] > 0, chart  # bars or points drawn, not an empty frame
