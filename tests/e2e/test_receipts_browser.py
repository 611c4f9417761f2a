"""DESIGN §9: the client's access log checks each receipt in the browser (WebCrypto: SHA-256 for
the RFC 6962 leaf hash and inclusion proof, Ed25519 for the checkpoint's C2SP signed-note
signature) and says the outcome in plain Dutch; without JavaScript the server's own check stands.

The tampering tests change what the browser receives (Playwright routing rewrites the receipts
embedded in the page) while the server's check, made on the stored log, still says it holds: only
the browser's own check can catch it, so it must.
"""

from __future__ import annotations

import base64
import json
import re
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import httpx2 as httpx
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
from tests.e2e.test_portal_browser import AN, expect, login, new_page

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page, Route

    from tests.e2e.conftest import DemoBroker

pytestmark = pytest.mark.slow

CHECKPOINT_TIMEOUT_S = 30
DATA = re.compile(r'(<script type="application/json" id="bewijsdata">)(.*?)(</script>)', re.S)
BROWSER_OK = "✓ Je browser controleerde dit zelf: deze inkijk staat in het beveiligde logboek."
BROWSER_FAILED = "✗ Je browser controleerde dit zelf: het bewijs klopt niet."
SERVER_OK = "✓ Gecontroleerd: deze inkijk staat in het beveiligde logboek"


@pytest.fixture(scope="module")
def logged_accesses(demo_broker: DemoBroker) -> Iterator[int]:
    """Three accesses to An's data (one break-glass), all covered by a served checkpoint; how
    many."""
    insz = AN[1]
    indexes = [demo_broker.access(partner="ocmw-gent", worker="w-12", insz=insz,
                                  purpose="rechtenrealisatie",
                                  sections=["inkomen", "schulden", "justitie"])["audit"]["index"],
               demo_broker.access(partner="caw-oost-vlaanderen", worker="w-3", insz=insz,
                                  purpose="hulpvraagverheldering",
                                  sections=["hulpvraag"])["audit"]["index"],
               demo_broker.access(partner="ocmw-gent", worker="w-12", insz=insz,
                                  purpose="noodsituatie", sections=["identiteit", "gezondheid"],
                                  justification="Cliënt dreigt zichzelf iets aan te doen; de arts "
                                                "moet de medicatie kennen.")["audit"]["index"]]
    # The broker signs a checkpoint every GBO_CHECKPOINT_INTERVAL (2 s) while the log grows.
    deadline = time.monotonic() + CHECKPOINT_TIMEOUT_S
    while True:
        note = httpx.get(f"{demo_broker.base}/v1/audit/checkpoint", timeout=5).text
        if int(note.split("\n")[1]) > max(indexes):
            break
        assert time.monotonic() < deadline, "no checkpoint covers the accesses"
        time.sleep(0.2)
    yield len(indexes)


def _rewrite(change: Callable[[dict[str, Any]], None]) -> Callable[[Route], None]:
    """A route handler serving the real page with its embedded receipts changed by ``change``."""

    def handle(route: Route) -> None:
        response = route.fetch()
        html = response.text()
        found = DATA.search(html)
        assert found is not None, "the page embeds no receipts"
        data = json.loads(found.group(2))
        change(data)
        embedded = json.dumps(data).replace("<", "\\u003c")
        route.fulfill(response=response,
                      body=html[:found.start(2)] + embedded + html[found.end(2):])

    return handle


def _open_log(browser: Browser, demo_broker: DemoBroker, *, javascript: bool = True,
              change: Callable[[dict[str, Any]], None] | None = None,
              viewport: dict[str, int] = DESKTOP, csp_violations: list[str] | None = None,
              ) -> Page:
    page = new_page(browser, javascript=javascript, viewport=viewport,
                    enforce_csp=csp_violations is not None)
    if csp_violations is not None:
        record_csp_violations(page, csp_violations)
    login(page, demo_broker.base, AN[0])
    if change is not None:
        page.route("**/mijn/toegang", _rewrite(change))
    page.goto(f"{demo_broker.base}/mijn/toegang")
    expect(page.get_by_role("heading", level=1)).to_have_text("Wie keek naar mijn gegevens?")
    if javascript:
        expect(page.locator("body")).to_have_attribute("data-browsercontrole", "klaar")
    return page


def _proven(data: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for e in data["entries"] if e["inclusion"]]


def _article(page: Page, index: int) -> Any:
    return page.locator(f'article[data-index="{index}"]')


def test_the_browser_checks_every_proof_and_says_each_holds(
    browser: Browser, demo_broker: DemoBroker, logged_accesses: int
) -> None:
    violations: list[str] = []
    page = _open_log(browser, demo_broker, csp_violations=violations)
    screenshot(page, "access-log-browser-check")
    articles = page.locator("article.access")
    expect(articles).to_have_count(logged_accesses)
    for i in range(logged_accesses):
        article = articles.nth(i)
        expect(article.locator(".bewijs.browser.ok")).to_have_text(BROWSER_OK)
        expect(article.get_by_text(SERVER_OK)).to_be_visible()
    expect(page.get_by_role("status")).to_have_text(
        f"Je browser controleerde zelf {logged_accesses} inkijken: alles staat in het "
        "beveiligde logboek.")
    page.context.close()
    assert violations == [], "\n".join(violations)  # the module runs under the portal's CSP


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_the_checked_page_has_no_axe_violations(
    browser: Browser, demo_broker: DemoBroker, logged_accesses: int, viewport: dict[str, int]
) -> None:
    page = _open_log(browser, demo_broker, viewport=viewport,
                     change=lambda data: _flip_first_proof_hash(data))
    expect(page.locator(".bewijs.browser.fout")).to_have_count(1)
    width = scroll_width(page)
    violations = axe_violations(page)
    page.context.close()
    assert width <= viewport["width"], f"scrolls sideways: {width} px wide"
    assert violations == [], describe(violations)


