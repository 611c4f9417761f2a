"""Searching the audit log for the auditor portal (DESIGN §2): the filters of the entries page,
scoped exactly like ``GET /v1/audit/entries`` (``broker.api.audit.find_in_scope``), and the
pseudonymised row an auditor sees. Never content, never an INSZ; the encrypted ``detail`` is
dropped here, so no page or export can show it.

Period, partner, kind and break-glass are store filters (indexed columns). Purpose and verdict
live inside the leaf, so they are applied here over batches fetched with the store filters; the
cursor is the index of the last leaf *examined*, so paging neither skips nor repeats a row.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from typing import Any

from audit.entry import format_time
from audit.store import AuditStore
from broker.bounds import INT64_MAX, clamp_day
from broker.portal.texts import LOCAL_TZ
from broker.services.audit_scope import find_in_scope
from broker.services.case_consultations import relied_on
from broker.store.audit_events import decode

PAGE_SIZE = 50
BATCH = 500
MAX_SCAN = 20_000  # leaves examined per page at most; the next-page link continues the scan
KINDS = ("access", "access.decision", "access.involvement", "consent", "relation",
         "client.erased", "entry.redacted", "key.rotated", "case_consultation")
VERDICTS = ("granted", "denied")
_PARTNER = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
_CURSOR = re.compile(r"\d{1,19}")
_CONSULTATION = re.compile(r"cc-[0-9a-f]{32}")


class FilterError(Exception):
    """A filter value cannot be read; ``field`` names it (the page says which)."""

    def __init__(self, field: str) -> None:
        super().__init__(field)
        self.field = field


@dataclass(frozen=True)
class Filters:
    """The entries page's query (Dutch names in the URL: ``van``, ``tot``, ``partner``,
    ``soort``, ``doel``, ``uitkomst``, ``nood``, ``overleg``, ``na``). ``tot`` includes that
    whole day; ``overleg``: the entries of one case consultation (DESIGN §10)."""

    van: date | None = None
    tot: date | None = None
    partner: str = ""
    soort: str = ""
    doel: str = ""
    uitkomst: str = ""
    nood: str = ""  # "ja" | "nee" | ""
    overleg: str = ""  # a case consultation's id
    na: int | None = None  # cursor: the last index already examined

    def query(self, **changes: Any) -> dict[str, str]:
        """The non-empty filters as URL query parameters (for links and the export)."""
        f = replace(self, **changes)
        values = {"van": f.van.isoformat() if f.van else "", "tot": f.tot.isoformat() if f.tot
                  else "", "partner": f.partner, "soort": f.soort, "doel": f.doel,
                  "uitkomst": f.uitkomst, "nood": f.nood, "overleg": f.overleg,
                  "na": "" if f.na is None else str(f.na)}
        return {k: v for k, v in values.items() if v}

    @property
    def time_from(self) -> str | None:
        return None if self.van is None else _day_start(self.van)

    @property
    def time_to(self) -> str | None:
        return None if self.tot is None else _day_start(self.tot + timedelta(days=1))


def _day_start(day: date) -> str:
    """Midnight Belgian time, in the log's fixed UTC form (lexical order is time order)."""
    return format_time(datetime.combine(day, time(0, 0), tzinfo=LOCAL_TZ))


def _date(value: str, field: str) -> date | None:
    """The day, moved into the window of ``broker.bounds`` (DESIGN §8: a far day would overflow
    the conversion to the log's UTC form or the day after; nothing is logged outside it)."""
    if not value:
        return None
    try:
        return clamp_day(date.fromisoformat(value))
    except ValueError as exc:
        raise FilterError(field) from exc


def parse_filters(params: Mapping[str, str], purposes: Mapping[str, Any]) -> Filters:
    """Raises ``FilterError`` naming the first unreadable filter."""
    def get(name: str) -> str:
        return (params.get(name) or "").strip()

    partner, kind, purpose = get("partner"), get("soort"), get("doel")
    if partner and not _PARTNER.fullmatch(partner):
        raise FilterError("partner")
    if kind and kind not in KINDS:
        raise FilterError("soort")
    if purpose and purpose not in purposes:
        raise FilterError("doel")
    if get("uitkomst") not in ("", *VERDICTS):
        raise FilterError("uitkomst")
    if get("nood") not in ("", "ja", "nee"):
        raise FilterError("nood")
    if get("overleg") and not _CONSULTATION.fullmatch(get("overleg")):
        raise FilterError("overleg")
    cursor = get("na")
    if cursor and not (_CURSOR.fullmatch(cursor) and int(cursor) <= INT64_MAX):
        raise FilterError("na")
    van, tot = _date(get("van"), "van"), _date(get("tot"), "tot")
    if van and tot and tot < van:
        raise FilterError("tot")
    return Filters(van=van, tot=tot, partner=partner, soort=kind, doel=purpose,
                   uitkomst=get("uitkomst"), nood=get("nood"), overleg=get("overleg"),
                   na=int(cursor) if cursor else None)


