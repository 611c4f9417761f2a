"""Persistence of partner notices: each partner's feed, read by cursor.

Keyword-only functions taking a ``Session``; they never commit (the calling service owns the
transaction). A withdrawal notice (DESIGN §3) names the consent, its new version and what it no
longer covers; a casework notice for the client's coordinator (DESIGN §10) names the referral or
relation and the partner concerned. Never dossier content and never the client.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import func, text
from sqlmodel import Session, col, select

from consent.store import ConsentChange
from consent.tables import NotificationAckRow, NotificationRow

CaseworkKind = Literal["referral_dropped", "referral_expired", "relation_ended"]


@dataclass(frozen=True, slots=True)
class Notification:
    id: int
    kind: str
    consent_id: str | None
    version: int | None
    change: str | None
    no_longer_covers: dict[str, Any] | None
    created_at: datetime
    referral_id: str | None = None
    relation_id: str | None = None
    about_partner: str | None = None


def _lock_feed(session: Session) -> None:
    """On PostgreSQL the table is locked until commit so that notices commit in id order: a
    reader that acknowledged id n can never miss a notice with a smaller id committed later (the
    feed is at-least-once). SQLite serialises writers anyway."""
    if session.get_bind().dialect.name == "postgresql":
        session.exec(text("LOCK TABLE consent_notification IN EXCLUSIVE MODE"))  # type: ignore[call-overload]


def add_notifications(
    *,
    session: Session,
    partners: Iterable[str],
    network: str,
    consent_id: str,
    version: int,
    change: ConsentChange,
    no_longer_covers: dict[str, Any],
    now: datetime,
) -> None:
    """Queue one withdrawal notice per partner (in id order, ``_lock_feed``)."""
    targets = sorted(set(partners))
    if not targets:
        return
    _lock_feed(session)
    for partner in targets:
        session.add(
            NotificationRow(
                partner=partner,
                network=network,
                consent_id=consent_id,
                version=version,
                change=change,
                no_longer_covers=no_longer_covers,
                created_at=now,
            )
        )


def add_casework_notice(
    *,
    session: Session,
    partner: str,
    network: str,
    kind: CaseworkKind,
    about_partner: str,
    now: datetime,
    referral_id: str | None = None,
    relation_id: str | None = None,
) -> None:
    """Queue one notice for the client's coordinator (DESIGN §10): a referral dropped or left
    unanswered, or a relation ended, by ``about_partner``."""
    _lock_feed(session)
    session.add(NotificationRow(partner=partner, network=network, kind=kind,
                                referral_id=referral_id, relation_id=relation_id,
                                about_partner=about_partner, created_at=now))


def notifications_after(
    *, session: Session, partner: str, after: int, limit: int
) -> list[Notification]:
    rows = session.exec(
        select(NotificationRow)
        .where(NotificationRow.partner == partner, col(NotificationRow.id) > after)
        .order_by(col(NotificationRow.id))
        .limit(limit)
    ).all()
    return [
        Notification(
            id=row.id or 0,
            kind=row.kind,
            consent_id=row.consent_id,
            version=row.version,
            change=row.change,
            no_longer_covers=row.no_longer_covers,
            created_at=row.created_at,
            referral_id=row.referral_id,
            relation_id=row.relation_id,
            about_partner=row.about_partner,
        )
        for row in rows
    ]


def latest_notification_id(*, session: Session, partner: str) -> int:
    """The id of the partner's newest notice, 0 if none."""
    newest = session.exec(
        select(func.max(NotificationRow.id)).where(NotificationRow.partner == partner)
    ).first()
    return newest or 0


def acknowledged(*, session: Session, partner: str) -> int:
    row = session.get(NotificationAckRow, partner)
    return 0 if row is None else row.acknowledged


def acknowledge(*, session: Session, partner: str, upto: int) -> None:
    """Record that ``partner`` has every notice with ``id <= upto``; never moves backwards."""
    row = session.get(NotificationAckRow, partner)
    if row is None:
        session.add(NotificationAckRow(partner=partner, acknowledged=upto))
    elif upto > row.acknowledged:
        row.acknowledged = upto
        session.add(row)
