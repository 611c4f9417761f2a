"""The review queue of attested records (DESIGN §9): every consent and help relation recorded on
a worker's word only (proof ``attested``) waits for the supervisor, who marks it reviewed with a
note. Counts per partner per month show a partner that attests unusually often. Only the
``supervisor`` auditor scope reads or marks it (the routes check); notes never reach the audit
log, only that a record was reviewed."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlmodel import Session, col, select

from broker.context import BrokerContext
from broker.errors import ReviewRecordNotFound
from broker.observability import request_id_var
from broker.store.audit_events import AuditEvent
from broker.store.models import AttestationReview
from consent.padding import PADDING
from consent.tables import ConsentVersionRow, HelpRelationRow

RecordKind = Literal["consent", "relation"]
PAGE = 200
REVIEWER_MAX = 64  # AttestationReview.reviewer: an identity provider's `sub` may be longer


@dataclass(frozen=True)
class Attested:
    """One attested record as the supervisor sees it: no client, no terms, no content."""

    kind: RecordKind
    id: str
    network: str
    partner: str
    recorded_at: datetime
    reviewed_at: datetime | None
    reviewer: str | None
    note: str | None


def queue(*, session: Session, reviewed: bool | None = None,
          limit: int = PAGE) -> list[Attested]:
    """Attested records, newest first; ``reviewed`` filters on the review state."""
    marks = {(r.record_kind, r.record_id): r for r in session.exec(select(AttestationReview))}
    consents = session.exec(
        select(ConsentVersionRow.consent_id, ConsentVersionRow.network,
               ConsentVersionRow.recorded_by_partner, ConsentVersionRow.created_at)
        .where(ConsentVersionRow.version == 1, ConsentVersionRow.proof == "attested",
               col(ConsentVersionRow.recorded_by_partner).is_not(None))
    ).all()
    relations = session.exec(
        select(HelpRelationRow.id, HelpRelationRow.network, HelpRelationRow.partner,
               HelpRelationRow.created_at)
        # The padding owner's stored relations (``consent.padding``) are nobody's word.
        .where(HelpRelationRow.proof == "attested", HelpRelationRow.network != PADDING)
    ).all()
    items: list[Attested] = []
    for kind, rows in (("consent", consents), ("relation", relations)):
        for record_id, network, partner, at in rows:
            mark = marks.get((kind, record_id))
            if reviewed is not None and (mark is not None) != reviewed:
                continue
            items.append(Attested(
                kind=kind, id=record_id, network=network, partner=partner or "?",  # type: ignore[arg-type]
                recorded_at=at, reviewed_at=mark.reviewed_at if mark else None,
                reviewer=mark.reviewer if mark else None, note=mark.note if mark else None))
    items.sort(key=lambda a: (a.recorded_at, a.id), reverse=True)
    return items[:limit]


def counts_per_partner_month(*, session: Session) -> dict[tuple[str, str], Counter[str]]:
    """(partner, "YYYY-MM") -> {"consent": n, "relation": m}: attested records per month."""
    out: dict[tuple[str, str], Counter[str]] = {}
    for item in queue(session=session, limit=10**9):
        month = item.recorded_at.strftime("%Y-%m")
        out.setdefault((item.partner, month), Counter())[item.kind] += 1
    return out


def mark_reviewed(*, session: Session, ctx: BrokerContext, kind: RecordKind, record_id: str,
                  reviewer: str, note: str, now: datetime) -> Attested:
    """Raises ``ReviewRecordNotFound`` (no such attested record, or reviewed already) and
    ``AuditUnavailable``."""
    found: tuple[str, str, datetime] | None = None
    if kind == "consent":
        row = session.get(ConsentVersionRow, (record_id, 1))
        if row is not None and row.proof == "attested" and row.recorded_by_partner:
            found = (row.network, row.recorded_by_partner, row.created_at)
    else:
        rel = session.get(HelpRelationRow, record_id)
        if rel is not None and rel.proof == "attested":
            found = (rel.network, rel.partner, rel.created_at)
    if found is None or session.get(AttestationReview, (kind, record_id)) is not None:
        raise ReviewRecordNotFound()
    network, partner, recorded_at = found
    ctx.audit.append(AuditEvent(
        kind="review.marked", network=network, partner=partner,
        request_id=request_id_var.get(),
        facts={"record_kind": kind, "record_id": record_id}), now=now)
    reviewer = reviewer[:REVIEWER_MAX]
    session.add(AttestationReview(record_kind=kind, record_id=record_id, reviewed_at=now,
                                  reviewer=reviewer, note=note))
    session.commit()
    return Attested(kind=kind, id=record_id, network=network, partner=partner,
                    recorded_at=recorded_at, reviewed_at=now, reviewer=reviewer, note=note)
