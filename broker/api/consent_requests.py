"""Consent requests (DESIGN §9): a partner asks (``/v1/consent-requests``), the client decides
(``/v1/me/consent-requests``, or a trusted person with ``X-On-Behalf-Of``)."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, status

from broker.api.problem_docs import ACTING, AUDITED, HELPING, TERMS
from broker.api.routing import StrictJSONRoute
from broker.deps import ActingScope, ContextDep, CurrentPartner, SessionDep
from broker.errors import ClientErased, ConsentRequestNotFound
from broker.problems import problem_responses
from broker.schemas.consent_requests import (
    ApprovalIn,
    Approved,
    ConsentRequestCreate,
    ConsentRequestPublic,
    MyConsentRequest,
    MyConsentRequests,
)
from broker.services import consent_requests, consents
from consent.errors import ApprovalWidensRequest, EmptyPurposes, EmptySections, RequestNotPending

router = APIRouter(route_class=StrictJSONRoute, tags=["partners"])
me_router = APIRouter(route_class=StrictJSONRoute, prefix="/v1/me", tags=["clients"])


@router.post("/v1/consent-requests", status_code=status.HTTP_201_CREATED,
             response_model=ConsentRequestPublic,
             responses=problem_responses(*HELPING, *TERMS, ClientErased, *AUDITED))
def ask(body: ConsentRequestCreate, principal: CurrentPartner, ctx: ContextDep,
        session: SessionDep) -> ConsentRequestPublic:
    """Ask the client for consent; they decide in their portal within 14 days. Needs a valid
    help relation. The response names no client."""
    now = datetime.now(UTC)
    request = consent_requests.ask(session=session, ctx=ctx, partner=principal.partner,
                                   worker=principal.worker, body=body, now=now)
    return ConsentRequestPublic.of(request, now)


@router.get("/v1/consent-requests/{request_id}", response_model=ConsentRequestPublic,
            responses=problem_responses(ConsentRequestNotFound))
def status_of(request_id: str, principal: CurrentPartner,
              session: SessionDep) -> ConsentRequestPublic:
    """The status of one of this partner's requests (another partner's answers 404)."""
    request = consent_requests.of_partner(session=session, partner=principal.partner,
                                          request_id=request_id)
    return ConsentRequestPublic.of(request, datetime.now(UTC))


@router.post("/v1/consent-requests/{request_id}/withdraw", response_model=ConsentRequestPublic,
             responses=problem_responses(ConsentRequestNotFound, RequestNotPending, *AUDITED))
def withdraw(request_id: str, principal: CurrentPartner, ctx: ContextDep,
             session: SessionDep) -> ConsentRequestPublic:
    """Withdraw a pending request."""
    now = datetime.now(UTC)
    request = consent_requests.withdraw(session=session, ctx=ctx, partner=principal.partner,
                                        worker=principal.worker, request_id=request_id, now=now)
    return ConsentRequestPublic.of(request, now)


@me_router.get("/consent-requests", response_model=MyConsentRequests,
               responses=problem_responses(*ACTING))
def mine(scope: ActingScope, ctx: ContextDep, session: SessionDep) -> MyConsentRequests:
    """Every consent request about the client, newest first, with the partner's message."""
    now = datetime.now(UTC)
    found = consent_requests.of_client(session=session, ctx=ctx, scope=scope)
    return MyConsentRequests(requests=[
        MyConsentRequest(**ConsentRequestPublic.of(r.request, now).model_dump(),
                         message=r.message) for r in found])


@me_router.post("/consent-requests/{request_id}/approve", status_code=status.HTTP_201_CREATED,
                response_model=Approved,
                responses=problem_responses(*ACTING, ConsentRequestNotFound, RequestNotPending,
                                            ApprovalWidensRequest, EmptyPurposes, EmptySections,
                                            *TERMS, *AUDITED))
def approve(request_id: str, scope: ActingScope, ctx: ContextDep, session: SessionDep,
            body: ApprovalIn | None = None) -> Approved:
    """Approve, as asked or narrower: the consent (proof ``client``) and its signed receipt."""
    now = datetime.now(UTC)
    decided, stored = consent_requests.approve(
        session=session, ctx=ctx, scope=scope, request_id=request_id,
        change=None if body is None else body.change(), now=now)
    own = consents.own_consent(session=session, scope=scope, consent_id=stored.record.id)
    receipt, jws = consents.signed_receipt(ctx, own.head)
    return Approved(consent=own.public(own.head, now), receipt=receipt, jws=jws,
                    request=ConsentRequestPublic.of(decided, now))


@me_router.post("/consent-requests/{request_id}/refuse", response_model=ConsentRequestPublic,
                responses=problem_responses(*ACTING, ConsentRequestNotFound, RequestNotPending,
                                            *AUDITED))
def refuse(request_id: str, scope: ActingScope, ctx: ContextDep,
           session: SessionDep) -> ConsentRequestPublic:
    now = datetime.now(UTC)
    decided = consent_requests.refuse(session=session, ctx=ctx, scope=scope,
                                      request_id=request_id, now=now)
    return ConsentRequestPublic.of(decided, now)
