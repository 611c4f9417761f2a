"""``POST /v1/access-requests`` and ``POST /v1/involvement`` (DESIGN §5): a partner asks for
sections of a client's dossier, or which other partners help the client."""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic_core import to_json

from broker.api.problem_docs import AUDITED
from broker.api.routing import StrictJSONRoute
from broker.context import BrokerContext
from broker.deps import ContextDep, CurrentPartner, SessionDep
from broker.observability import request_id_var
from broker.problems import problem_responses
from broker.schemas.access import (
    AccessRequestIn,
    AccessResponse,
    InvolvedPartner,
    InvolvementIn,
    InvolvementResponse,
    ReleasedEntry,
    SectionResult,
)
from broker.schemas.common import AuditReceipt
from broker.schemas.dossier import EntryPublic
from broker.services import access
from broker.store.audit_vocabulary import UNKNOWN
from broker.store.db import session_scope
from consent.errors import UnknownPurpose

router = APIRouter(route_class=StrictJSONRoute, prefix="/v1", tags=["partners"])


@router.post("/access-requests", response_model=AccessResponse, response_model_exclude_none=True,
             responses=problem_responses(UnknownPurpose, *AUDITED))
def request_access(body: AccessRequestIn, principal: CurrentPartner, ctx: ContextDep,
                   request: Request) -> Response:
    """Decide by policy, append the decision to the audit log and wait until it is durable,
    then return exactly the released entries. Denied sections carry reason codes only."""
    # The session is opened and closed on this route's own thread: as a dependency
    # (``SessionDep``) its opening and its closing would each be one more hop between the event
    # loop and a worker thread, and the closing would wait its turn after the response.
    with session_scope(ctx.engine) as session:
        result = access.request_access(
            ctx=ctx, session=session, principal=principal, insz=body.insz,
            purpose=body.purpose, sections=body.sections, justification=body.justification,
            request_id=request_id_var.get() or request.scope["state"]["request_id"],
            now=datetime.now(UTC), correlation_id=request.scope["state"].get("correlation_id"),
        )
    return Response(access_response_body(result, ctx.catalogue.sections),
                    media_type="application/json")


def access_response_body(result: access.AccessResult, catalogue: Collection[str]) -> bytes:
    """The JSON of :func:`access_response` without ``None`` fields (``response_model`` above,
    which the OpenAPI document shows), written directly by pydantic's serializer: the same bytes
    as building, validating and serialising the model (tests/broker/test_access_flow.py
    compares them), at a fraction of the cost on every access request."""
    sections: dict[str, dict[str, Any]] = {}
    for name, verdict in result.decision.sections.items():
        if name not in catalogue:
            # DESIGN §9: a name outside the catalogue is answered, as logged, as "unknown".
            merged = sections.setdefault(UNKNOWN, {"verdict": "denied", "reasons": []})
            merged["reasons"] += [r for r in verdict.reasons if r not in merged["reasons"]]
            continue
        section: dict[str, Any] = {"verdict": verdict.verdict, "reasons": list(verdict.reasons)}
        released = result.entries.get(name)
        if released:
            section["entries"] = [_released_entry(e) for e in released]
        elif verdict.verdict == "granted":
            section["entries"] = []
        sections[name] = section
    receipt = AuditReceipt.of(result.appended)
    body: dict[str, Any] = {"request_id": result.request_id,
                            "policy_version": result.policy_version, "sections": sections,
                            "obligations": list(result.decision.obligations)}
    if result.decision.consultations:  # DESIGN §10: absent unless a consultation was relied on
        body["consultations"] = list(result.decision.consultations)
    body["audit"] = {"index": receipt.index, "leaf_hash": receipt.leaf_hash}
    return to_json(body)


def _released_entry(entry: EntryPublic) -> dict[str, Any]:
    shown: dict[str, Any] = {"id": entry.id, "author": entry.author,
                             "created_at": entry.created_at}
    if entry.content is not None:  # a redacted entry has none (exclude_none)
        shown["content"] = entry.content
    shown["redacted"] = entry.redacted
    return shown


def access_response(ctx: BrokerContext, result: access.AccessResult) -> AccessResponse:
    """The body of an access decision: verdicts, reasons and exactly the released entries (also
    a referral's handover, DESIGN §10)."""
    sections: dict[str, SectionResult] = {}
    for name, verdict in result.decision.sections.items():
        released = result.entries.get(name)
        if name not in ctx.catalogue.sections:
            # DESIGN §9: a name outside the catalogue is answered, as logged, as "unknown".
            merged = sections.setdefault(UNKNOWN, SectionResult(verdict="denied", reasons=[]))
            merged.reasons += [r for r in verdict.reasons if r not in merged.reasons]
            continue
        sections[name] = SectionResult(
            verdict=verdict.verdict, reasons=list(verdict.reasons),
            entries=[ReleasedEntry(id=e.id, author=e.author, created_at=e.created_at,
                                   content=e.content, redacted=e.redacted)
                     for e in released] if released else
            ([] if verdict.verdict == "granted" else None),
        )
    return AccessResponse(
        request_id=result.request_id, policy_version=result.policy_version, sections=sections,
        obligations=list(result.decision.obligations),
        consultations=list(result.decision.consultations) or None,
        audit=AuditReceipt.of(result.appended),
    )


@router.post("/involvement", response_model=InvolvementResponse,
             responses=problem_responses(UnknownPurpose, *AUDITED))
def involvement(body: InvolvementIn, principal: CurrentPartner, ctx: ContextDep,
                session: SessionDep, request: Request) -> InvolvementResponse:
    """Which other partners help this client, only as far as the client's consents allow
    (a policy rule); an undisclosed involvement looks exactly like none."""
    request_id = request_id_var.get() or request.scope["state"]["request_id"]
    disclosed, appended = access.involvement(
        ctx=ctx, session=session, principal=principal, insz=body.insz, purpose=body.purpose,
        request_id=request_id, now=datetime.now(UTC),
    )
    partners = [ctx.registry.partners[p] for p in disclosed]
    return InvolvementResponse(
        request_id=request_id,
        partners=[InvolvedPartner(id=p.id, name=p.name, type=p.type) for p in partners],
        audit=AuditReceipt.of(appended),
    )
