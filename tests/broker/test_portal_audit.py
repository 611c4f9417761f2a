"""The auditor portal /audit (DESIGN §2, second slice): demo login per scope, scope-limited
entries with filters and cursor paging, CSV export, chart tables, the integrity panel with
"verify now", CSRF, and secrecy (no INSZ, content or encrypted detail in any page). Runs on
SQLite and PostgreSQL (``api``)."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text, update
from sqlalchemy.exc import OperationalError

from audit.schema import append_only_ddl, audit_leaf, drop_append_only_ddl
from audit.store import AuditStore, AuditStoreError
from broker.app import create_app
from broker.context import BrokerContext, load_context
from broker.portal import audit_integrity, audit_search
from broker.portal.texts import local
from broker.services import audit_verify
from broker.settings import Settings
from broker.store import crypto
from broker.store.audit_events import AuditEvent
from tests.backends import on_backends
from tests.factories import (
    VALID_INSZ,
    HeldVerification,
    append_unguarded,
    declare_relation,
    finish_verifications,
    hold_verify_now,
    make_entry,
    partner_auth,
)

CSRF = re.compile(r'name="csrf" value="([^"]+)"')
CANARY = "KANARIE-7f3a-geheime-inhoud"


def _sections(**verdicts: tuple[str, ...] | None) -> dict[str, dict[str, Any]]:
    """``name=None``: granted; ``name=("reason",)``: denied for those reasons."""
    return {name: {"verdict": "granted", "reasons": []} if reasons is None
            else {"verdict": "denied", "reasons": list(reasons)}
            for name, reasons in verdicts.items()}


# The log the filter tests read: index -> event, appended in this order (a fresh log each test).
EVENTS: list[tuple[str, AuditEvent]] = [
    ("2026-03-01T10:00:00", AuditEvent(
        kind="access.decision", network="gbo-gent", client="c-0001", partner="ocmw-gent",
        worker="w-1", purpose="rechtenverkenning",
        sections=_sections(inkomen=None, gezondheid=("no_consent_for_section",)))),
    ("2026-03-02T10:00:00", AuditEvent(
        kind="access.decision", network="gbo-gent", client="c-0002",
        partner="caw-oost-vlaanderen", worker="w-2", purpose="hulpvraagverheldering",
        sections=_sections(hulpvraag=("no_valid_help_relation",)))),
    ("2026-03-03T10:00:00", AuditEvent(
        kind="access.decision", network="gbo-gent", client="c-0001", partner="dmw-cm",
        worker="w-3", purpose="noodsituatie", break_glass=True,
        sections=_sections(identiteit=None, gezondheid=None),
        detail={"justification": CANARY})),
    ("2026-03-03T11:00:00", AuditEvent(
        kind="consent.created", network="gbo-gent", client="c-0001", consent_ids=["cs-1"])),
    ("2026-03-04T10:00:00", AuditEvent(
        kind="access.decision", network="gbo-gent", client="c-0003", partner="ocmw-gent",
        worker="w-1", purpose="hulpvraagverheldering",
        sections=_sections(hulpvraag=None, contact=None))),
    ("2026-03-05T10:00:00", AuditEvent(kind="client.erased", network="gbo-elders",
                                       client="c-0009")),
    ("2026-03-05T12:00:00", AuditEvent(
        kind="access.involvement", network="gbo-gent", client="c-0002",
        partner="caw-oost-vlaanderen", worker="w-2", purpose="doorverwijzing")),
    # A spreadsheet formula where a (hostile) value lands in the export.
    ("2026-03-06T10:00:00", AuditEvent(
        kind="access.decision", network="gbo-gent", client="@c-0004", partner="dmw-cm",
        worker="=HYPERLINK(\"http://x\")", purpose="rechtenverkenning",
        sections=_sections(inkomen=("no_consent_for_section",)), request_id="+cmd|'/C calc'")),
]
ALL = set(range(len(EVENTS)))


@pytest.fixture
def log(ctx: BrokerContext) -> BrokerContext:
    key = crypto.new_data_key()
    for moment, event in EVENTS:  # hostile values too: past the guard, as an insider would
        append_unguarded(ctx, event, data_key=key if event.detail else None,
                         now=datetime.fromisoformat(moment).replace(tzinfo=UTC))
    return ctx


def csrf_of(api: TestClient, path: str) -> str:
    page = api.get(path)
    assert page.status_code == 200, page.text
    found = CSRF.search(page.text)
    assert found is not None
    return found.group(1)


def login(api: TestClient, scope: str = "supervisor") -> str:
    """Log in with the demo login of ``scope``; returns the session's CSRF token."""
    token = csrf_of(api, "/audit/login")
    response = api.post("/audit/login", data={"csrf": token, "scope": scope},
                        follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/audit"
    return csrf_of(api, "/audit/integriteit")


class _Tables(HTMLParser):
    """Cell texts of every ``<table id=...>``, row by row (header rows included)."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self._table: str | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self._table = dict(attrs).get("id") or "?"
            self.tables[self._table] = []
        elif tag == "tr" and self._table:
            self.tables[self._table].append([])
        elif tag in ("td", "th") and self._table:
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._table and self._cell is not None:
            self.tables[self._table][-1].append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def table(html: str, table_id: str) -> list[list[str]]:
    """The body rows of table ``table_id`` (its first row, the header, dropped)."""
    parser = _Tables()
    parser.feed(html)
    return parser.tables[table_id][1:]


def shown(api: TestClient, query: str = "") -> tuple[set[int], str]:
    """The indices on the entries page for ``query``, and the page's next-page link."""
    page = api.get(f"/audit?{query}")
    assert page.status_code == 200, page.text
    rows = table(page.text, "tabel-items")
    found = re.search(r'rel="next" href="([^"]+)"', page.text)
    indices = {int(r[0]) for r in rows if r[0].isdigit()}
    return indices, found.group(1).replace("&amp;", "&") if found else ""


def exported(api: TestClient, query: str = "") -> list[dict[str, str]]:
    response = api.get(f"/audit/export.csv?{query}")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    return list(csv.DictReader(io.StringIO(response.text.lstrip("\ufeff"))))


# --- login and session ------------------------------------------------------------------------


def test_login_page_offers_a_labelled_demo_login_per_scope(api: TestClient) -> None:
    page = api.get("/audit/login")
    assert page.status_code == 200
    assert "Dit is een demo" in page.text
    for scope in ["partner:ocmw-gent", "partner:caw-oost-vlaanderen", "partner:dmw-cm",
                  "partner:dmw-solidaris", "partner:buurtwerk-gent", "network:gbo-gent",
                  "supervisor"]:
        assert f'value="{scope}"' in page.text


@pytest.mark.parametrize("scope", ["partner:ocmw-gent", "network:gbo-gent", "supervisor"])
def test_demo_login_keeps_the_scope_in_a_sealed_audit_cookie(api: TestClient,
                                                             scope: str) -> None:
    token = csrf_of(api, "/audit/login")
    response = api.post("/audit/login", data={"csrf": token, "scope": scope},
                        follow_redirects=False)
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("gbo_audit=") and "Path=/audit" in cookie
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie
    assert scope not in cookie
    page = api.get("/audit")
    assert page.status_code == 200 and f"<code>{scope}</code>" in page.text


def test_login_refuses_a_scope_not_offered(api: TestClient) -> None:
    token = csrf_of(api, "/audit/login")
    response = api.post("/audit/login", data={"csrf": token, "scope": "partner:elders"},
                        follow_redirects=False)
    assert response.headers["location"] == "/audit/login"
    assert api.get("/audit", follow_redirects=False).status_code == 303


@pytest.mark.parametrize("path", ["/audit", "/audit/export.csv", "/audit/grafieken",
                                  "/audit/integriteit", "/audit?partner=ocmw-gent"])
def test_pages_redirect_to_login_without_a_session(api: TestClient, path: str) -> None:
    response = api.get(path, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/audit/login"


def test_a_client_session_is_no_auditor_session(api: TestClient) -> None:
    token = csrf_of(api, "/mijn/login")
    api.post("/mijn/login", data={"csrf": token, "citizen": "0"}, follow_redirects=False)
    client_cookie = api.cookies.get("gbo_portal")
    assert client_cookie is not None
    api.cookies.set("gbo_audit", client_cookie, path="/audit")
    assert api.get("/audit", follow_redirects=False).status_code == 303


def test_logout_ends_the_session(api: TestClient) -> None:
    token = login(api)
    assert api.post("/audit/logout", data={"csrf": token},
                    follow_redirects=False).status_code == 303
    assert api.get("/audit", follow_redirects=False).status_code == 303


@pytest.mark.parametrize("path", ["/audit/login", "/audit/logout", "/audit/integriteit"])
def test_forms_without_the_csrf_token_are_refused(api: TestClient, path: str) -> None:
    login(api)
    for data in ({"scope": "supervisor"}, {"csrf": "forged", "scope": "supervisor"}):
        response = api.post(path, data=data, follow_redirects=False)
        assert response.status_code == 403
        assert "Formulier niet aanvaard" in response.text
        assert 'href="/audit"' in response.text  # the auditor layout
    assert api.get("/audit").status_code == 200  # still logged in: nothing happened


# --- scope ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("scope", "visible"), [
    ("partner:ocmw-gent", {0, 4}),
    ("partner:dmw-cm", {2, 7}),
    ("network:gbo-gent", ALL - {5}),
    ("network:gbo-elders", {5}),
    ("supervisor", ALL),
], ids=["partner-ocmw", "partner-dmw", "network", "other-network", "supervisor"])
def test_scope_decides_the_visible_rows(api: TestClient, log: BrokerContext, scope: str,
                                        visible: set[int]) -> None:
    if scope == "network:gbo-elders":  # no demo login offers it: a session sealed by hand
        from broker.portal.session import AUDITOR, log_in, seal

        session = log_in(log, datetime.now(UTC), previous=None, cookie=AUDITOR,
                         subject=f"scope:{scope}", scope=scope)
        sealed = seal(session, log.session_key.key, AUDITOR)
        api.cookies.set("gbo_audit", sealed, path="/audit")
    else:
        login(api, scope)
    assert shown(api)[0] == visible
    assert {int(r["index"]) for r in exported(api)} == visible


