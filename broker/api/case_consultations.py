"""Case consultations over HTTP (DESIGN §10: casusoverleg, art. 458ter Sw.).

- ``POST /v1/case-consultations`` and ``POST /v1/case-consultations/{id}/close``: an auditor
  token with the ``supervisor`` scope (DESIGN §5) opens and closes one; any other scope is 403.
- ``GET /v1/case-consultations/{id}``: a partner token of one of its participants; for anybody
  else the answer is the same 404 as for an id that does not exist.
- ``GET /v1/audit/case-consultations``: auditors, within their scope, with the number of
  accesses each consultation's grants relied on.
- ``GET /v1/me/case-consultations``: the client, the consultations that concerned them once they
  ended (unless the authorisation deferred the notice).
Participants request sections with ``POST /v1/access-requests`` for purpose ``casusoverleg``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Path, status
from sqlmodel import Session

from broker.api.problem_docs import AUDITED
from broker.api.routing import StrictJSONRoute
from broker.context import BrokerContext
from broker.deps import ContextDep, CurrentAuditor, CurrentClient, CurrentPartner, SessionDep
from broker.errors import (
    CaseConsultationEnded,
    CaseConsultationNotFound,
    ClientErased,
    ConsultationEndInPast,
    ConsultationTooLong,
    ForbiddenError,
    LegalBasisReferenceRequired,
    ParticipantNotEligible,
    UnknownLegalBasis,
    UnknownPartnerId,
)
from broker.problems import problem_responses
from broker.schemas.case_consultations import (
    CaseConsultationCreate,
    CaseConsultationList,
    CaseConsultationPublic,
    CaseConsultationSummary,
    ClientConsultation,
    ClientConsultationList,
    LegalBasisPublic,
)
from broker.security.auth import AuditorPrincipal
from broker.services import case_consultations as service
from broker.services.client_scope import client_refs
from broker.store.consultations import CaseConsultation

router = APIRouter(route_class=StrictJSONRoute, prefix="/v1/case-consultations",
                   tags=["case consultations"])
audit_router = APIRouter(route_class=StrictJSONRoute, prefix="/v1/audit/case-consultations",
                         tags=["audit"])
me_router = APIRouter(route_class=StrictJSONRoute, prefix="/v1/me/case-consultations",
                      tags=["clients"])
ConsultationId = Annotated[str, Path(pattern=r"^cc-[0-9a-f]{32}$")]


def _supervisor(auditor: AuditorPrincipal) -> None:
    if auditor.scope != "supervisor":
        raise ForbiddenError("Opening or closing a case consultation needs the supervisor scope.")


def _public(ctx: BrokerContext, session: Session, c: CaseConsultation,
            now: datetime) -> CaseConsultationPublic:
    secret = service.secret_of(ctx, session, c)
    spec = service.info(ctx)
    return CaseConsultationPublic(
        id=c.id, network=c.network,
        legal_basis=LegalBasisPublic(code=c.legal_basis, reference=secret.reference,
                                     defer_client_notice=c.client_notice == "deferred"),
        goal=secret.goal, participants=list(c.participants), opened_at=c.opened_at,
        until=c.until, closed_at=c.closed_at,
        status="open" if service.is_open(c, now) else "ended",
        purpose=spec.purpose, obligations=[spec.obligation])


@router.post("", status_code=status.HTTP_201_CREATED, response_model=CaseConsultationPublic,
             responses=problem_responses(
                 ForbiddenError, UnknownLegalBasis, LegalBasisReferenceRequired,
                 ConsultationEndInPast, ConsultationTooLong, UnknownPartnerId,
                 ParticipantNotEligible, ClientErased, *AUDITED))
def open_consultation(body: CaseConsultationCreate, auditor: CurrentAuditor, ctx: ContextDep,
                      session: SessionDep) -> CaseConsultationPublic:
    """Open a case consultation about a client: its participants may then request the client's
    sections for purpose ``casusoverleg`` without consent until ``until`` (at most 6 months
    ahead) or until it is closed."""
    _supervisor(auditor)
    now = datetime.now(UTC)
    opened = service.open_consultation(session=session, ctx=ctx, body=body,
                                       opened_by=auditor.subject, now=now)
    return _public(ctx, session, opened, now)


@router.get("/{consultation_id}", response_model=CaseConsultationPublic,
            responses=problem_responses(CaseConsultationNotFound))
def get_consultation(consultation_id: ConsultationId, principal: CurrentPartner,
                     ctx: ContextDep, session: SessionDep) -> CaseConsultationPublic:
    """The consultation as its participants see it (never the client)."""
    found = service.for_participant(session=session, partner=principal.partner.id,
                                    network=principal.partner.network,
                                    consultation_id=consultation_id)
    return _public(ctx, session, found, datetime.now(UTC))


@router.post("/{consultation_id}/close", response_model=CaseConsultationPublic,
             responses=problem_responses(ForbiddenError, CaseConsultationNotFound,
                                         CaseConsultationEnded, *AUDITED))
def close_consultation(consultation_id: ConsultationId, auditor: CurrentAuditor,
                       ctx: ContextDep, session: SessionDep) -> CaseConsultationPublic:
    """End all access under the consultation at once."""
    _supervisor(auditor)
    now = datetime.now(UTC)
    closed = service.close(session=session, ctx=ctx, consultation_id=consultation_id,
                           closed_by=auditor.subject, now=now)
    return _public(ctx, session, closed, now)


@audit_router.get("", response_model=CaseConsultationList)
def list_for_auditor(auditor: CurrentAuditor, ctx: ContextDep,
                     session: SessionDep) -> CaseConsultationList:
    """The newest consultations in the auditor's scope (``supervisor``: all, ``network:<id>``:
    the network's, ``partner:<id>``: those the partner takes part in), with their number of
    accesses. No client, no goal."""
    now = datetime.now(UTC)
    found = service.for_auditor(session=session, scope=auditor.scope)
    counts = service.access_counts(ctx, found)
    return CaseConsultationList(consultations=[CaseConsultationSummary(
        id=c.id, network=c.network, legal_basis=c.legal_basis,
        participants=list(c.participants), opened_at=c.opened_at, until=c.until,
        closed_at=c.closed_at, status="open" if service.is_open(c, now) else "ended",
        client_notice="deferred" if c.client_notice == "deferred" else "at_end",
        accesses=counts.get(c.id, 0)) for c in found])


@me_router.get("", response_model=ClientConsultationList)
def list_for_client(principal: CurrentClient, ctx: ContextDep,
                    session: SessionDep) -> ClientConsultationList:
    """The case consultations that concerned you, once they ended (DESIGN §10)."""
    now = datetime.now(UTC)
    refs = set(client_refs(ctx, principal.insz).items())
    told = service.told_to_client(session=session, refs=refs, now=now)
    return ClientConsultationList(consultations=[ClientConsultation(
        id=c.id, legal_basis=c.legal_basis, goal=service.secret_of(ctx, session, c).goal,
        participants=list(c.participants), opened_at=c.opened_at, ended_at=c.ends_at())
        for c in told])
