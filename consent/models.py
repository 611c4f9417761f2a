"""Consent and help-relation models.

Two kinds of classes live here:
- request and response bodies (pydantic v2, house naming ``ConsentBase`` / ``ConsentCreate`` /
  ``ConsentPublic``); request bodies forbid unknown fields (DESIGN §5);
- frozen domain records (``ConsentVersion``, ``HelpRelation``) that the pure rules operate on and
  that a store maps its rows to. Records hold a client pseudonym (``client_ref``), never an INSZ.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

from consent.insz import Insz

RecipientKind = Literal["partner", "partner_type", "network"]
EvidenceMethod = Literal["portal", "signed_paper", "verbal_at_desk"]
ConsentStatus = Literal["active", "expired", "revoked", "not_yet_valid"]
PartnerType = Literal["ocmw", "caw", "dmw", "other"]

# DESIGN §3: the partner types are domain vocabulary (not catalogue data).
PARTNER_TYPES: frozenset[str] = frozenset(("ocmw", "caw", "dmw", "other"))

Name = Annotated[str, StringConstraints(min_length=1, max_length=64)]
"""A catalogue key or registry id; checked against the catalogue or registry by the rules."""
Text = Annotated[str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True)]
Role = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z_]{1,39}$")]

_BODY = ConfigDict(extra="forbid")
_VALUE = ConfigDict(extra="forbid", frozen=True)


class Recipient(BaseModel):
    """Who may receive data: one partner, every partner of a type, or the whole network."""

    model_config = _VALUE

    kind: RecipientKind
    id: Name


class Evidence(BaseModel):
    """How the consent was obtained (DESIGN §3) and which worker recorded it (pseudonymous id)."""

    model_config = _VALUE

    method: EvidenceMethod
    reference: Text | None = None
    recorded_by: Name | None = None


class Grantor(BaseModel):
    """A legal representative who consents for the client (e.g. ``bewindvoerder``, ``ouder``)."""

    model_config = _VALUE

    name: Text
    role: Role


class ConsentBase(BaseModel):
    """The terms of a consent, shared by every way of giving one."""

    model_config = _BODY

    recipients: list[Recipient] = Field(max_length=50)
    purposes: list[Name] = Field(max_length=20)
    sections: list[Name] = Field(max_length=50)
    valid_from: AwareDatetime | None = None
    valid_until: AwareDatetime
    grantor: Grantor | None = None
    help_relation_id: Name | None = None


class ConsentCreate(ConsentBase):
    """``POST /v1/consents``: a partner records consent given at its desk (DESIGN §5)."""

    insz: Insz
    evidence: Evidence


class ClientConsentCreate(ConsentBase):
    """``POST /v1/me/consents``: the client gives consent in the portal (evidence is ``portal``)."""


class ConsentNarrow(BaseModel):
    """A narrowing: fewer recipients, purposes or sections, or an earlier end; omitted = same."""

    model_config = _BODY

    recipients: list[Recipient] | None = Field(default=None, max_length=50)
    purposes: list[Name] | None = Field(default=None, max_length=20)
    sections: list[Name] | None = Field(default=None, max_length=50)
    valid_until: AwareDatetime | None = None


class ConsentImport(ConsentBase):
    """A consent read back from an HL7 FHIR ``Consent`` resource (``consent.fhir.from_fhir``)."""

    client_ref: Name
    evidence: Evidence
    consent_id: Name | None = None
    version: int | None = None


class ConsentPublic(BaseModel):
    """One consent version as the client and the broker's API show it."""

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

    @classmethod
    def from_record(cls, c: ConsentVersion, status: ConsentStatus) -> ConsentPublic:
        return cls(
            id=c.id,
            version=c.version,
            previous_version_id=c.previous_version_id,
            recipients=list(c.recipients),
            purposes=list(c.purposes),
            sections=list(c.sections),
            valid_from=c.valid_from,
            valid_until=c.valid_until,
            evidence=c.evidence,
            grantor=c.grantor,
            help_relation_id=c.help_relation_id,
            status=status,
            revoked_at=c.revoked_at,
            created_at=c.created_at,
        )


class HelpRelationCreate(BaseModel):
    """``POST /v1/relations``: the partner declares it helps the client (default end: 12 months)."""

    model_config = _BODY

    insz: Insz
    end: AwareDatetime | None = None


class HelpRelationPublic(BaseModel):
    id: str
    partner: str
    start: datetime
    end: datetime
    ended_at: datetime | None
    valid: bool

    @classmethod
    def from_record(cls, rel: HelpRelation, *, valid: bool) -> HelpRelationPublic:
        return cls(
            id=rel.id, partner=rel.partner, start=rel.start, end=rel.end,
            ended_at=rel.ended_at, valid=valid,
        )


# --- domain records -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class ConsentVersion:
    """One immutable version of a consent. A change creates a new version linked by
    ``previous_version_id``; the only stamp ever added to a stored version is ``revoked_at``
    (by revocation, or when a narrowing replaces it)."""

    id: str
    version: int
    previous_version_id: str | None
    client_ref: str
    network: str
    recipients: tuple[Recipient, ...]
    purposes: tuple[str, ...]
    sections: tuple[str, ...]
    valid_from: datetime
    valid_until: datetime
    evidence: Evidence
    grantor: Grantor | None
    help_relation_id: str | None
    revoked_at: datetime | None
    created_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class HelpRelation:
    """A partner's declaration that it actively helps a client, valid ``start <= now < end``."""

    id: str
    partner: str
    client_ref: str
    start: datetime
    end: datetime
    ended_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class RequesterRef:
    """The partner asking for data, as far as consent matching needs it."""

    partner: str
    type: str
    network: str


@dataclass(frozen=True, slots=True)
class PartnerRef:
    """A registry view of one partner: enough to validate a recipient."""

    type: str
    network: str
