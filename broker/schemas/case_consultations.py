"""Bodies of the case consultation endpoints (DESIGN §10): ``POST /v1/case-consultations``,
``GET /v1/case-consultations/{id}``, ``POST /v1/case-consultations/{id}/close``, the auditors'
``GET /v1/audit/case-consultations`` and the client's ``GET /v1/me/case-consultations``. A
consultation shown never names its client."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StrictBool, StrictStr

from broker.bounds import AwareMoment
from broker.schemas.common import RequestBody
from consent.insz import Insz

PartnerId = Annotated[StrictStr, Field(min_length=1, max_length=64,
                                       pattern=r"^[a-z0-9]+(?:-[a-z0-9]+)*$")]
Status = Literal["open", "ended"]


class LegalBasisIn(RequestBody):
    """The ground of the consultation (art. 458ter Sw.): ``code`` from the catalogue (``wet``: a
    law names it; ``procureur``: a motivated authorisation of the public prosecutor, whose
    ``reference`` is then required). ``defer_client_notice``: the authorisation says the client
    is not told when the consultation ends (recorded; default false)."""

    code: StrictStr = Field(min_length=1, max_length=32)
    reference: StrictStr | None = Field(default=None, min_length=1, max_length=200)
    defer_client_notice: StrictBool = False


class CaseConsultationCreate(RequestBody):
    insz: Insz
    legal_basis: LegalBasisIn
    goal: StrictStr = Field(min_length=1, max_length=1000)
    participants: list[PartnerId] = Field(min_length=2, max_length=20)
    until: AwareMoment


class LegalBasisPublic(BaseModel):
    code: str
    reference: str | None
    defer_client_notice: bool


class CaseConsultationPublic(BaseModel):
    """What participants and the supervisor see: no client, the goal and reference decrypted
    (null once the client's data was erased)."""

    id: str
    network: str
    legal_basis: LegalBasisPublic
    goal: str | None
    participants: list[str]
    opened_at: datetime
    until: datetime
    closed_at: datetime | None
    status: Status
    purpose: str
    obligations: list[str]


class CaseConsultationSummary(BaseModel):
    """An auditor's line: legal basis, participants, period and the number of accesses."""

    id: str
    network: str
    legal_basis: str
    participants: list[str]
    opened_at: datetime
    until: datetime
    closed_at: datetime | None
    status: Status
    client_notice: Literal["at_end", "deferred"]
    accesses: int


class CaseConsultationList(BaseModel):
    consultations: list[CaseConsultationSummary]


class ClientConsultation(BaseModel):
    """A consultation that concerned the client, shown once it ended (unless deferred)."""

    id: str
    legal_basis: str
    goal: str | None
    participants: list[str]
    opened_at: datetime
    ended_at: datetime


class ClientConsultationList(BaseModel):
    consultations: list[ClientConsultation]
