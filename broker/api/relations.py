"""Help relations, partner side (DESIGN §5): ``POST /v1/relations`` and
``POST /v1/relations/{id}/end``."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, status

from broker.api.problem_docs import AUDITED
from broker.api.routing import StrictJSONRoute
from broker.deps import ContextDep, CurrentPartner, SessionDep
from broker.errors import ClientErased, PresenceNotProven, RelationNotFound
from broker.problems import problem_responses
from broker.schemas.relations import HelpRelationCreate, HelpRelationPublic
from broker.services import relations
from consent.errors import RelationEndInPast, RelationEndTooFar, RelationNotValid
from consent.rules import relation_is_valid

router = APIRouter(route_class=StrictJSONRoute, prefix="/v1/relations", tags=["partners"])


@router.post("", status_code=status.HTTP_201_CREATED, response_model=HelpRelationPublic,
             responses=problem_responses(PresenceNotProven, RelationEndInPast, RelationEndTooFar,
                                         ClientErased, *AUDITED))
def declare_relation(
    body: HelpRelationCreate, principal: CurrentPartner, ctx: ContextDep, session: SessionDep
) -> HelpRelationPublic:
    """The partner declares it helps the client, from now until ``end`` (default 12 months,
    at most 24). With ``presence`` (the client's eID card signed a challenge from
    ``/v1/presence/challenges``) the relation is proven (``eid``); without, it rests on the
    worker's word (``attested``), the client is told and a supervisor reviews it. The response
    names no client."""
    now = datetime.now(UTC)
    relation = relations.declare(
        session=session,
        ctx=ctx,
        partner=principal.partner,
        worker=principal.worker,
        insz=body.insz,
        end=body.end,
        now=now,
        presence=body.presence,
    )
    return HelpRelationPublic.of(relation, valid=relation_is_valid(relation, now))


@router.post("/{relation_id}/end", response_model=HelpRelationPublic,
             responses=problem_responses(RelationNotFound, RelationNotValid, *AUDITED))
def end_relation(
    relation_id: str, principal: CurrentPartner, ctx: ContextDep, session: SessionDep
) -> HelpRelationPublic:
    """End one of the partner's own relations now; consents bound to it end with it."""
    now = datetime.now(UTC)
    relation = relations.end(
        session=session,
        ctx=ctx,
        partner=principal.partner,
        worker=principal.worker,
        relation_id=relation_id,
        now=now,
    )
    return HelpRelationPublic.of(relation, valid=relation_is_valid(relation, now))
