"""Bodies of the consent endpoints: ``POST /v1/consents`` (at the desk) and ``/v1/me/consents``
(the client), narrowing, the consent's versions and its signed receipt (DESIGN §3, §5)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from broker.bounds import AwareMoment
from broker.schemas.common import RequestBody
from broker.schemas.presence import PresenceIn
from consent.insz import Insz
from consent.models import (
    ConsentStatus,
    ConsentTerms,
    ConsentVersion,
    Evidence,
    Grantor,
    Name,
    NarrowChange,
    Proof,
    Recipient,
)
from consent.store import ConsentChange


class ConsentTermsIn(RequestBody):
    """The terms of a consent, shared by every way of giving one."""

    recipients: list[Recipient] = Field(max_length=50)
    purposes: list[Name] = Field(max_length=20)
    sections: list[Name] = Field(max_length=50)
    valid_from: AwareMoment | None = None
    valid_until: AwareMoment
    grantor: Grantor | None = None
    help_relation_id: Name | None = None

    def terms(self) -> ConsentTerms:
        return ConsentTerms(
            recipients=tuple(self.recipients), purposes=tuple(self.purposes),
            sections=tuple(self.sections), valid_from=self.valid_from,
            valid_until=self.valid_until, grantor=self.grantor,
            help_relation_id=self.help_relation_id,
        )


class ConsentCreate(ConsentTermsIn):
    """``POST /v1/consents``: a partner records consent given at its desk (DESIGN §5). With
    ``presence`` (the client's eID card signed a broker challenge) the consent's proof is
    ``eid``; without, it rests on the worker's word (``attested``: basis sections only, for 30
    days; DESIGN §9)."""

    insz: Insz
    evidence: Evidence
    presence: PresenceIn | None = None


class MeConsentCreate(ConsentTermsIn):
    """``POST /v1/me/consents``. ``network`` is needed only when the broker serves several."""

    network: Name | None = None


class ConsentNarrow(RequestBody):
    """A narrowing: fewer recipients, purposes or sections, or an earlier end; omitted = same."""

    recipients: list[Recipient] | None = Field(default=None, max_length=50)
    purposes: list[Name] | None = Field(default=None, max_length=20)
    sections: list[Name] | None = Field(default=None, max_length=50)
    valid_until: AwareMoment | None = None

    def change(self) -> NarrowChange:
        def kept(items: list[Any] | None) -> tuple[Any, ...] | None:
            return None if items is None else tuple(items)

        return NarrowChange(recipients=kept(self.recipients), purposes=kept(self.purposes),
                            sections=kept(self.sections), valid_until=self.valid_until)


class OnBehalfOfPublic(BaseModel):
    """DESIGN §9: this version was made by a trusted person under ``mandate_id``; ``mandatary``
    is that person's pseudonym in the client's network."""

    mandate_id: str
    mandatary: str


class ConsentVersionPublic(BaseModel):
    """One version as the client reads it, with what produced it and whether a later one
    replaced it. ``previous_version_id`` equals ``id`` from version 2 on: ids are stable across
    versions and ``(id, version - 1)`` is the previous one (``consent.store``)."""

    id: str
    version: int
    previous_version_id: str | None
    recipients: list[Recipient]
    purposes: list[str]
    sections: list[str]
    valid_from: datetime
    valid_until: datetime
    evidence: Evidence
    grantor: Grantor | None
    help_relation_id: str | None
    status: ConsentStatus
    revoked_at: datetime | None
    created_at: datetime
    network: str
    change: ConsentChange
    recorded_by_partner: str | None
    superseded: bool
    proof: Proof
    recorded_at: datetime
    on_behalf_of: OnBehalfOfPublic | None = None

    @classmethod
    def of(cls, c: ConsentVersion, *, status: ConsentStatus, change: ConsentChange,
           recorded_by_partner: str | None, superseded: bool) -> ConsentVersionPublic:
        return cls(
            id=c.id, version=c.version, previous_version_id=c.previous_version_id,
            recipients=list(c.recipients), purposes=list(c.purposes), sections=list(c.sections),
            valid_from=c.valid_from, valid_until=c.valid_until, evidence=c.evidence,
            grantor=c.grantor, help_relation_id=c.help_relation_id, status=status,
            revoked_at=c.revoked_at, created_at=c.created_at, network=c.network, change=change,
            recorded_by_partner=recorded_by_partner, superseded=superseded, proof=c.proof,
            recorded_at=c.recorded_at,
            on_behalf_of=None if c.on_behalf_of is None else OnBehalfOfPublic(
                mandate_id=c.on_behalf_of.mandate_id, mandatary=c.on_behalf_of.mandatary),
        )


class ConsentHistory(BaseModel):
    """One consent: its current version and every version, oldest first."""

    id: str
    status: ConsentStatus
    current: ConsentVersionPublic
    versions: list[ConsentVersionPublic]


class ConsentsPublic(BaseModel):
    consents: list[ConsentHistory]


class SignedReceipt(BaseModel):
    """The consent receipt and its compact JWS (EdDSA; verify with the broker's JWKS)."""

    receipt: dict[str, Any]
    jws: str


class ConsentChanged(SignedReceipt):
    """The version a change created, with its signed receipt."""

    consent: ConsentVersionPublic
