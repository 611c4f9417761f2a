"""``POST /v1/presence/challenges`` (DESIGN §9): a challenge for the client's eID card."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, status

from broker.api.routing import StrictJSONRoute
from broker.deps import ContextDep, CurrentPartner, SessionDep
from broker.errors import ClientErased
from broker.problems import problem_responses
from broker.schemas.presence import ChallengeIn, ChallengeOut
from broker.services import presence

router = APIRouter(route_class=StrictJSONRoute, prefix="/v1/presence", tags=["partners"])


@router.post("/challenges", status_code=status.HTTP_201_CREATED, response_model=ChallengeOut,
             responses=problem_responses(ClientErased))
def new_challenge(body: ChallengeIn, principal: CurrentPartner, ctx: ContextDep,
                  session: SessionDep) -> ChallengeOut:
    """A single-use challenge, valid 5 minutes, for this partner and this client. The client's
    card signs it at the desk; send the result as ``presence`` with ``POST /v1/consents``,
    ``/v1/relations`` or ``/v1/mandates`` (a legal representative's own card)."""
    issued = presence.issue_challenge(
        session=session, keyring=ctx.keyring, partner=principal.partner.id,
        network=principal.partner.network, insz=body.insz, now=datetime.now(UTC))
    return ChallengeOut(challenge=issued.challenge, expires_at=issued.expires_at)