def test_a_partner_scope_cannot_widen_itself_with_the_partner_filter(
    api: TestClient, log: BrokerContext
) -> None:
    login(api, "partner:ocmw-gent")
    assert shown(api, "partner=dmw-cm")[0] == set()
    assert exported(api, "partner=dmw-cm") == []


# --- filters and paging -----------------------------------------------------------------------


@pytest.mark.parametrize(("query", "expected"), [
    ("van=2026-03-03", {2, 3, 4, 5, 6, 7}),
    ("tot=2026-03-02", {0, 1}),
    ("van=2026-03-03&tot=2026-03-04", {2, 3, 4}),
    ("partner=ocmw-gent", {0, 4}),
    ("soort=access", {0, 1, 2, 4, 6, 7}),
    ("soort=access.involvement", {6}),
    ("soort=consent", {3}),
    ("doel=hulpvraagverheldering", {1, 4}),
    ("uitkomst=denied", {0, 1, 7}),
    ("uitkomst=granted", {0, 2, 4}),
    ("nood=ja", {2}),
    ("nood=nee", ALL - {2}),
    ("partner=ocmw-gent&uitkomst=denied&doel=rechtenverkenning", {0}),
], ids=["from", "to", "period", "partner", "kind-prefix", "kind", "consent", "purpose",
        "denied", "granted", "break-glass", "no-break-glass", "combined"])
