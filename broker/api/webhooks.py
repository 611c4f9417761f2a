"""A partner's webhook dead letters (docs/webhooks.md): ``GET /v1/webhooks/dead-letters`` and
``POST /v1/webhooks/dead-letters/{id}/redeliver``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query, status

from broker.api.routing import StrictJSONRoute
from broker.deps import ContextDep, CurrentPartner, SessionDep
from broker.errors import DeadLetterNotFound
from broker.problems import problem_responses
from broker.schemas.webhooks import DeadLetterPage, Redelivery
from broker.services import webhooks

router = APIRouter(route_class=StrictJSONRoute, prefix="/v1/webhooks", tags=["partners"])


@router.get("/dead-letters", response_model=DeadLetterPage)
def dead_letters(
    principal: CurrentPartner,
    session: SessionDep,
    cursor: Annotated[str | None, Query(pattern=r"^\d{1,18}$")] = None,
) -> DeadLetterPage:
    """Events to this partner's webhook whose every delivery attempt failed, oldest first. They
    stay listed until redelivered; pass the returned ``cursor`` back for the next page."""
    return webhooks.dead_letters(session=session, partner=principal.partner,
                                 cursor=0 if cursor is None else int(cursor))


@router.post("/dead-letters/{message_id}/redeliver", status_code=status.HTTP_202_ACCEPTED,
             response_model=Redelivery, responses=problem_responses(DeadLetterNotFound))
def redeliver(
    message_id: Annotated[str, Path(pattern=r"^msg_[a-z]{28}$")],
    principal: CurrentPartner,
    ctx: ContextDep,
    session: SessionDep,
) -> Redelivery:
    """Deliver a dead letter again (same ``webhook-id``, a fresh count of attempts)."""
    return webhooks.redeliver(session=session, ctx=ctx, partner=principal.partner,
                              message_id=message_id, now=datetime.now(UTC))
