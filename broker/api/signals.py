"""``/v1/signals`` (DESIGN §11): a network's structural signals. Partners file them and follow
them up; the owner or the network's coordinator sets status and owner. Free text that
identifies a person is refused (422 ``identifying_text``) with the spans marked, never echoed."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query, status

from broker.api.problem_docs import AUDITED
from broker.api.routing import StrictJSONRoute
from broker.deps import ContextDep, CurrentSignalActor, SessionDep
from broker.errors import (
    CoordinatorRequired,
    ForbiddenError,
    IdentifyingText,
    NotSignalOwner,
    SignalNotFound,
    UnknownPartnerId,
)
from broker.problems import problem_responses
from broker.schemas.signals import (
    FollowUpCreate,
    SignalCreate,
    SignalPublic,
    SignalsPublic,
    SignalStatus,
)
from broker.services import signals

router = APIRouter(route_class=StrictJSONRoute, prefix="/v1/signals", tags=["signals"])
SignalId = Annotated[str, Path(pattern=r"^sg-[0-9a-f]{32}$")]


@router.post("", status_code=status.HTTP_201_CREATED, response_model=SignalPublic,
             responses=problem_responses(CoordinatorRequired, ForbiddenError, UnknownPartnerId,
                                         IdentifyingText, *AUDITED))
def create_signal(body: SignalCreate, actor: CurrentSignalActor, ctx: ContextDep,
                  session: SessionDep) -> SignalPublic:
    """File a signal in the partner's network; the partner owns it (trekker)."""
    return signals.create(session=session, ctx=ctx, actor=actor, body=body,
                          now=datetime.now(UTC))


@router.get("", response_model=SignalsPublic, responses=problem_responses(CoordinatorRequired))
def list_signals(actor: CurrentSignalActor, session: SessionDep,
                 status: Annotated[SignalStatus | None, Query()] = None) -> SignalsPublic:
    """The network's signals with their histories, newest first."""
    return SignalsPublic(signals=signals.of_network(session=session, network=actor.network,
                                                    status=status))


@router.get("/{signal_id}", response_model=SignalPublic,
            responses=problem_responses(CoordinatorRequired, SignalNotFound))
def get_signal(signal_id: SignalId, actor: CurrentSignalActor,
               session: SessionDep) -> SignalPublic:
    return signals.get(session=session, network=actor.network, signal_id=signal_id)


@router.post("/{signal_id}/follow-ups", status_code=status.HTTP_201_CREATED,
             response_model=SignalPublic,
             responses=problem_responses(CoordinatorRequired, SignalNotFound, NotSignalOwner,
                                         UnknownPartnerId, IdentifyingText, *AUDITED))
def follow_up(signal_id: SignalId, body: FollowUpCreate, actor: CurrentSignalActor,
              ctx: ContextDep, session: SessionDep) -> SignalPublic:
    """Add a step to the signal's history: a note, and a new status or owner (the owner or
    the coordinator only)."""
    return signals.follow_up(session=session, ctx=ctx, actor=actor, signal_id=signal_id,
                             body=body, now=datetime.now(UTC))
