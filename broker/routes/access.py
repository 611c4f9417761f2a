"""``POST /v1/access-requests`` (DESIGN §5): a partner asks for sections of a client's dossier."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field, StrictStr

from broker import access
from broker.deps import ContextDep, CurrentPartner, SessionDep
from broker.observability import request_id_var
from broker.schemas import RequestBody
from consent.insz import Insz

router = APIRouter(prefix="/v1", tags=["partners"])

Name = StrictStr


class AccessRequestIn(RequestBody):
    insz: Insz
    purpose: Name = Field(min_length=1, max_length=64)
    sections: list[Name] | None = Field(
        default=None, min_length=1, max_length=32,
        description="Sections wanted; default: every section the purpose needs.")
    justification: StrictStr | None = Field(
        default=None, min_length=1, max_length=2000,
        description="Break-glass (purpose noodsituatie): why, at least 30 characters.")


class ReleasedEntry(BaseModel):
    id: str
    author: str
    created_at: datetime
    content: dict[str, Any]


class SectionResult(BaseModel):
    verdict: str
    reasons: list[str]
    entries: list[ReleasedEntry] | None = None


class AuditReceipt(BaseModel):
    index: int
    leaf_hash: str


class AccessResponse(BaseModel):
    request_id: str
    policy_version: str
    sections: dict[str, SectionResult]
    audit: AuditReceipt


@router.post("/access-requests", response_model=AccessResponse, response_model_exclude_none=True)
def request_access(body: AccessRequestIn, principal: CurrentPartner, ctx: ContextDep,
                   session: SessionDep, request: Request) -> AccessResponse:
    """Decide by policy, append the decision to the audit log and wait until it is durable,
    then return exactly the released entries. Denied sections carry reason codes only."""
    result = access.request_access(
        ctx=ctx, session=session, principal=principal, insz=body.insz, purpose=body.purpose,
        sections=body.sections, justification=body.justification,
        request_id=request_id_var.get() or request.scope["state"]["request_id"],
        now=datetime.now(UTC),
    )
    sections = {}
    for name, verdict in result.decision.sections.items():
        released = result.entries.get(name)
        sections[name] = SectionResult(
            verdict=verdict.verdict, reasons=list(verdict.reasons),
            entries=[ReleasedEntry(id=e.id, author=e.author, created_at=e.created_at,
                                   content=e.content) for e in released] if released else
            ([] if verdict.verdict == "granted" else None),
        )
    return AccessResponse(
        request_id=result.request_id, policy_version=result.policy_version, sections=sections,
        audit=AuditReceipt(index=result.appended.index,
                           leaf_hash=base64.b64encode(result.appended.leaf_hash).decode()),
    )


class InvolvementIn(RequestBody):
    insz: Insz
    purpose: Name = Field(min_length=1, max_length=64)


class InvolvedPartner(BaseModel):
    id: str
    name: str
    type: str


class InvolvementResponse(BaseModel):
    request_id: str
    partners: list[InvolvedPartner]
    audit: AuditReceipt


@router.post("/involvement", response_model=InvolvementResponse)
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
        audit=AuditReceipt(index=appended.index,
                           leaf_hash=base64.b64encode(appended.leaf_hash).decode()),
    )
