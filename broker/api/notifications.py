"""``GET /v1/notifications``: a partner's withdrawal follow-up feed (DESIGN §3)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from broker.api.routing import StrictJSONRoute
from broker.deps import CurrentPartner, SessionDep
from broker.errors import InvalidCursor
from broker.problems import problem_responses
from broker.schemas.notifications import NotificationPage, NotificationPublic
from broker.services import notifications

router = APIRouter(route_class=StrictJSONRoute, prefix="/v1", tags=["partners"])


@router.get("/notifications", response_model=NotificationPage,
            responses=problem_responses(InvalidCursor))
def notification_feed(
    principal: CurrentPartner,
    session: SessionDep,
    cursor: Annotated[str | None, Query(pattern=r"^\d{1,18}$")] = None,
) -> NotificationPage:
    """Notices that a consent under which this partner received data was narrowed or revoked,
    oldest first. Pass the returned ``cursor`` back: that acknowledges every notice up to it.
    Without a cursor the feed resumes after the last acknowledged notice (at-least-once)."""
    found, next_cursor = notifications.feed(
        session=session, partner=principal.partner, cursor=None if cursor is None else int(cursor)
    )
    return NotificationPage(
        notifications=[
            NotificationPublic(
                id=str(n.id),
                consent_id=n.consent_id,
                version=n.version,
                change=n.change,
                no_longer_covers=n.no_longer_covers,
                created_at=n.created_at,
            )
            for n in found
        ],
        cursor=str(next_cursor),
    )