def _flip_first_proof_hash(data: dict[str, Any]) -> None:
    item = _proven(data)[0]
    first = bytearray(base64.b64decode(item["inclusion"][0]))
    first[0] ^= 1
    item["inclusion"][0] = base64.b64encode(bytes(first)).decode()


def _other_partner_in_leaf(data: dict[str, Any]) -> None:
    # The leaf and the row shown agree (both rewritten), but the leaf's hash is not in the log.
    item = _proven(data)[0]
    entry = json.loads(base64.b64decode(item["leaf"]))
    entry["partner"] = item["partner"] = "dmw-cm"
    item["leaf"] = base64.b64encode(json.dumps(entry, separators=(",", ":")).encode()).decode()


def _row_not_its_leaf(data: dict[str, Any]) -> None:
    # The shown row claims another purpose than its (genuine, proven) leaf.
    item = _proven(data)[0]
    item["purpose"] = "doorverwijzing"


def _proof_of_another_index(data: dict[str, Any]) -> None:
    first, second = _proven(data)[:2]
    first["inclusion"] = second["inclusion"]


@pytest.mark.parametrize("change", [_flip_first_proof_hash, _other_partner_in_leaf,
                                    _row_not_its_leaf, _proof_of_another_index],
                         ids=["proof-hash", "leaf", "row-not-leaf", "proof-of-another-item"])
def test_a_tampered_receipt_is_shown_as_failing_by_the_browser(
    browser: Browser, demo_broker: DemoBroker, logged_accesses: int,
    change: Callable[[dict[str, Any]], None]
) -> None:
    seen: dict[str, Any] = {}

    def record(data: dict[str, Any]) -> None:
        change(data)
        seen["index"] = _proven(data)[0]["index"]

    page = _open_log(browser, demo_broker, change=record)
    bad = _article(page, seen["index"])
    expect(bad.locator(".bewijs.browser")).to_contain_text(BROWSER_FAILED)
    expect(bad.get_by_text(SERVER_OK)).to_be_visible()  # the server checked the real log
    expect(page.locator(".bewijs.browser.fout")).to_have_count(1)
    expect(page.locator(".bewijs.browser.ok")).to_have_count(logged_accesses - 1)
    expect(page.get_by_role("status")).to_contain_text("Let op: bij 1 inkijk klopt het bewijs "
                                                       "niet.")
    page.context.close()


def _forged_root(data: dict[str, Any]) -> None:
    # A checkpoint of another root under the log's signature line: the signature fails.
    lines = data["checkpoint"].split("\n")
    lines[2] = base64.b64encode(b"\x07" * 32).decode()
    data["checkpoint"] = "\n".join(lines)


def _other_log_key(data: dict[str, Any]) -> None:
    from audit.keys import Ed25519Signer

    origin = data["checkpoint"].split("\n")[0]
    signer = Ed25519Signer.generate(origin)
    data["log_key"] = signer.verifier.key_string()


@pytest.mark.parametrize("change", [_forged_root, _other_log_key], ids=["root", "key"])
def test_a_checkpoint_the_log_key_did_not_sign_fails_every_item(
    browser: Browser, demo_broker: DemoBroker, logged_accesses: int,
    change: Callable[[dict[str, Any]], None]
) -> None:
    page = _open_log(browser, demo_broker, change=change)
    expect(page.locator(".bewijs.browser.fout")).to_have_count(logged_accesses)
    expect(page.locator(".bewijs.browser.ok")).to_have_count(0)
    expect(page.get_by_role("status")).to_contain_text(
        "Let op: je browser kon het logboek niet controleren")
    page.context.close()


def _resigned_with_a_plus_in_the_key(data: dict[str, Any]) -> None:
    """The same checkpoint body, signed by a log key whose base64 holds a "+" (the key string
    is ``name+hash+base64``): the browser must read the key whole."""
    from audit.keys import Ed25519Signer
    from audit.note import sign_note

    body = data["checkpoint"].split("\n\n")[0] + "\n"
    while True:
        signer = Ed25519Signer.generate(body.split("\n")[0])
        if "+" in signer.verifier.key_string().split("+", 2)[2]:
            break
    data["checkpoint"] = sign_note(body, [signer])
    data["log_key"] = signer.verifier.key_string()


def test_a_log_key_with_a_plus_in_its_base64_is_read_whole(
    browser: Browser, demo_broker: DemoBroker, logged_accesses: int
) -> None:
    page = _open_log(browser, demo_broker, change=_resigned_with_a_plus_in_the_key)
    expect(page.locator(".bewijs.browser.ok")).to_have_count(logged_accesses)
    page.context.close()


def test_without_javascript_the_servers_check_stands(
    browser: Browser, demo_broker: DemoBroker, logged_accesses: int
) -> None:
    page = _open_log(browser, demo_broker, javascript=False)
    articles = page.locator("article.access")
    expect(articles).to_have_count(logged_accesses)
    for i in range(logged_accesses):
        expect(articles.nth(i).get_by_text(SERVER_OK)).to_be_visible()
    expect(page.locator(".bewijs.browser")).to_have_count(0)
    expect(page.locator("#browsercontrole")).to_be_hidden()
    page.context.close()
