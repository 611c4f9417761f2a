"""The supervisor's review queue of attested records (DESIGN §9):
``GET /v1/audit/review-queue`` and ``POST /v1/audit/review-queue/{kind}/{id}``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from fastapi import APIRouter

from broker.api.problem_docs import AUDITED
from broker.api.routing import StrictJSONRoute
from broker.deps import ContextDep, CurrentAuditor, SessionDep
from broker.errors import ForbiddenError, ReviewRecordNotFound
from broker.problems import problem_responses
from broker.schemas.review import AttestedPublic, PartnerMonth, ReviewIn, ReviewQueue
from broker.security.auth import AuditorPrincipal
from broker.services import review

router = APIRouter(route_class=StrictJSONRoute, prefix="/v1/audit/review-queue", tags=["audit"])


def _supervisor(auditor: AuditorPrincipal) -> None:
    if auditor.scope != "supervisor":
        raise ForbiddenError("The review queue needs the supervisor scope.")


@router.get("", response_model=ReviewQueue, responses=problem_responses(ForbiddenError))
def queue(auditor: CurrentAuditor, session: SessionDep,
          reviewed: bool | None = None) -> ReviewQueue:
    """Consents and relations recorded on a worker's word only, newest first, and how many
    each partner recorded per month."""
    _supervisor(auditor)
    records = [AttestedPublic(**vars(a)) for a in review.queue(session=session,
                                                                reviewed=reviewed)]
    counts = review.counts_per_partner_month(session=session)
    return ReviewQueue(records=records, per_partner_month=[
        PartnerMonth(partner=p, month=m, consents=c["consent"], relations=c["relation"])
        for (p, m), c in sorted(counts.items())])


@router.post("/{kind}/{record_id}", response_model=AttestedPublic,
             responses=problem_responses(ForbiddenError, ReviewRecordNotFound, *AUDITED))
def mark(kind: Literal["consent", "relation"], record_id: str, body: ReviewIn,
         auditor: CurrentAuditor, ctx: ContextDep, session: SessionDep) -> AttestedPublic:
    """Mark an attested record reviewed, with a note (never dossier content)."""
    _supervisor(auditor)
    marked = review.mark_reviewed(session=session, ctx=ctx, kind=kind, record_id=record_id,
                                  reviewer=auditor.subject, note=body.note,
                                  now=datetime.now(UTC))
    return AttestedPublic(**vars(marked))