def test_filters_select_the_rows(api: TestClient, log: BrokerContext, query: str,
                                 expected: set[int]) -> None:
    login(api)
    assert shown(api, query)[0] == expected
    assert {int(r["index"]) for r in exported(api, query)} == expected


# Refused before any query; on both backends a date and a cursor.
@on_backends("query", {q: q for q in ["van=gisteren", "tot=2026-02-30",
                                      "van=2026-03-05&tot=2026-03-01", "soort=DROP", "doel=x",
                                      "uitkomst=maybe", "nood=2", "na=-1", "partner=A%20B"]},
             both={"tot=2026-02-30", "na=-1"})
def test_bad_filters_answer_a_clear_page(api: TestClient, log: BrokerContext,
                                         query: str) -> None:
    login(api)
    page = api.get(f"/audit?{query}")
    assert page.status_code == 422
    assert 'role="alert"' in page.text and "tabel-items" not in page.text
    assert api.get(f"/audit/export.csv?{query}").status_code == 422


@pytest.mark.parametrize(("query", "expected"), [
    ("", sorted(ALL)), ("uitkomst=denied", [0, 1, 7]), ("doel=rechtenverkenning", [0, 7]),
])
def test_cursor_paging_visits_every_row_once(api: TestClient, log: BrokerContext,
                                             monkeypatch: pytest.MonkeyPatch, query: str,
                                             expected: list[int]) -> None:
    """Pages of two rows, fetched two leaves at a time, at most three leaves examined per
    page: Python-side filters and the scan limit still neither skip nor repeat a row."""
    monkeypatch.setattr(audit_search, "PAGE_SIZE", 2)
    monkeypatch.setattr(audit_search, "BATCH", 2)
    monkeypatch.setattr(audit_search, "MAX_SCAN", 3)
    login(api)
    seen: list[int] = []
    link, pages = f"/audit?{query}", 0
    while link:
        page = api.get(link)
        assert page.status_code == 200
        rows = [int(r[0]) for r in table(page.text, "tabel-items") if r[0].isdigit()]
        assert len(rows) <= 2
        seen += rows
        found = re.search(r'rel="next" href="([^"]+)"', page.text)
        link = found.group(1).replace("&amp;", "&") if found else ""
        pages += 1
        assert pages < 20
    assert seen == expected


