"""A partner's dead letters and their redelivery (docs/webhooks.md)."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from broker.context import BrokerContext
from broker.errors import DeadLetterNotFound
from broker.schemas.webhooks import DeadLetterPage, DeadLetterPublic, Redelivery
from broker.security.registry import Partner
from broker.store import webhook_outbox

PAGE = 100


def dead_letters(*, session: Session, partner: Partner, cursor: int) -> DeadLetterPage:
    """The partner's dead letters after ``cursor``, oldest first."""
    rows = webhook_outbox.dead_letters(session=session, partner=partner.id, after=cursor,
                                       limit=PAGE)
    return DeadLetterPage(
        dead_letters=[
            DeadLetterPublic(id=row.message_id, type=row.event_type, payload=row.payload,
                             created_at=row.created_at, attempts=row.attempts,
                             last_attempt_at=row.last_attempt_at, last_status=row.last_status,
                             last_error=row.last_error)
            for row in rows
        ],
        cursor=str(rows[-1].id if rows else cursor),
    )


def redeliver(*, session: Session, ctx: BrokerContext, partner: Partner, message_id: str,
              now: datetime) -> Redelivery:
    """Make a dead letter pending again. Raises ``DeadLetterNotFound``."""
    if not webhook_outbox.redeliver(session=session, partner=partner.id, message_id=message_id,
                                    now=now):
        raise DeadLetterNotFound()
    session.commit()
    if ctx.webhooks is not None:
        ctx.webhooks.wake()
    return Redelivery(id=message_id, state="pending")
