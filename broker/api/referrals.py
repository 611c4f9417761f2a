"""Casework, partner side (DESIGN §10): warm referrals (``/v1/referrals``) and the client's
coordinator (``/v1/coordination``). No INSZ in any path or query: it travels in bodies only."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response, status

from broker.api.access import access_response
from broker.api.problem_docs import AUDITED, HELPING, TERMS
from broker.api.routing import StrictJSONRoute
from broker.deps import ContextDep, CurrentPartner, SessionDep
from broker.errors import (
    ClientErased,
    CoordinationRefused,
    ReferralNotFound,
    ReferralNotOpen,
    ReferralTargetUnavailable,
    ReferralToItself,
    SectionNotForReferral,
    UnknownPartnerId,
    UnknownReferralReason,
)
from broker.observability import request_id_var
from broker.problems import problem_responses
from broker.schemas.referrals import (
    CoordinationIn,
    CoordinationPublic,
    DeclineIn,
    ReferralAccepted,
    ReferralCreate,
    ReferralList,
    ReferralPublic,
    ReferralStatus,
)
from broker.schemas.relations import HelpRelationPublic
from broker.services import coordination, referrals
from broker.services import referral_fhir as referral_fhir_map
from consent.rules import relation_is_valid

router = APIRouter(route_class=StrictJSONRoute, prefix="/v1", tags=["partners"])
FHIR_JSON = "application/fhir+json"


@router.post("/referrals", status_code=status.HTTP_201_CREATED, response_model=ReferralPublic,
             responses=problem_responses(UnknownPartnerId, ReferralToItself,
                                         ReferralTargetUnavailable, UnknownReferralReason,
                                         SectionNotForReferral, *HELPING, *TERMS, ClientErased,
                                         *AUDITED))
def propose(body: ReferralCreate, principal: CurrentPartner, ctx: ContextDep,
            session: SessionDep) -> ReferralPublic:
    """Refer the client to partner ``to``. Status ``proposed`` when a consent already covers what
    the referral hands over; otherwise the client is asked (a consent request) and the referral
    is ``awaiting_consent`` until they decide. Needs a valid help relation. The response names no
    client."""
    row = referrals.propose(session=session, ctx=ctx, principal=principal, body=body,
                            now=datetime.now(UTC))
    return ReferralPublic.of(row)


@router.get("/referrals", response_model=ReferralList)
def listed(principal: CurrentPartner, ctx: ContextDep, session: SessionDep,
           role: Literal["from", "to"] = "from",
           status_: Annotated[ReferralStatus | None, Query(alias="status")] = None,
           ) -> ReferralList:
    """The partner's outgoing (``role=from``) or incoming (``role=to``) referrals, newest first
    (at most 500), optionally of one ``status``. An incoming referral shows only once the client
    agreed to it."""
    rows = referrals.listed(session=session, ctx=ctx, partner=principal.partner, role=role,
                            status=status_, now=datetime.now(UTC))
    return ReferralList(referrals=[ReferralPublic.of(r) for r in rows])


@router.get("/referrals/{referral_id}", response_model=ReferralPublic,
            responses=problem_responses(ReferralNotFound))
def one(referral_id: str, principal: CurrentPartner, ctx: ContextDep,
        session: SessionDep) -> ReferralPublic:
    """One referral, with the sender's message, for its sender and its receiver."""
    row = referrals.one(session=session, ctx=ctx, partner=principal.partner,
                        referral_id=referral_id, now=datetime.now(UTC))
    return ReferralPublic.of(row, message=referrals.message_of(session=session, ctx=ctx, row=row))


@router.get("/referrals/{referral_id}/fhir", response_class=Response,
            responses={200: {"content": {FHIR_JSON: {"schema": {"type": "object"}}},
                             "description": "An HL7 FHIR R5 Task"},
                       **problem_responses(ReferralNotFound)})
def referral_fhir(referral_id: str, principal: CurrentPartner, ctx: ContextDep,
                  session: SessionDep) -> Response:
    """The referral as an HL7 FHIR R5 ``Task`` (requested, accepted, completed ...): the client
    by pseudonym, the partners, the reason and sections as codes; no message."""
    row = referrals.one(session=session, ctx=ctx, partner=principal.partner,
                        referral_id=referral_id, now=datetime.now(UTC))
    task = referral_fhir_map.to_task(row, publisher=ctx.settings.publisher)
    return Response(task.model_dump_json(), media_type=FHIR_JSON)