# --- export -----------------------------------------------------------------------------------


def test_export_is_pseudonymised_and_guarded_against_csv_injection(
    api: TestClient, log: BrokerContext
) -> None:
    login(api)
    response = api.get("/audit/export.csv?soort=access")
    assert response.headers["content-disposition"] == (
        f'attachment; filename="gbo-audit-supervisor-{local(datetime.now(UTC)).date()}.csv"')
    assert CANARY not in response.text and '"ct"' not in response.text
    rows = exported(api, "soort=access")
    first = rows[0]
    assert first["cliënt"] == "c-0001" and first["partner"] == "ocmw-gent"
    assert first["toegestaan"] == "inkomen"
    assert first["geweigerd"] == "gezondheid (no_consent_for_section)"
    hostile = next(r for r in rows if r["index"] == "7")
    assert hostile["medewerker"] == "'=HYPERLINK(\"http://x\")"
    assert hostile["cliënt"] == "'@c-0004"
    assert hostile["verzoek"] == "'+cmd|'/C calc'"
    assert next(r for r in rows if r["index"] == "2")["noodsituatie"] == "ja"
    for row in rows:
        assert not any(cell[:1] in "=+-@" for cell in row.values() if cell)


# CSV injection through a separator inside a value: Excel in a nl-BE locale splits a comma-
# separated file on ";" (its list separator), so a value carrying ";" (or ",", a tab, a line
# break) can start a cell of its own. Each payload goes into the purpose, the worker and the
# request id of one pre-guard entry (as an insider with the database could write it).
CSV_PAYLOADS = {
    "semicolon_cmd": "x;=cmd|' /C calc'!A0;",
    "comma_formula": "x,=1+2",
    "tab_formula": "x\t=1+2",
    "tab_at_start": "\t=1+2",
    "cr_formula": "x\r=1+2",
    "lf_formula": "x\n@SUM(A1:A9)",
    "plus_after_semicolon": "x;+41",
    "minus_after_semicolon": "x;-41",
    "at_after_semicolon": "x;@SUM(A1)",
    "blank_before_formula": "x;  =1+2",
    "quote_breakout": 'x";=HYPERLINK("http://x");"',
    "formula_at_start": "=1+2;=3+4",
    "separator_then_tab": "x;\t=1+2",
}
_SPLITTERS = (";", ",", "\t", "\r", "\n")


