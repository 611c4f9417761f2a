"""The client's own view (DESIGN §5): ``GET /v1/me/dossier`` and ``GET /v1/me/access-log``."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter

from broker.api.problem_docs import ACTING
from broker.api.routing import StrictJSONRoute
from broker.deps import ActingScope, ContextDep, CurrentClient, SessionDep
from broker.errors import ClientErased, PolicyUnavailable
from broker.problems import problem_responses
from broker.schemas.dossier import DossierPublic
from broker.schemas.me import AccessLogPublic
from broker.schemas.notices import DeskRecords
from broker.services import client_view

router = APIRouter(route_class=StrictJSONRoute, prefix="/v1/me", tags=["clients"])


@router.get("/dossier", response_model=DossierPublic,
            responses=problem_responses(ClientErased, PolicyUnavailable))
def my_dossier(principal: CurrentClient, ctx: ContextDep, session: SessionDep) -> DossierPublic:
    """Everything recorded about the client in any network, except working notes (DESIGN §4)."""
    entries = client_view.own_dossier(ctx=ctx, session=session, insz=principal.insz)
    return DossierPublic(entries=entries)


@router.get("/access-log", response_model=AccessLogPublic,
            responses=problem_responses(ClientErased))
def my_access_log(
    principal: CurrentClient, ctx: ContextDep, session: SessionDep
) -> AccessLogPublic:
    """Every access to the client's data: who, when, for which purpose, per-section verdicts,
    break-glass flagged, the detail (released entries, justification) decrypted with the
    client's own data key; each with its leaf and inclusion proof to the (witnessed) checkpoint
    given beside them (DESIGN §9). 410 after erasure."""
    receipts = client_view.Receipts.of(ctx)  # one checkpoint for every proof in the answer
    items = client_view.access_log(ctx=ctx, session=session, insz=principal.insz,
                                   receipts=receipts)
    return AccessLogPublic(entries=items, checkpoint=receipts.note,
                           log_key=ctx.audit.log.verifier_key)


@router.get("/notices", response_model=DeskRecords, responses=problem_responses(*ACTING))
def my_notices(scope: ActingScope, session: SessionDep) -> DeskRecords:
    """What partners recorded for the client at their desk (DESIGN §9), newest first, with the
    proof: a consent that rests on the worker's word only (``attested``) can be revoked at
    once with ``POST /v1/me/consents/{id}/revoke``."""
    return DeskRecords(records=client_view.desk_records(session=session, scope=scope,
                                                        now=datetime.now(UTC)))
