"""Mandates (DESIGN §9): ``/v1/me/mandates`` (a client names a trusted person; a trusted person
sees what they hold) and ``POST /v1/mandates`` (a legal representative at the desk, with eID)."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, status

from broker.api.problem_docs import AUDITED, HELPING
from broker.api.routing import StrictJSONRoute
from broker.deps import ContextDep, CurrentClient, CurrentPartner, SessionDep
from broker.errors import ClientErased, MandateNotFound, NetworkRequired, PresenceNotProven
from broker.problems import problem_responses
from broker.schemas.mandates import (
    MandateCreate,
    MandatePublic,
    MandatesPublic,
    RepresentativeCreate,
)
from broker.services import mandates
from consent.errors import (
    MandateNotValid,
    SelfMandate,
    UnknownNetwork,
    ValidUntilInPast,
    ValidUntilTooFar,
)

router = APIRouter(route_class=StrictJSONRoute, tags=["partners"])
me_router = APIRouter(route_class=StrictJSONRoute, prefix="/v1/me/mandates", tags=["clients"])


@router.post("/v1/mandates", status_code=status.HTTP_201_CREATED, response_model=MandatePublic,
             responses=problem_responses(*HELPING, PresenceNotProven, SelfMandate,
                                         MandateNotValid, ValidUntilInPast, ValidUntilTooFar,
                                         ClientErased, *AUDITED))
def record_representative(body: RepresentativeCreate, principal: CurrentPartner,
                          ctx: ContextDep, session: SessionDep) -> MandatePublic:
    """Record a legal representative of a client this partner helps, proven by the
    representative's own eID card (``presence`` over a challenge for
    ``representative_insz``)."""
    now = datetime.now(UTC)
    m = mandates.record_representative(session=session, ctx=ctx, partner=principal.partner,
                                       worker=principal.worker, body=body, now=now)
    return MandatePublic.of(m, now=now, names={})


@me_router.post("", status_code=status.HTTP_201_CREATED, response_model=MandatePublic,
                responses=problem_responses(SelfMandate, MandateNotValid, ValidUntilInPast,
                                            ValidUntilTooFar, NetworkRequired, UnknownNetwork,
                                            ClientErased, *AUDITED))
def give(body: MandateCreate, principal: CurrentClient, ctx: ContextDep,
         session: SessionDep) -> MandatePublic:
    """Name a trusted person (by INSZ) who may manage, never read, your consents."""
    now = datetime.now(UTC)
    m = mandates.give(session=session, ctx=ctx, insz=principal.insz, body=body, now=now)
    return MandatePublic.of(m, now=now, names=mandates.names_of(ctx, session, m))


@me_router.get("", response_model=MandatesPublic)
def mine(principal: CurrentClient, ctx: ContextDep, session: SessionDep) -> MandatesPublic:
    now = datetime.now(UTC)
    given, held = mandates.of_person(session=session, ctx=ctx, insz=principal.insz)
    return MandatesPublic(
        given=[MandatePublic.of(m, now=now, names=mandates.names_of(ctx, session, m))
               for m in given],
        held=[MandatePublic.of(m, now=now, names=mandates.names_of(ctx, session, m))
              for m in held])


@me_router.delete("/{mandate_id}", response_model=MandatePublic,
                  responses=problem_responses(MandateNotFound, *AUDITED))
def revoke(mandate_id: str, principal: CurrentClient, ctx: ContextDep,
           session: SessionDep) -> MandatePublic:
    """End a mandate you gave, or one you hold."""
    now = datetime.now(UTC)
    m = mandates.revoke(session=session, ctx=ctx, insz=principal.insz, mandate_id=mandate_id,
                        now=now)
    return MandatePublic.of(m, now=now, names=mandates.names_of(ctx, session, m))
