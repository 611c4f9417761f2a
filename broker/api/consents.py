"""``POST /v1/consents``: a partner records consent given at its desk (DESIGN §5)."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, status

from broker.api.problem_docs import AUDITED, HELPING, TERMS
from broker.api.routing import StrictJSONRoute
from broker.deps import ContextDep, CurrentPartner, SessionDep
from broker.errors import ClientErased, PresenceNotProven
from broker.problems import problem_responses
from broker.schemas.consents import ConsentChanged, ConsentCreate
from broker.services import consents
from consent.errors import InvalidEvidence, RelationNotValid

router = APIRouter(route_class=StrictJSONRoute, prefix="/v1", tags=["partners"])


@router.post("/consents", status_code=status.HTTP_201_CREATED, response_model=ConsentChanged,
             responses=problem_responses(*HELPING, PresenceNotProven, *TERMS, InvalidEvidence,
                                         RelationNotValid, ClientErased, *AUDITED))
def record_consent(
    body: ConsentCreate, principal: CurrentPartner, ctx: ContextDep, session: SessionDep
) -> ConsentChanged:
    """Record consent given at the desk. The partner must help the client now (a valid help
    relation); the response is the consent's first version and its signed receipt."""
    now = datetime.now(UTC)
    own = consents.record_at_desk(
        session=session,
        ctx=ctx,
        partner=principal.partner,
        worker=principal.worker,
        consent_in=body,
        now=now,
    )
    receipt, jws = consents.signed_receipt(ctx, own.head)
    return ConsentChanged(consent=own.public(own.head, now), receipt=receipt, jws=jws)
