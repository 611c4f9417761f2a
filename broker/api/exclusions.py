"""``/v1/me/exclusions`` (DESIGN §9): the client excludes a partner, and undoes it."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, status

from broker.api.problem_docs import ACTING, AUDITED
from broker.api.routing import StrictJSONRoute
from broker.deps import ActingScope, ContextDep, SessionDep
from broker.errors import ExclusionNotFound, UnknownPartnerId
from broker.problems import problem_responses
from broker.schemas.exclusions import ExclusionCreate, ExclusionPublic, ExclusionsPublic
from broker.services import exclusions
from consent.errors import AlreadyExcluded

router = APIRouter(route_class=StrictJSONRoute, prefix="/v1/me/exclusions", tags=["clients"])


@router.post("", status_code=status.HTTP_201_CREATED, response_model=ExclusionPublic,
             responses=problem_responses(*ACTING, UnknownPartnerId, AlreadyExcluded, *AUDITED))
def exclude(body: ExclusionCreate, scope: ActingScope, ctx: ContextDep,
            session: SessionDep) -> ExclusionPublic:
    """From now on ``partner`` gets nothing of the client's dossier, break-glass included."""
    now = datetime.now(UTC)
    return ExclusionPublic.of(exclusions.exclude(session=session, ctx=ctx, scope=scope,
                                                 partner_id=body.partner, now=now), now)


@router.get("", response_model=ExclusionsPublic, responses=problem_responses(*ACTING))
def list_exclusions(scope: ActingScope, session: SessionDep) -> ExclusionsPublic:
    now = datetime.now(UTC)
    return ExclusionsPublic(exclusions=[ExclusionPublic.of(x, now) for x in
                                        exclusions.of_client(session=session, scope=scope)])


@router.delete("/{exclusion_id}", response_model=ExclusionPublic,
               responses=problem_responses(*ACTING, ExclusionNotFound, *AUDITED))
def undo(exclusion_id: str, scope: ActingScope, ctx: ContextDep,
         session: SessionDep) -> ExclusionPublic:
    """End an exclusion: the partner is treated as any other again."""
    now = datetime.now(UTC)
    return ExclusionPublic.of(exclusions.undo(session=session, ctx=ctx, scope=scope,
                                              exclusion_id=exclusion_id, now=now), now)
