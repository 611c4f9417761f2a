"""Bodies of consent requests (DESIGN §9): ``POST /v1/consent-requests`` and
``GET /v1/consent-requests/{id}`` (the partner), ``/v1/me/consent-requests`` (the client)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field, StrictStr

from broker.bounds import AwareMoment
from broker.schemas.common import RequestBody
from broker.schemas.consents import ConsentChanged
from consent.controls import MESSAGE_MAX, ConsentRequest, RequestStatus
from consent.insz import Insz
from consent.models import ConsentTerms, Name, NarrowChange, Recipient


class ConsentRequestCreate(RequestBody):
    """A partner with a valid help relation asks the client for these terms. ``message`` is
    shown to the client in their portal (and stored encrypted; never logged)."""

    insz: Insz
    recipients: list[Recipient] = Field(max_length=50)
    purposes: list[Name] = Field(max_length=20)
    sections: list[Name] = Field(max_length=50)
    valid_until: AwareMoment
    message: StrictStr | None = Field(default=None, min_length=1, max_length=MESSAGE_MAX)

    def __repr__(self) -> str:  # never print the INSZ or the message
        return "ConsentRequestCreate(...)"

    __str__ = __repr__

    def terms(self) -> ConsentTerms:
        return ConsentTerms(recipients=tuple(self.recipients), purposes=tuple(self.purposes),
                            sections=tuple(self.sections), valid_until=self.valid_until)


class ConsentRequestPublic(BaseModel):
    """A request and its status (``pending``, ``approved``, ``refused``, ``expired``,
    ``withdrawn``). ``consent_id`` names the consent an approval made."""

    id: str
    status: RequestStatus
    partner: str
    recipients: list[Recipient]
    purposes: list[str]
    sections: list[str]
    valid_until: datetime
    created_at: datetime
    expires_at: datetime
    decided_at: datetime | None
    consent_id: str | None

    @classmethod
    def of(cls, r: ConsentRequest, now: datetime) -> ConsentRequestPublic:
        return cls(id=r.id, status=r.status(now), partner=r.partner,
                   recipients=list(r.terms.recipients), purposes=list(r.terms.purposes),
                   sections=list(r.terms.sections), valid_until=r.terms.valid_until,
                   created_at=r.created_at, expires_at=r.expires_at, decided_at=r.decided_at,
                   consent_id=r.consent_id)


class MyConsentRequest(ConsentRequestPublic):
    """A request as the client reads it, with the partner's message."""

    message: str | None


class MyConsentRequests(BaseModel):
    requests: list[MyConsentRequest]


class ApprovalIn(RequestBody):
    """Approve as asked (an empty body), or narrower: a subset of the purposes or sections, an
    earlier end. Recipients are the request's."""

    purposes: list[Name] | None = Field(default=None, max_length=20)
    sections: list[Name] | None = Field(default=None, max_length=50)
    valid_until: AwareMoment | None = None

    def change(self) -> NarrowChange | None:
        if self.purposes is None and self.sections is None and self.valid_until is None:
            return None
        return NarrowChange(
            purposes=None if self.purposes is None else tuple(self.purposes),
            sections=None if self.sections is None else tuple(self.sections),
            valid_until=self.valid_until)


class Approved(ConsentChanged):
    """The consent the approval gave (proof ``client``), its receipt, and the request."""

    request: ConsentRequestPublic
