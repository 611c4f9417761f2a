"""``GET /v1/notifications``: a partner's notice feed: withdrawal follow-up (DESIGN §3) and,
for a client's coordinator, casework notices (DESIGN §10)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query

from broker.api.routing import StrictJSONRoute
from broker.deps import ContextDep, CurrentPartner, SessionDep
from broker.errors import InvalidCursor
from broker.problems import problem_responses
from broker.schemas.notifications import NotificationPage, NotificationPublic
from broker.services import notifications, referrals

router = APIRouter(route_class=StrictJSONRoute, prefix="/v1", tags=["partners"])


@router.get("/notifications", response_model=NotificationPage, response_model_exclude_none=True,
            responses=problem_responses(InvalidCursor))
def notification_feed(
    principal: CurrentPartner,
    ctx: ContextDep,
    session: SessionDep,
    cursor: Annotated[str | None, Query(pattern=r"^\d{1,18}$")] = None,
) -> NotificationPage:
    """Notices that a consent under which this partner received data was narrowed or revoked,
    oldest first. Pass the returned ``cursor`` back: that acknowledges every notice up to it.
    Without a cursor the feed resumes after the last acknowledged notice (at-least-once).
    A client's coordinator also finds here the referrals dropped or left unanswered for 14 days
    and the relations ended of that client (DESIGN §10)."""
    # DESIGN §10: referrals past their 14 days are recorded as expired (and their coordinator
    # told) before the feed is read.
    referrals.expire_due(session=session, ctx=ctx, network=principal.partner.network,
                         now=datetime.now(UTC))
    found, next_cursor = notifications.feed(
        session=session, partner=principal.partner, cursor=None if cursor is None else int(cursor)
    )
    return NotificationPage(
        notifications=[
            NotificationPublic(
                id=str(n.id),
                kind=n.kind,
                consent_id=n.consent_id,
                version=n.version,
                change=n.change,
                no_longer_covers=n.no_longer_covers,
                referral_id=n.referral_id,
                relation_id=n.relation_id,
                partner=n.about_partner,
                created_at=n.created_at,
            )
            for n in found
        ],
        cursor=str(next_cursor),
    )
