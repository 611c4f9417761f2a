"""Consent and help-relation records: the domain the pure rules work on.

- value objects (pydantic, frozen, unknown fields forbidden): ``Recipient``, ``Evidence``,
  ``Grantor``; request bodies of the broker embed them, and records store them;
- frozen domain records (``ConsentVersion``, ``HelpRelation``) that the rules operate on and
  that a store maps its rows to. Records hold a client pseudonym (``client_ref``), never an INSZ;
- what a change asks for (``ConsentTerms``, ``NarrowChange``), however it reached the broker.

The HTTP bodies that carry these (with the INSZ, and the broker's own fields) are the broker's
(``broker.schemas``); this package knows nothing of HTTP.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, StringConstraints

RecipientKind = Literal["partner", "partner_type", "network"]
EvidenceMethod = Literal["portal", "signed_paper", "verbal_at_desk"]
ConsentStatus = Literal["active", "expired", "revoked", "not_yet_valid"]
PartnerType = Literal["ocmw", "caw", "dmw", "other"]
# DESIGN §9: how the client's will (consent) or presence (relation) was proven: by the client
# themselves logged in (``client``), by their eID card at the desk (``eid``), by the worker's word
# only (``attested``), or by an accepted referral (``referral``, relations only).
Proof = Literal["client", "eid", "attested", "referral"]
PROOFS: frozenset[str] = frozenset(("client", "eid", "attested", "referral"))

# DESIGN §3: the partner types are domain vocabulary (not catalogue data).
PARTNER_TYPES: frozenset[str] = frozenset(("ocmw", "caw", "dmw", "other"))

Name = Annotated[str, StringConstraints(min_length=1, max_length=64)]
"""A catalogue key or registry id; checked against the catalogue or registry by the rules."""
Text = Annotated[str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True)]
Role = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z_]{1,39}$")]

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


# --- what a change asks for -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class ConsentTerms:
    """The terms of a new consent (DESIGN §3), however it was given: recipients, purposes and
    sections, the validity period (``valid_from`` None: from now), a representative, and the
    help relation it is bound to (it then ends with that relation)."""

    recipients: tuple[Recipient, ...]
    purposes: tuple[str, ...]
    sections: tuple[str, ...]
    valid_until: datetime
    valid_from: datetime | None = None
    grantor: Grantor | None = None
    help_relation_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class NarrowChange:
    """A narrowing: fewer recipients, purposes or sections, or an earlier end; None = same."""

    recipients: tuple[Recipient, ...] | None = None
    purposes: tuple[str, ...] | None = None
    sections: tuple[str, ...] | None = None
    valid_until: datetime | None = None


# --- domain records -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class OnBehalfOf:
    """DESIGN §9 mandates: a version made by a trusted person for the client: which mandate, and
    the trusted person's pseudonym in the client's network."""

    mandate_id: str
    mandatary: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ConsentVersion:
    """One immutable version of a consent. A change creates a new version linked by
    ``previous_version_id``; the only stamp ever added to a stored version is ``revoked_at``
    (by revocation, or when a narrowing replaces it).

    ``proof`` (DESIGN §9) and ``recorded_at`` (when the consent was first recorded) are those of
    the consent's first version: a narrowing never changes what the consent may open or for how
    long. ``on_behalf_of`` names the mandate when a trusted person made this version."""

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
    proof: Proof
    recorded_at: datetime
    on_behalf_of: OnBehalfOf | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class HelpRelation:
    """A partner's declaration that it actively helps a client, valid ``start <= now < end``,
    with how the client's presence was proven when it was declared (DESIGN §9)."""

    id: str
    partner: str
    client_ref: str
    start: datetime
    end: datetime
    ended_at: datetime | None = None
    proof: Proof = "attested"


@dataclass(frozen=True, slots=True)
class PartnerRef:
    """A registry view of one partner: enough to validate a recipient."""

    type: str
    network: str
    bound_by_secrecy: bool = True
