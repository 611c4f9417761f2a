"""Persistence of withdrawal notices (DESIGN §3): each partner's feed, read by cursor.

Keyword-only functions taking a ``Session``; they never commit (the calling service owns the
transaction). A notice names the consent, its new version and what it no longer covers; never
dossier content and never the client.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, text
from sqlmodel import Session, col, select

from consent.store import ConsentChange
from consent.tables import NotificationAckRow, NotificationRow


@dataclass(frozen=True, slots=True)
class Notification:
    id: int
    consent_id: str
    version: int
    change: str
    no_longer_covers: dict[str, Any]
    created_at: datetime


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
    """Queue one notice per partner.

    On PostgreSQL the table is locked until commit so that notices commit in id order: a reader
    that acknowledged id n can never miss a notice with a smaller id committed later (the feed is
    at-least-once). SQLite serialises writers anyway.
    """
    targets = sorted(set(partners))
    if not targets:
        return
    if session.get_bind().dialect.name == "postgresql":
        session.exec(text("LOCK TABLE consent_notification IN EXCLUSIVE MODE"))  # type: ignore[call-overload]
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
            consent_id=row.consent_id,
            version=row.version,
            change=row.change,
            no_longer_covers=row.no_longer_covers,
            created_at=row.created_at,
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
