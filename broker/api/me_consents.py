"""The client's relations and consents (DESIGN §5): read, give, narrow, revoke; receipts
and FHIR export. A client reaches only their own: another client's consent id answers 404,
exactly like an unknown one. The INSZ comes from the token, never from the path. A trusted
person manages a client's consents with ``X-On-Behalf-Of: <mandate id>`` (DESIGN §9).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from broker.api.problem_docs import ACTING, AUDITED, TERMS
from broker.api.routing import StrictJSONRoute
from broker.deps import ActingScope, ContextDep, CurrentClient, SessionDep
from broker.errors import ConsentNotFound, NetworkRequired
from broker.problems import problem_responses
from broker.schemas.consents import (
    ConsentChanged,
    ConsentHistory,
    ConsentNarrow,
    ConsentsPublic,
    MeConsentCreate,
    SignedReceipt,
)
from broker.schemas.relations import HelpRelationPublic, RelationsPublic
from broker.services import consents, relations
from consent.errors import ConsentNotActive, NotANarrowing
from consent.fhir import to_fhir
from consent.rules import relation_is_valid
from consent.store import StoredConsent

router = APIRouter(route_class=StrictJSONRoute, prefix="/v1/me", tags=["clients"])
FHIR_JSON = "application/fhir+json"
VersionQuery = Annotated[int | None, Query(ge=1, le=1_000_000)]
OWN = problem_responses(*ACTING, ConsentNotFound)  # unknown or another client's: 404


def _history(own: consents.OwnConsent, now: datetime) -> ConsentHistory:
    return ConsentHistory(
        id=own.head.record.id,
        status=own.status(own.head, now),
        current=own.public(own.head, now),
        versions=[own.public(v, now) for v in own.versions],
    )


def _changed(ctx: ContextDep, own: consents.OwnConsent, now: datetime) -> ConsentChanged:
    receipt, jws = consents.signed_receipt(ctx, own.head)
    return ConsentChanged(consent=own.public(own.head, now), receipt=receipt, jws=jws)


def _version(own: consents.OwnConsent, version: int | None) -> StoredConsent:
    if version is None:
        return own.head
    for stored in own.versions:
        if stored.record.version == version:
            return stored
    raise ConsentNotFound()


@router.get("/relations", response_model=RelationsPublic)
def my_relations(principal: CurrentClient, ctx: ContextDep, session: SessionDep) -> RelationsPublic:
    """Every partner that declared it helps the client, with the period and whether it is valid."""
    now = datetime.now(UTC)
    found = relations.relations_of(session=session, ctx=ctx, insz=principal.insz)
    return RelationsPublic(
        relations=[
            HelpRelationPublic.of(rel, valid=relation_is_valid(rel, now))
            for _, rel in found
        ]
    )


@router.get("/consents", response_model=ConsentsPublic, responses=problem_responses(*ACTING))
def my_consents(scope: ActingScope, ctx: ContextDep, session: SessionDep) -> ConsentsPublic:
    """Every consent with its current status and every version (the history stays readable)."""
    now = datetime.now(UTC)
    found = consents.own_consents(session=session, scope=scope)
    return ConsentsPublic(consents=[_history(own, now) for own in found])


@router.post("/consents", status_code=status.HTTP_201_CREATED, response_model=ConsentChanged,
             responses=problem_responses(*ACTING, *TERMS, NetworkRequired, *AUDITED))
def give_consent(
    body: MeConsentCreate, scope: ActingScope, ctx: ContextDep, session: SessionDep
) -> ConsentChanged:
    """Give consent in the portal; the response carries the signed receipt."""
    now = datetime.now(UTC)
    own = consents.give(session=session, ctx=ctx, scope=scope, consent_in=body, now=now)
    return _changed(ctx, own, now)


@router.get("/consents/{consent_id}", response_model=ConsentHistory, responses=OWN)
def my_consent(
    consent_id: str, scope: ActingScope, ctx: ContextDep, session: SessionDep
) -> ConsentHistory:
    own = consents.own_consent(session=session, scope=scope, consent_id=consent_id)
    return _history(own, datetime.now(UTC))


@router.post("/consents/{consent_id}/narrow", response_model=ConsentChanged,
             responses=problem_responses(*ACTING, ConsentNotFound, ConsentNotActive,
                                         NotANarrowing, *TERMS, *AUDITED))
def narrow_consent(
    consent_id: str,
    body: ConsentNarrow,
    scope: ActingScope,
    ctx: ContextDep,
    session: SessionDep,
) -> ConsentChanged:
    """A new version with fewer recipients, purposes or sections, or an earlier end; partners
    that received data under it are notified."""
    now = datetime.now(UTC)
    own = consents.narrow_own(
        session=session, ctx=ctx, scope=scope, consent_id=consent_id,
        change=body.change(), now=now,
    )
    return _changed(ctx, own, now)


@router.post("/consents/{consent_id}/revoke", response_model=ConsentChanged,
             responses=problem_responses(*ACTING, ConsentNotFound, ConsentNotActive, *AUDITED))
def revoke_consent(
    consent_id: str, scope: ActingScope, ctx: ContextDep, session: SessionDep
) -> ConsentChanged:
    """Revoke from now on (a last version); partners that received data under it are notified."""
    now = datetime.now(UTC)
    own = consents.revoke_own(
        session=session, ctx=ctx, scope=scope, consent_id=consent_id, now=now
    )
    return _changed(ctx, own, now)


@router.get("/consents/{consent_id}/receipt", response_model=SignedReceipt, responses=OWN)
def consent_receipt(
    consent_id: str,
    scope: ActingScope,
    ctx: ContextDep,
    session: SessionDep,
    version: VersionQuery = None,
) -> SignedReceipt:
    """The signed receipt of the current version (or of ``version``), verifiable with
    ``/.well-known/jwks.json``."""
    own = consents.own_consent(session=session, scope=scope, consent_id=consent_id)
    receipt, jws = consents.signed_receipt(ctx, _version(own, version))
    return SignedReceipt(receipt=receipt, jws=jws)


@router.get(
    "/consents/{consent_id}/fhir",
    response_class=Response,
    responses={200: {"content": {FHIR_JSON: {"schema": {"type": "object"}}},
                     "description": "An HL7 FHIR R5 Consent"}, **OWN},
)
def consent_fhir(
    consent_id: str,
    scope: ActingScope,
    ctx: ContextDep,
    session: SessionDep,
    version: VersionQuery = None,
) -> Response:
    """The current version (or ``version``) as an HL7 FHIR R5 ``Consent`` resource; the subject
    is the client's pseudonym, the signed receipt its ``sourceAttachment``, the verification that
    of the consent's first version."""
    own = consents.own_consent(session=session, scope=scope, consent_id=consent_id)
    stored = _version(own, version)
    status_now = own.status(stored, datetime.now(UTC))
    _, jws = consents.signed_receipt(ctx, stored)
    resource = to_fhir(stored.record, status_now, publisher=ctx.settings.publisher,
                       catalogue=ctx.catalogue, granted=own.versions[0].record, receipt_jws=jws)
    return Response(resource.model_dump_json(), media_type=FHIR_JSON)
