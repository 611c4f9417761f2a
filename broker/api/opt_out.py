"""``/v1/me/opt-out`` (DESIGN §11): the client opts out of secondary use, and back in."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, status

from broker.api.problem_docs import AUDITED
from broker.api.routing import StrictJSONRoute
from broker.deps import ContextDep, CurrentClient, SessionDep
from broker.errors import AlreadyOptedOut, OptOutNotFound
from broker.problems import problem_responses
from broker.schemas.signals import OptOutPublic
from broker.services import opt_out
from broker.services.client_scope import own_scope

router = APIRouter(route_class=StrictJSONRoute, prefix="/v1/me/opt-out", tags=["clients"])


@router.get("", response_model=OptOutPublic)
def opt_out_status(client: CurrentClient, ctx: ContextDep, session: SessionDep) -> OptOutPublic:
    return opt_out.status(session=session, scope=own_scope(ctx, client.insz))


@router.post("", status_code=status.HTTP_201_CREATED, response_model=OptOutPublic,
             responses=problem_responses(AlreadyOptedOut, *AUDITED))
def opt_out_now(client: CurrentClient, ctx: ContextDep, session: SessionDep) -> OptOutPublic:
    """Leave me out of every figure of every network, from the next release on."""
    return opt_out.opt_out(session=session, ctx=ctx, scope=own_scope(ctx, client.insz),
                           now=datetime.now(UTC))


@router.delete("", response_model=OptOutPublic,
               responses=problem_responses(OptOutNotFound, *AUDITED))
def opt_back_in(client: CurrentClient, ctx: ContextDep, session: SessionDep) -> OptOutPublic:
    """Undo the opt-out: count me again from the next release on."""
    return opt_out.undo(session=session, ctx=ctx, scope=own_scope(ctx, client.insz),
                        now=datetime.now(UTC))