@router.post("/referrals/{referral_id}/accept", response_model=ReferralAccepted,
             responses=problem_responses(ReferralNotFound, ReferralNotOpen, ClientErased,
                                         *AUDITED))
def accept(referral_id: str, principal: CurrentPartner, ctx: ContextDep, session: SessionDep,
           request: Request) -> ReferralAccepted:
    """The receiver takes the client in: it gets a help relation (proof ``referral``), the
    client's INSZ and the handover, exactly what the policy grants it for purpose
    ``doorverwijzing`` on the referral's sections (audited before release)."""
    now = datetime.now(UTC)
    done = referrals.accept(session=session, ctx=ctx, principal=principal,
                            referral_id=referral_id, now=now,
                            request_id=request_id_var.get() or request.scope["state"]["request_id"])
    return ReferralAccepted(
        referral=ReferralPublic.of(done.row), insz=done.insz,
        relation=HelpRelationPublic.of(done.relation, valid=relation_is_valid(done.relation, now)),
        handover=access_response(ctx, done.handover))


@router.post("/referrals/{referral_id}/decline", response_model=ReferralPublic,
             responses=problem_responses(ReferralNotFound, ReferralNotOpen,
                                         UnknownReferralReason, *AUDITED))
def decline(referral_id: str, body: DeclineIn, principal: CurrentPartner, ctx: ContextDep,
            session: SessionDep) -> ReferralPublic:
    """The receiver declines, with a reason code of the catalogue's ``referral_decline`` list."""
    row = referrals.decline(session=session, ctx=ctx, principal=principal,
                            referral_id=referral_id, reason=body.reason, now=datetime.now(UTC))
    return ReferralPublic.of(row)


@router.post("/referrals/{referral_id}/complete", response_model=ReferralPublic,
             responses=problem_responses(ReferralNotFound, ReferralNotOpen, *AUDITED))
def complete(referral_id: str, principal: CurrentPartner, ctx: ContextDep,
             session: SessionDep) -> ReferralPublic:
    """The client arrived and the help asked for was given."""
    row = referrals.complete(session=session, ctx=ctx, principal=principal,
                             referral_id=referral_id, now=datetime.now(UTC))
    return ReferralPublic.of(row)


@router.post("/referrals/{referral_id}/drop", response_model=ReferralPublic,
             responses=problem_responses(ReferralNotFound, ReferralNotOpen, *AUDITED))
def drop(referral_id: str, principal: CurrentPartner, ctx: ContextDep,
         session: SessionDep) -> ReferralPublic:
    """The client did not arrive or stopped (uitval); the client's coordinator is told."""
    row = referrals.drop(session=session, ctx=ctx, principal=principal,
                         referral_id=referral_id, now=datetime.now(UTC))
    return ReferralPublic.of(row)


@router.put("/coordination", response_model=CoordinationPublic,
            responses=problem_responses(CoordinationRefused, *AUDITED))
def set_coordination(body: CoordinationIn, principal: CurrentPartner, ctx: ContextDep,
                     session: SessionDep) -> CoordinationPublic:
    """Become the client's coordinator (casusregisseur); another partner that may takes over
    later. Needs an active consent for purpose ``gezamenlijke_begeleiding`` covering this
    partner and a valid help relation (a policy rule)."""
    found = coordination.set_coordinator(session=session, ctx=ctx, principal=principal,
                                         insz=body.insz, now=datetime.now(UTC))
    return CoordinationPublic(coordinator=found.partner, since=found.since)


@router.get("/coordination", response_model=CoordinationPublic,
            responses=problem_responses(*AUDITED))
def read_coordination(body: CoordinationIn, principal: CurrentPartner, ctx: ContextDep,
                      session: SessionDep, request: Request) -> CoordinationPublic:
    """The client's coordinator (the INSZ in the body, never in the URL), as far as the policy
    discloses involvement for purpose ``gezamenlijke_begeleiding``; ``null`` otherwise."""
    found = coordination.read_coordinator(
        session=session, ctx=ctx, principal=principal, insz=body.insz, now=datetime.now(UTC),
        request_id=request_id_var.get() or request.scope["state"]["request_id"])
    return CoordinationPublic(coordinator=found.partner, since=found.since)
