"""The figures of a signal bundle (DESIGN §11): quarterly counts per network, computed from the
broker's own audit log, each by a small query function, then released with differential
privacy (``dp_release``).

A figure is a closed grid of cells (its *domain*: quarters of the period times codes from the
catalogue, the partner types or a fixed list), fixed before any data is read, so whether a cell
is shown never depends on the data. Each query function reads the events of the period and says,
per client (by pseudonym), which cells the client touches; ``bounded_counts`` then counts
clients per cell, each client in at most ``bound`` cells (contribution bounding: the cells kept
are chosen per client in a keyed pseudo-random order, a function of that client's own events
only). So one client more or less changes the counts by at most ``bound`` in L1 distance: that
is the sensitivity the noise is calibrated to. Events without a client are not counted (they
cannot be bounded). Clients who opted out of secondary use are dropped before any counting.

Referral outcomes: the figure reads the audit kinds ``referral.accepted``, ``referral.declined``,
``referral.completed`` and ``referral.dropped`` (the referral flow of DESIGN §10). A figure
whose kinds the closed vocabulary does not know has no cells and spends nothing.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import select
from sqlalchemy.engine import Connection

from audit.entry import format_time
from audit.schema import audit_leaf
from broker.schemas.signals import Cell, Figure
from broker.services import dp_release
from broker.store.audit_vocabulary import KINDS

PARTNER_TYPES = ("ocmw", "caw", "dmw", "other")
CONSENT_EVENTS = {"consent.created": "gegeven", "consent.revoked": "ingetrokken"}
REFERRAL_OUTCOMES = {"referral.accepted": "aanvaard", "referral.declined": "geweigerd",
                     "referral.completed": "afgerond", "referral.dropped": "uitgevallen"}
CellKey = tuple[str, ...]


@dataclass(frozen=True)
class Event:
    """What a figure may read of one audit entry: never dossier content, never an INSZ."""

    kind: str
    quarter: str
    client: str
    partner_type: str | None
    purpose: str | None
    break_glass: bool


@dataclass(frozen=True)
class FigureSpec:
    """One figure: its name, Dutch title and unit, the names of its key's parts, its domain for
    a period's quarters, the query that maps a client's events to cells, and its bound."""

    name: str
    title: str
    unit: str
    key_names: tuple[str, ...]
    kinds: frozenset[str]
    domain: Callable[[Sequence[str], frozenset[str]], list[CellKey]]
    cells_of: Callable[[Event], CellKey | None]
    bound: int


def quarter_of(day: date) -> str:
    return f"{day.year}-K{(day.month - 1) // 3 + 1}"


def quarters(start: date, end: date) -> list[str]:
    """The quarters the period from ``start`` to ``end`` (both included) touches, in order."""
    out: list[str] = []
    day = start
    while day <= end:
        if quarter_of(day) not in out:
            out.append(quarter_of(day))
        month = (day.month - 1) // 3 * 3 + 4  # the first month of the next quarter
        day = date(day.year + 1, 1, 1) if month > 12 else date(day.year, month, 1)
    return out


def _access_cells(e: Event) -> CellKey | None:
    if e.kind != "access.decision" or e.purpose is None or e.partner_type is None:
        return None
    return (e.quarter, e.purpose, e.partner_type)


def _break_glass_cells(e: Event) -> CellKey | None:
    if e.kind != "access.decision" or not e.break_glass or e.partner_type is None:
        return None
    return (e.quarter, e.partner_type)


def _consent_cells(e: Event) -> CellKey | None:
    event = CONSENT_EVENTS.get(e.kind)
    return None if event is None else (e.quarter, event)


def _referral_cells(e: Event) -> CellKey | None:
    outcome = REFERRAL_OUTCOMES.get(e.kind)
    return None if outcome is None else (e.quarter, outcome)


def specs(purposes: Sequence[str]) -> list[FigureSpec]:
    """Every figure of a bundle, in the order the report shows them."""
    return [
        FigureSpec(
            name="toegang_per_doel", title="Cliënten met een toegangsaanvraag, per doel en "
            "type partner", unit="cliënten", key_names=("kwartaal", "doel", "partnertype"),
            kinds=frozenset({"access.decision"}),
            domain=lambda qs, _: [(q, p, t) for q in qs for p in purposes
                                  for t in PARTNER_TYPES],
            cells_of=_access_cells, bound=2),
        FigureSpec(
            name="noodtoegang", title="Cliënten met een noodtoegang (break-glass), per type "
            "partner", unit="cliënten", key_names=("kwartaal", "partnertype"),
            kinds=frozenset({"access.decision"}),
            domain=lambda qs, _: [(q, t) for q in qs for t in PARTNER_TYPES],
            cells_of=_break_glass_cells, bound=1),
        FigureSpec(
            name="toestemmingen", title="Cliënten die toestemming gaven of introkken",
            unit="cliënten", key_names=("kwartaal", "gebeurtenis"),
            kinds=frozenset(CONSENT_EVENTS),
            domain=lambda qs, _: [(q, v) for q in qs for v in CONSENT_EVENTS.values()],
            cells_of=_consent_cells, bound=2),
        FigureSpec(
            name="doorverwijzingen", title="Cliënten per uitkomst van een doorverwijzing "
            "(uitval inbegrepen)", unit="cliënten", key_names=("kwartaal", "uitkomst"),
            kinds=frozenset(REFERRAL_OUTCOMES),
            domain=lambda qs, kinds: [(q, v) for q in qs for k, v in REFERRAL_OUTCOMES.items()
                                      if k in kinds],
            cells_of=_referral_cells, bound=2),
    ]


def contributions(events: Iterable[Event], cells_of: Callable[[Event], CellKey | None],
                  opted_out: frozenset[str]) -> dict[str, set[CellKey]]:
    """Per client (pseudonym), the cells their events touch; opted-out clients are left out."""
    out: dict[str, set[CellKey]] = {}
    for event in events:
        if event.client in opted_out:
            continue
        cell = cells_of(event)
        if cell is not None:
            out.setdefault(event.client, set()).add(cell)
    return out


def bounded_counts(touched: Mapping[str, set[CellKey]], domain: Sequence[CellKey], *,
                   bound: int, salt: bytes) -> list[int]:
    """Clients per cell of ``domain``, each client counted in at most ``bound`` of its cells
    (chosen in an order keyed by ``salt`` and the client alone). Cells outside the domain are
    never counted. Adding or removing one client changes the result by at most ``bound`` in
    L1 distance."""
    index = {key: i for i, key in enumerate(domain)}
    counts = [0] * len(domain)
    for client, cells in touched.items():
        inside = [c for c in cells if c in index]

        def order(cell: CellKey, client: str = client) -> bytes:
            return hashlib.sha256(salt + client.encode() + b"\0" + "\0".join(cell).encode()) \
                .digest()

        for cell in sorted(inside, key=order)[:bound]:
            counts[index[cell]] += 1
    return counts


def read_events(conn: Connection, *, network: str, start: date, end: date,
                kinds: frozenset[str], partner_types: Mapping[str, str]) -> list[Event]:
    """The audit entries of ``network`` of ``kinds`` from ``start`` to ``end`` (both included),
    as ``Event``s. Reads the leaf's own clear fields (DESIGN §9); never its encrypted detail."""
    if not kinds:
        return []
    low = format_time(datetime.combine(start, time.min, UTC))
    high = format_time(datetime.combine(end + timedelta(days=1), time.min, UTC))
    rows = conn.execute(
        select(audit_leaf.c.kind, audit_leaf.c.time, audit_leaf.c.partner, audit_leaf.c.client,
               audit_leaf.c.break_glass, audit_leaf.c.leaf)
        .where(audit_leaf.c.network == network, audit_leaf.c.kind.in_(sorted(kinds)),
               audit_leaf.c.time >= low, audit_leaf.c.time < high)
        .order_by(audit_leaf.c.idx))
    events = []
    for kind, when, partner, client, break_glass, leaf in rows:
        if client is None:
            continue
        purpose = json.loads(leaf).get("purpose") if kind == "access.decision" else None
        events.append(Event(kind=kind, quarter=quarter_of(date.fromisoformat(when[:10])),
                            client=client, partner_type=partner_types.get(partner or ""),
                            purpose=purpose if isinstance(purpose, str) else None,
                            break_glass=bool(break_glass)))
    return events