def _cells_a_spreadsheet_may_see(line: str) -> list[str]:
    """Every piece of ``line`` some reader may take for a cell: split on each separator a
    spreadsheet might use, ignoring quotes (one leading quote, the CSV quoting, dropped)."""
    pieces = [line]
    for separator in _SPLITTERS:
        pieces = [part for piece in pieces for part in piece.split(separator)]
    return [p[1:] if p.startswith('"') else p for p in pieces]


@pytest.mark.parametrize("payload", CSV_PAYLOADS.values(), ids=CSV_PAYLOADS.keys())
def test_export_neutralises_formulas_after_any_separator(api: TestClient, ctx: BrokerContext,
                                                         payload: str) -> None:
    index = append_unguarded(ctx, AuditEvent(
        kind="access.decision", network="gbo-gent", client="c-0001", partner="ocmw-gent",
        worker=payload, purpose=payload, request_id=payload,
        sections=_sections(inkomen=("no_consent_for_section",))))
    login(api)
    response = api.get("/audit/export.csv")
    assert response.status_code == 200
    text = response.text.lstrip("\ufeff")
    for piece in _cells_a_spreadsheet_may_see(text):
        assert piece.lstrip(" ")[:1] not in ("=", "+", "-", "@"), piece
    # Every cell quoted: a reader that honours quotes keeps the separators inside their cell.
    rows = list(csv.reader(io.StringIO(text)))
    lines = text.split("\r\n")
    assert lines[0].startswith('"index","tijdstip"')
    [row] = [r for r in rows[1:] if r[0] == str(index)]
    record = dict(zip(rows[0], row, strict=True))
    for column in ("doel", "medewerker", "verzoek"):
        # Nothing lost: the value reads back with only apostrophes added.
        assert record[column] != payload
        assert record[column].replace("'", "") == payload.replace("'", "")


# --- charts -----------------------------------------------------------------------------------


def test_chart_tables_hold_the_figures(api: TestClient, log: BrokerContext) -> None:
    login(api)
    page = api.get("/audit/grafieken")
    assert page.status_code == 200
    assert '<script src="/audit/static/vendor/chartjs/chart.umd.min.js" defer>' in page.text
    assert table(page.text, "tabel-toegang") == [
        # Dag, caw-oost-vlaanderen, dmw-cm, ocmw-gent, Totaal
        ["2026-03-01", "0", "0", "1", "1"], ["2026-03-02", "1", "0", "0", "1"],
        ["2026-03-03", "0", "1", "0", "1"], ["2026-03-04", "0", "0", "1", "1"],
        ["2026-03-05", "1", "0", "0", "1"], ["2026-03-06", "0", "1", "0", "1"]]
    assert table(page.text, "tabel-redenen") == [["no_consent_for_section", "2"],
                                                 ["no_valid_help_relation", "1"]]
    assert table(page.text, "tabel-nood") == [["2026-03-03", "1"]]
    filtered = api.get("/audit/grafieken?partner=ocmw-gent").text
    assert table(filtered, "tabel-redenen") == [["no_consent_for_section", "1"]]
    assert table(filtered, "tabel-nood") == [["Geen noodsituaties."]]


def test_partner_scope_charts_count_only_its_own_rows(api: TestClient,
                                                      log: BrokerContext) -> None:
    login(api, "partner:dmw-cm")
    page = api.get("/audit/grafieken").text
    assert table(page, "tabel-toegang") == [["2026-03-03", "1", "1"], ["2026-03-06", "1", "1"]]


def test_chart_script_and_library_are_served_from_this_server(api: TestClient) -> None:
    library = api.get("/audit/static/vendor/chartjs/chart.umd.min.js")
    assert library.status_code == 200 and "Chart.js v4.5.1" in library.text[:200]
    assert api.get("/audit/static/audit-charts.js").status_code == 200


# --- integrity --------------------------------------------------------------------------------


def test_integrity_panel_shows_the_checkpoint_and_key(api: TestClient, log: BrokerContext) -> None:
    checkpoint = log.audit.log.checkpoint_now()
    login(api)
    page = api.get("/audit/integriteit").text
    assert checkpoint.note.splitlines()[2] in page  # the root hash line of the signed note
    assert log.audit.log.verifier_key in page


