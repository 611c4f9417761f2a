"""The webhook outbox (docs/webhooks.md): one row per event and partner, written in the
transaction of the change it announces, so an event exists exactly when its change committed and
survives a restart.

A row is ``pending`` until a delivery is answered 2xx (``delivered``), or until it failed
``max_attempts`` times (``dead``: the partner's dead-letter list, from which it may ask for a
redelivery). A deliverer *claims* a due row with a lease before sending it: the claim is one
conditional UPDATE, which the database applies to one claimant only (SQLite serialises writers;
PostgreSQL re-checks the WHERE clause on the locked row), so two worker processes never send the
same row at once. A deliverer that dies holding a lease leaves the row to be claimed again once
the lease runs out: delivery is at-least-once, and the receiver deduplicates by ``webhook-id``.

Functions take a ``Session`` and never commit, except the deliverer's claim and result, which are
transactions of their own.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Integer, Text, delete, func, update
from sqlalchemy.engine import Engine
from sqlmodel import Column, Field, Session, SQLModel, col, select

from broker.store.models import UTCDateTime

# A row's ``state``: pending | delivered | dead.
STATES = ("pending", "delivered", "dead")


class WebhookOutboxRow(SQLModel, table=True):
    """An event for one partner's webhook. ``payload`` is the exact JSON body sent at every
    attempt (ids and kinds only: never an INSZ, never dossier content); ``message_id`` is the
    ``webhook-id`` header, the same at every attempt. ``last_error`` is from a closed set
    (:data:`broker.webhooks.delivery.ERRORS`)."""

    __tablename__ = "webhook_outbox"

    id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True,
                                                           autoincrement=True))
    message_id: str = Field(max_length=64, unique=True)
    partner: str = Field(max_length=64)
    event_type: str = Field(max_length=64)
    payload: str = Field(sa_column=Column(Text, nullable=False))
    state: str = Field(max_length=16)
    attempts: int = 0
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    next_attempt_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    lease_owner: str | None = Field(default=None, max_length=64)
    lease_until: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    last_attempt_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    last_status: int | None = None
    last_error: str | None = Field(default=None, max_length=32)
    delivered_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))


@dataclass(frozen=True)
class Claimed:
    """A row claimed for one delivery attempt."""

    id: int
    message_id: str
    partner: str
    event_type: str
    payload: str
    attempts: int  # before this attempt


def add(*, session: Session, message_id: str, partner: str, event_type: str, payload: str,
        now: datetime) -> None:
    """Queue one event for ``partner``, due at once (committed by the caller's transaction)."""
    session.add(WebhookOutboxRow(
        message_id=message_id, partner=partner, event_type=event_type, payload=payload,
        state="pending", attempts=0, created_at=now, next_attempt_at=now,
    ))


def claim_due(*, engine: Engine, owner: str, now: datetime, lease: timedelta, limit: int,
              partners: Iterable[str]) -> list[Claimed]:
    """Claim up to ``limit`` due pending rows of ``partners`` for ``owner`` until
    ``now + lease``. A row another deliverer holds under an unexpired lease is skipped."""
    wanted = sorted(set(partners))
    if not wanted:
        return []
    with Session(engine) as session:
        candidates = session.exec(
            select(WebhookOutboxRow)
            .where(WebhookOutboxRow.state == "pending",
                   col(WebhookOutboxRow.next_attempt_at) <= now,
                   col(WebhookOutboxRow.partner).in_(wanted),
                   (col(WebhookOutboxRow.lease_until).is_(None))
                   | (col(WebhookOutboxRow.lease_until) < now))
            .order_by(col(WebhookOutboxRow.id))
            .limit(limit)
        ).all()
        found = [(row.id, row.message_id, row.partner, row.event_type, row.payload, row.attempts)
                 for row in candidates]
    claimed: list[Claimed] = []
    for row_id, message_id, partner, event_type, payload, attempts in found:
        with engine.begin() as conn:
            taken = conn.execute(
                update(WebhookOutboxRow)
                .where(col(WebhookOutboxRow.id) == row_id,
                       col(WebhookOutboxRow.state) == "pending",
                       col(WebhookOutboxRow.attempts) == attempts,
                       (col(WebhookOutboxRow.lease_until).is_(None))
                       | (col(WebhookOutboxRow.lease_until) < now))
                .values(lease_owner=owner, lease_until=now + lease)
            ).rowcount
        if taken == 1 and row_id is not None:
            claimed.append(Claimed(row_id, message_id, partner, event_type, payload, attempts))
    return claimed


def record_attempt(*, engine: Engine, owner: str, row_id: int, now: datetime, delivered: bool,
                   status: int | None, error: str | None, retry_at: datetime | None) -> bool:
    """Record the outcome of ``owner``'s attempt: delivered, due again at ``retry_at``, or dead
    (``retry_at`` None). False if the lease was lost meanwhile (nothing recorded)."""
    values: dict[str, object] = {
        "attempts": WebhookOutboxRow.attempts + 1,
        "lease_owner": None, "lease_until": None, "last_attempt_at": now,
        "last_status": status, "last_error": error,
    }
    if delivered:
        values.update(state="delivered", delivered_at=now, last_error=None)
    elif retry_at is None:
        values.update(state="dead")
    else:
        values.update(next_attempt_at=retry_at)
    with engine.begin() as conn:
        return conn.execute(
            update(WebhookOutboxRow)
            .where(col(WebhookOutboxRow.id) == row_id,
                   col(WebhookOutboxRow.lease_owner) == owner,
                   col(WebhookOutboxRow.state) == "pending")
            .values(**values)
        ).rowcount == 1


def dead_letters(*, session: Session, partner: str, after: int,
                 limit: int) -> list[WebhookOutboxRow]:
    """The partner's dead rows with ``id > after``, oldest first."""
    return list(session.exec(
        select(WebhookOutboxRow)
        .where(WebhookOutboxRow.partner == partner, WebhookOutboxRow.state == "dead",
               col(WebhookOutboxRow.id) > after)
        .order_by(col(WebhookOutboxRow.id))
        .limit(limit)
    ).all())


def redeliver(*, session: Session, partner: str, message_id: str, now: datetime) -> bool:
    """Make the partner's dead row ``message_id`` pending again, due now, with a fresh count of
    attempts. False if the partner has no such dead row."""
    row = session.exec(
        select(WebhookOutboxRow).where(WebhookOutboxRow.message_id == message_id,
                                       WebhookOutboxRow.partner == partner,
                                       WebhookOutboxRow.state == "dead")
    ).first()
    if row is None:
        return False
    row.state, row.attempts, row.next_attempt_at = "pending", 0, now
    row.lease_owner = row.lease_until = None
    session.add(row)
    return True


def prune_delivered(*, engine: Engine, before: datetime) -> int:
    """Delete delivered rows delivered before ``before`` (pending and dead rows stay); returns
    how many."""
    with engine.begin() as conn:
        return conn.execute(
            delete(WebhookOutboxRow)
            .where(col(WebhookOutboxRow.state) == "delivered",
                   col(WebhookOutboxRow.delivered_at) < before)
        ).rowcount


def backlog(*, engine: Engine) -> dict[str, int]:
    """Rows waiting (``pending``: the backlog) and given up (``dead``: the dead letters);
    delivered rows are not counted."""
    counts = {"pending": 0, "dead": 0}
    with Session(engine) as session:
        for state, count in session.exec(
            select(WebhookOutboxRow.state, func.count())
            .where(col(WebhookOutboxRow.state).in_(list(counts)))
            .group_by(WebhookOutboxRow.state)
        ).all():
            counts[state] = count
    return counts