def _verdicts(entry: Mapping[str, Any]) -> set[str]:
    return {str(s.get("verdict")) for s in (entry.get("sections") or {}).values()}


def matches(entry: Mapping[str, Any], f: Filters) -> bool:
    """The filters the store cannot apply. ``uitkomst=granted``: at least one section was
    granted; ``denied``: at least one section was denied (an entry may match both)."""
    if f.doel and entry.get("purpose") != f.doel:
        return False
    if f.overleg and f.overleg not in relied_on(entry):
        return False
    return not f.uitkomst or f.uitkomst in _verdicts(entry)


@dataclass(frozen=True)
class Row:
    """One entry as the auditor sees it: pseudonymised, without the encrypted detail."""

    index: int
    time: str
    kind: str
    network: str
    partner: str
    worker: str
    client: str
    purpose: str
    sections: dict[str, tuple[str, tuple[str, ...]]]  # name -> (verdict, reason codes)
    break_glass: bool
    policy_version: str
    request_id: str

    @property
    def denied(self) -> list[tuple[str, tuple[str, ...]]]:
        return [(name, reasons) for name, (v, reasons) in self.sections.items() if v == "denied"]

    @property
    def granted(self) -> list[str]:
        return [name for name, (v, _) in self.sections.items() if v == "granted"]


def to_row(index: int, entry: Mapping[str, Any]) -> Row:
    def text(name: str) -> str:
        value = entry.get(name)
        return "" if value is None else str(value)

    sections = {str(name): (str(s.get("verdict", "")), tuple(str(r) for r in s.get("reasons")
                                                               or ()))
                for name, s in (entry.get("sections") or {}).items()}
    return Row(index=index, time=text("time"), kind=text("kind"), network=text("network"),
               partner=text("partner"), worker=text("worker"), client=text("client"),
               purpose=text("purpose"), sections=sections,
               break_glass=bool(entry.get("break_glass")),
               policy_version=text("policy_version"), request_id=text("request_id"))


def _store_filters(f: Filters) -> dict[str, Any]:
    return {"partner": f.partner or None, "kind_prefix": f.soort or None,
            "time_from": f.time_from, "time_to": f.time_to,
            "break_glass": {"ja": True, "nee": False}.get(f.nood)}


def scan(store: AuditStore, scope: str, f: Filters, *,
         max_scan: int | None) -> Iterator[tuple[int, Row | None]]:
    """Every leaf in ``scope`` matching the store filters, after ``f.na``, in index order:
    ``(index, row)`` with ``row`` None when the Python filters reject it. Stops after
    ``max_scan`` leaves (None: never)."""
    after, seen = f.na, 0
    while max_scan is None or seen < max_scan:
        batch = BATCH if max_scan is None else min(BATCH, max_scan - seen)
        found = find_in_scope(store, scope, after=after, limit=batch, **_store_filters(f))
        for stored in found:
            entry = decode(stored)
            yield stored.index, to_row(stored.index, entry) if matches(entry, f) else None
        seen += len(found)
        if len(found) < batch:
            return
        after = found[-1].index


@dataclass(frozen=True)
class Page:
    rows: list[Row]
    next_cursor: int | None  # None: nothing more


def search(store: AuditStore, scope: str, f: Filters, *, size: int | None = None) -> Page:
    """One page (``PAGE_SIZE`` rows) of matching rows and the cursor of the next page: the last
    leaf examined, when any leaf after it still passes the store filters (at most ``MAX_SCAN``
    are examined per page)."""
    size = size or PAGE_SIZE
    rows: list[Row] = []
    last: int | None = None
    for index, row in scan(store, scope, f, max_scan=MAX_SCAN):
        last = index
        if row is not None:
            rows.append(row)
            if len(rows) == size:
                break
    more = last is not None and bool(
        find_in_scope(store, scope, after=last, limit=1, **_store_filters(f)))
    return Page(rows=rows, next_cursor=last if more else None)