PROGRESS = re.compile(r'<progress max="(\d+)" value="(\d+)"')
OK = f"✔ OK:</strong> {len(EVENTS)} items gecontroleerd; checkpoint grootte {len(EVENTS)}"


def progress_bars(page: str) -> list[tuple[int, int]]:
    """(max, value) of every progress bar the streamed page sent, in order."""
    return [(int(most), int(value)) for most, value in PROGRESS.findall(page)]


def result_of(page: str) -> str:
    """The page from the result section on; every progress bar came before it."""
    result = page.index('<h2 id="uitslag">')
    assert page.rfind("<progress", 0) < result
    return page[result:]


def state_file(settings: Settings) -> Path:
    return settings.data_dir / audit_integrity.STATE_FILE


def tamper_with_leaf_4(ctx: BrokerContext) -> None:
    with ctx.engine.begin() as conn:  # an attacker with database access
        for statement in drop_append_only_ddl(conn.dialect.name):
            conn.execute(text(statement))
        leaf = bytes(conn.execute(select(audit_leaf.c.leaf)
                                  .where(audit_leaf.c.idx == 4)).scalar_one())
        forged = leaf.replace(b'"worker":"w-1"', b'"worker":"w-9"')
        assert forged != leaf
        conn.execute(update(audit_leaf).where(audit_leaf.c.idx == 4).values(leaf=forged))
        for statement in append_only_ddl(conn.dialect.name):
            conn.execute(text(statement))


@pytest.fixture
def held(monkeypatch: pytest.MonkeyPatch) -> Iterator[HeldVerification]:
    hold = hold_verify_now(monkeypatch)
    yield hold
    hold.release.set()
    finish_verifications()


def test_verify_now_reports_ok_on_an_untouched_log(api: TestClient, log: BrokerContext) -> None:
    log.audit.log.checkpoint_now()
    token = login(api, "partner:ocmw-gent")
    page = api.post("/audit/integriteit", data={"csrf": token})
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert page.headers["cache-control"] == "no-store"
    assert progress_bars(page.text)[0] == (len(EVENTS), 0)  # the whole log, none checked yet
    assert OK in result_of(page.text)
    assert "Controleer het logboek nu" in result_of(page.text)  # the rest of the page follows
    assert page.text.rstrip().endswith("</html>")


