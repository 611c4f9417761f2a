"""Bodies of ``POST /v1/access-requests`` and ``POST /v1/involvement`` (DESIGN §4, §5)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, Field, StrictStr

from broker.schemas.common import AuditReceipt, RequestBody
from consent.insz import Insz

# DESIGN §9: bounded lengths everywhere; a name outside the catalogue is logged as "unknown".
SectionName = Annotated[StrictStr, Field(min_length=1, max_length=64)]


class AccessRequestIn(RequestBody):
    insz: Insz
    purpose: StrictStr = Field(min_length=1, max_length=64)
    sections: list[SectionName] | None = Field(
        default=None, min_length=1, max_length=32,
        description="Sections wanted; default: every section the purpose needs.")
    justification: StrictStr | None = Field(
        default=None, min_length=1, max_length=2000,
        description="Break-glass (purpose noodsituatie): why, at least 30 characters.")


class ReleasedEntry(BaseModel):
    """A released entry; a redacted one (``gbo-broker entry redact``) shows that it existed,
    with ``redacted`` true and no content."""

    id: str
    author: str
    created_at: datetime
    content: dict[str, Any] | None
    redacted: bool = False


class SectionResult(BaseModel):
    """A section's verdict with its reason codes; a granted section lists the entries released
    (possibly none), a denied one none at all."""

    verdict: str
    reasons: list[str]
    entries: list[ReleasedEntry] | None = None


class AccessResponse(BaseModel):
    """``obligations``: what the worker must do with what was released (DESIGN §10:
    ``no_onward_disclosure`` under a case consultation); ``consultations``: the case
    consultations a grant for purpose ``casusoverleg`` relied on (absent otherwise)."""

    request_id: str
    policy_version: str
    sections: dict[str, SectionResult]
    obligations: list[str] = Field(default_factory=list)
    consultations: list[str] | None = None
    audit: AuditReceipt


class InvolvementIn(RequestBody):
    insz: Insz
    purpose: StrictStr = Field(min_length=1, max_length=64)


class InvolvedPartner(BaseModel):
    id: str
    name: str
    type: str


class InvolvementResponse(BaseModel):
    request_id: str
    partners: list[InvolvedPartner]
    audit: AuditReceipt
