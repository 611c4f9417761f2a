"""Bodies of casework (DESIGN §10): ``/v1/referrals`` and ``/v1/coordination``. A referral
shown to a partner names the partners, never the client; only the partner that accepts it gets
the client's INSZ, with the handover."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StrictStr

from broker.schemas.access import AccessResponse, SectionName
from broker.schemas.common import RequestBody
from broker.schemas.relations import HelpRelationPublic
from broker.store.casework import ReferralRow
from consent.controls import MESSAGE_MAX
from consent.insz import Insz

ReferralStatus = Literal["awaiting_consent", "proposed", "accepted", "declined", "completed",
                         "dropped", "expired", "consent_refused"]
CodeStr = Annotated[StrictStr, Field(min_length=1, max_length=48, pattern=r"^[a-z][a-z_]*$")]


class ReferralCreate(RequestBody):
    """``POST /v1/referrals``: refer the client to partner ``to`` for ``reason`` (a code of the
    catalogue's ``referral_reason`` list), handing over ``sections`` (among those purpose
    ``doorverwijzing`` needs). ``message`` is for the receiving partner: stored encrypted, never
    logged or audited."""

    insz: Insz
    to: StrictStr = Field(min_length=1, max_length=64)
    reason: CodeStr
    sections: list[SectionName] = Field(min_length=1, max_length=16)
    message: StrictStr | None = Field(default=None, min_length=1, max_length=MESSAGE_MAX)

    def __repr__(self) -> str:  # never print the INSZ or the message
        return "ReferralCreate(...)"

    __str__ = __repr__


class DeclineIn(RequestBody):
    """``reason``: a code of the catalogue's ``referral_decline`` list."""

    reason: CodeStr


class ReferralPublic(BaseModel):
    """A referral and its status. ``expires_at``: the receiver must answer by then (14 days
    after it was proposed), else it expires and the client's coordinator is told."""

    id: str
    status: ReferralStatus
    from_partner: str
    to_partner: str
    reason: str
    sections: list[str]
    consent_request_id: str | None
    relation_id: str | None
    decline_reason: str | None
    created_at: datetime
    expires_at: datetime
    updated_at: datetime
    message: str | None = None

    @classmethod
    def of(cls, row: ReferralRow, *, message: str | None = None) -> ReferralPublic:
        return cls(id=row.id, status=row.status,
                   from_partner=row.from_partner, to_partner=row.to_partner, reason=row.reason,
                   sections=list(row.sections), consent_request_id=row.consent_request_id,
                   relation_id=row.relation_id, decline_reason=row.decline_reason,
                   created_at=row.created_at, expires_at=row.expires_at,
                   updated_at=row.updated_at, message=message)


class ReferralList(BaseModel):
    referrals: list[ReferralPublic]


class ReferralAccepted(BaseModel):
    """The receiver accepted: its help relation (proof ``referral``), the client's INSZ (to act
    for the client from now on) and the handover, exactly the access decision for purpose
    ``doorverwijzing`` on the referral's sections (audited before anything was released)."""

    referral: ReferralPublic
    insz: str
    relation: HelpRelationPublic
    handover: AccessResponse


class CoordinationIn(RequestBody):
    insz: Insz


class CoordinationPublic(BaseModel):
    """The client's coordinator, as far as policy discloses it to the caller; ``null`` when there
    is none or it may not be disclosed (indistinguishable on purpose)."""

    coordinator: str | None
    since: datetime | None