def test_verify_now_streams_a_progress_bar_per_step_up_to_the_whole_log(
    api: TestClient, log: BrokerContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    log.audit.log.checkpoint_now()
    monkeypatch.setattr(audit_integrity, "STEP_SECONDS", 0.0)  # a step per 1 %: here per item
    token = login(api)
    page = api.post("/audit/integriteit", data={"csrf": token}).text
    total = len(EVENTS)
    assert progress_bars(page) == [(total, done) for done in range(total + 1)]
    assert f"Controle loopt… {total} van {total} items gecontroleerd." in page
    assert OK in result_of(page)


def test_verify_now_sends_the_progress_before_the_check_ends(
    api: TestClient, log: BrokerContext, held: HeldVerification
) -> None:
    log.audit.log.checkpoint_now()
    token = login(api)
    with api.stream("POST", "/audit/integriteit", data={"csrf": token}) as response:
        pieces = response.iter_text()
        first = next(pieces)
        assert held.started.wait(timeout=30)  # the check is under way, held at its first item
        assert "Controle loopt… 0 van 8 items gecontroleerd." in first
        assert progress_bars(first) == [(len(EVENTS), 0)]
        assert "Uitslag van de controle" not in first
        held.release.set()
        rest = "".join(pieces)
    assert OK in result_of(rest)


def test_verify_now_repeats_the_last_step_while_an_item_takes_long(
    api: TestClient, log: BrokerContext, held: HeldVerification, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A proxy closes a connection that stays silent too long: the page keeps sending."""
    log.audit.log.checkpoint_now()
    monkeypatch.setattr(audit_integrity, "HEARTBEAT_SECONDS", 0.0)
    token = login(api)
    with api.stream("POST", "/audit/integriteit", data={"csrf": token}) as response:
        pieces = response.iter_text()
        next(pieces)
        assert held.started.wait(timeout=30)
        again = next(pieces)  # the check is still held at its first item
        assert progress_bars(again) == [(len(EVENTS), 0)]
        held.release.set()
        rest = "".join(pieces)
    assert OK in result_of(rest)


def test_verify_now_stops_when_the_auditor_leaves_the_page(
    api: TestClient, log: BrokerContext, held: HeldVerification, settings: Settings
) -> None:
    log.audit.log.checkpoint_now()
    token = login(api)
    with api.stream("POST", "/audit/integriteit", data={"csrf": token}) as response:
        assert "Controle loopt…" in next(response.iter_text())
        assert held.started.wait(timeout=30)
    # The connection is gone; the check goes on to its next item and stops there.
    held.release.set()
    finish_verifications()
    assert not state_file(settings).exists()  # it stopped before the end
    page = api.post("/audit/integriteit", data={"csrf": token})  # the next one runs normally
    assert OK in result_of(page.text)
    assert state_file(settings).exists()


def test_verify_now_refuses_a_third_run_while_two_are_under_way(
    api: TestClient, log: BrokerContext, held: HeldVerification
) -> None:
    log.audit.log.checkpoint_now()
    token = login(api)
    assert audit_integrity.MAX_RUNS == 2
    with api.stream("POST", "/audit/integriteit", data={"csrf": token}) as first, \
            api.stream("POST", "/audit/integriteit", data={"csrf": token}) as second:
        first_pieces, second_pieces = first.iter_text(), second.iter_text()
        next(first_pieces), next(second_pieces)
        for _ in range(2):  # both under way, held at their first item
            assert held.arrivals.acquire(timeout=30)
        third = api.post("/audit/integriteit", data={"csrf": token})
        assert "er lopen al 2 controles" in result_of(third.text)
        assert OK not in third.text and "KNOEIEN" not in third.text
        held.release.set()
        assert OK in result_of("".join(first_pieces))
        assert OK in result_of("".join(second_pieces))
    finish_verifications()
    assert OK in result_of(api.post("/audit/integriteit", data={"csrf": token}).text)


def test_verify_now_names_the_first_bad_index_after_tampering(
    api: TestClient, log: BrokerContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    log.audit.log.checkpoint_now()
    tamper_with_leaf_4(log)
    monkeypatch.setattr(audit_integrity, "STEP_SECONDS", 0.0)
    token = login(api)
    page = api.post("/audit/integriteit", data={"csrf": token})
    assert page.status_code == 200
    # Items 0 to 3 check out, then the progress stops: item 4 was changed.
    assert progress_bars(page.text) == [(len(EVENTS), done) for done in range(5)]
    assert "KNOEIEN VASTGESTELD bij item 4" in result_of(page.text)
    assert OK not in page.text


@pytest.mark.parametrize("failure", [
    AuditStoreError("the database is away"),
    OperationalError("SELECT", {}, Exception("connection refused")),
], ids=["audit-store-error", "unexpected-database-error"])
def test_verify_now_says_it_could_not_run_not_tampering_when_the_database_fails(
    api: TestClient, log: BrokerContext, monkeypatch: pytest.MonkeyPatch, failure: Exception
) -> None:
    log.audit.log.checkpoint_now()

    def broken(store: AuditStore) -> audit_verify.LogSource:
        raise failure

    monkeypatch.setattr(audit_verify, "database_source", broken)
    token = login(api)
    page = api.post("/audit/integriteit", data={"csrf": token}).text
    result = result_of(page)
    assert "✘ De controle kon niet lopen</strong> (oorzaak: " \
           f"<code>{type(failure).__name__}</code>)" in result
    assert "KNOEIEN" not in page
    assert "connection refused" not in page and "away" not in page


def test_verify_now_without_the_csrf_token_runs_nothing(
    api: TestClient, log: BrokerContext, settings: Settings
) -> None:
    log.audit.log.checkpoint_now()
    login(api)
    for data in ({}, {"csrf": "vervalst"}):
        response = api.post("/audit/integriteit", data=data, follow_redirects=False)
        assert response.status_code == 403
        assert "Formulier niet aanvaard" in response.text
        assert "<progress" not in response.text
    assert not state_file(settings).exists()  # no verification ran


def test_verify_now_without_an_auditor_session_redirects_to_login(
    api: TestClient, log: BrokerContext, settings: Settings
) -> None:
    log.audit.log.checkpoint_now()
    response = api.post("/audit/integriteit", data={"csrf": "x"}, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/audit/login"
    token = csrf_of(api, "/audit/login")  # a session, with its own token, but not logged in
    response = api.post("/audit/integriteit", data={"csrf": token}, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/audit/login"
    assert not state_file(settings).exists()  # no verification ran


# (total, seconds per item, items checked, the (done, total) steps reported)
THROTTLE = {
    "a-fast-check-sends-no-steps": (1000, 0.0, 1000, []),
    "a-slow-check-steps-once-per-percent": (1000, 1.0, 1000,
                                            [(d, 1000) for d in range(10, 1001, 10)]),
    "fast-items-step-once-per-fifth-of-a-second": (100, 1 / 16, 100,
                                                   [(d, 100) for d in range(4, 101, 4)]),
    "a-log-grown-meanwhile-widens-the-bar": (2, 1.0, 4, [(1, 2), (2, 2), (3, 3), (4, 4)]),
}


@pytest.mark.parametrize("case", list(THROTTLE))
def test_progress_steps_come_at_most_once_per_percent_and_per_fifth_of_a_second(
    case: str
) -> None:
    total, per_item, items, expected = THROTTLE[case]
    checked = [0]
    steps: list[audit_integrity.Progress] = []
    throttle = audit_integrity.ProgressThrottle(total, steps.append,
                                                clock=lambda: checked[0] * per_item)
    for _ in range(items):
        checked[0] += 1
        throttle(1)
    assert [(s.done, s.total) for s in steps] == expected


# --- secrecy ----------------------------------------------------------------------------------


def _every_page(api: TestClient) -> Iterator[tuple[str, str]]:
    for path in ["/audit", "/audit?nood=ja", "/audit/grafieken", "/audit/integriteit",
                 "/audit/export.csv"]:
        response = api.get(path)
        assert response.status_code == 200, path
        yield path, response.text


def test_no_insz_or_dossier_content_in_any_page(api: TestClient, settings: Settings) -> None:
    """Real traffic: an entry with a canary, a granted access and a break-glass access whose
    justification holds the canary. Auditors see none of it."""
    declare_relation(api, settings, "ocmw-gent")
    created = api.post("/v1/entries", json=make_entry(section="inkomen",
                                                      content={"bron": CANARY}),
                       headers=partner_auth(settings, "ocmw-gent"))
    assert created.status_code == 201, created.text
    emergency = api.post("/v1/access-requests", headers=partner_auth(settings, "ocmw-gent"),
                         json={"insz": VALID_INSZ, "purpose": "noodsituatie",
                               "sections": ["gezondheid"],
                               "justification": f"{CANARY}: bewusteloos aangetroffen"})
    assert emergency.status_code == 200, emergency.text
    for scope in ["supervisor", "network:gbo-gent", "partner:ocmw-gent"]:
        login(api, scope)
        for path, body in _every_page(api):
            assert VALID_INSZ not in body, (scope, path)
            assert CANARY not in body, (scope, path)
            assert '"ct"' not in body, (scope, path)
        assert "⚠ ja" in api.get("/audit?nood=ja").text


def test_outside_demo_mode_login_says_oidc_is_not_configured(
    tmp_path: Path, settings: Settings, engine: object
) -> None:
    from tests.factories import production_settings

    ctx = load_context(production_settings(settings, tmp_path))
    try:
        with TestClient(create_app(context=ctx), base_url="https://testserver") as client:
            page = client.get("/audit/login")
            assert page.status_code == 200
            assert "OpenID Connect is nog niet ingesteld" in page.text
            assert 'name="scope"' not in page.text  # no demo login outside demo mode
            assert "Secure" in page.headers["set-cookie"]
            token = CSRF.search(page.text)
            assert token is None  # the layout shows no logout form before login either
            refused = client.post("/audit/login", data={"scope": "supervisor"},
                                  follow_redirects=False)
            assert refused.status_code in (403, 404)
            assert client.get("/audit", follow_redirects=False).status_code == 303
    finally:
        ctx.close()