def compute(events: Sequence[Event], *, spec: FigureSpec, period: Sequence[str],
            opted_out: frozenset[str], epsilon: float, salt: bytes,
            known_kinds: frozenset[str] = KINDS) -> Figure:
    """One figure, released: noisy, suppressed counts and the ε spent. A figure whose domain
    is empty (referral outcomes before the vocabulary knows them) spends nothing."""
    domain = spec.domain(period, known_kinds)
    if not domain:
        return Figure(name=spec.name, title=spec.title, unit=spec.unit, cells=[], epsilon=0.0,
                      mechanism=dp_release.MECHANISM, scale=None, sensitivity=spec.bound,
                      note="Nog geen gegevens: deze broker registreert deze gebeurtenissen "
                      "nog niet.")
    counts = bounded_counts(contributions(events, spec.cells_of, opted_out), domain,
                            bound=spec.bound, salt=salt + spec.name.encode())
    released = dp_release.release(counts, sensitivity=spec.bound, epsilon=epsilon)
    cells = [Cell(key=dict(zip(spec.key_names, key, strict=True)), value=value,
                  suppressed=value is None)
             for key, value in zip(domain, released.values, strict=True)]
    return Figure(name=spec.name, title=spec.title, unit=spec.unit, cells=cells,
                  epsilon=released.epsilon, mechanism=dp_release.MECHANISM,
                  scale=released.scale, sensitivity=spec.bound)
