"""The client's controls (DESIGN §9): consent requests a client decides on, exclusions of a
partner, and mandates for a trusted person. Pure records and rules; ``now`` is an argument.

- A **consent request** is a partner's proposal of consent terms; it waits 14 days for the
  client, who approves it (possibly narrower: fewer purposes or sections, an earlier end) or
  refuses it. Approval yields a consent given by the client (proof ``client``).
- An **exclusion** names a partner that gets nothing of the client's dossier, break-glass
  included (the rule itself is the policy's).
- A **mandate** lets a trusted person manage, never read, the client's consents; every act under
  it records the mandate (``OnBehalfOf``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Literal

from consent import errors
from consent.models import ConsentTerms, NarrowChange, OnBehalfOf, Proof
from consent.rules import check_period

RequestStatus = Literal["pending", "approved", "refused", "expired", "withdrawn"]
DecidedStatus = Literal["approved", "refused", "withdrawn"]
MandateRole = Literal["trusted_person", "legal_representative"]

REQUEST_LIFETIME = timedelta(days=14)  # DESIGN §9: a consent request expires after 14 days
MESSAGE_MAX = 1000  # characters of a partner's message to the client


@dataclass(frozen=True, slots=True, kw_only=True)
class ConsentRequest:
    """A partner's request for consent terms. ``decided`` is the stored decision (None while
    pending); ``status`` derives ``expired``. ``message_ct`` is encrypted by the broker."""

    id: str
    network: str
    client_ref: str
    partner: str
    worker: str
    terms: ConsentTerms
    message_ct: bytes | None
    created_at: datetime
    expires_at: datetime
    decided: DecidedStatus | None = None
    decided_at: datetime | None = None
    consent_id: str | None = None
    on_behalf_of: OnBehalfOf | None = None

    def status(self, now: datetime) -> RequestStatus:
        if self.decided is not None:
            return self.decided
        return "expired" if now >= self.expires_at else "pending"


def approval_terms(request: ConsentRequest, change: NarrowChange | None,
                   now: datetime) -> ConsentTerms:
    """The terms the client approves: the request's, or narrower ones (DESIGN §9: a subset of
    the purposes or sections, an earlier end). Recipients are the request's.

    Raises:
        RequestNotPending: the request was decided already, or expired.
        ApprovalWidensRequest: the change adds a purpose or section, names recipients, or ends
            later than the request.
        EmptyPurposes, EmptySections, ValidUntilInPast: the change leaves nothing, or ends now.
    """
    if request.status(now) != "pending":
        raise errors.RequestNotPending
    if change is None:
        return request.terms
    terms = request.terms
    if change.recipients is not None:
        raise errors.ApprovalWidensRequest(pointer="/recipients")
    purposes = terms.purposes if change.purposes is None else tuple(dict.fromkeys(change.purposes))
    sections = terms.sections if change.sections is None else tuple(dict.fromkeys(change.sections))
    until = terms.valid_until if change.valid_until is None else change.valid_until
    if not set(purposes) <= set(terms.purposes):
        raise errors.ApprovalWidensRequest(pointer="/purposes")
    if not set(sections) <= set(terms.sections):
        raise errors.ApprovalWidensRequest(pointer="/sections")
    if until > terms.valid_until:
        raise errors.ApprovalWidensRequest(pointer="/valid_until")
    if not purposes:
        raise errors.EmptyPurposes(pointer="/purposes")
    if not sections:
        raise errors.EmptySections(pointer="/sections")
    check_period(None, until, now=now)
    return replace(terms, purposes=purposes, sections=sections, valid_until=until)


def decide(request: ConsentRequest, decision: DecidedStatus, *, now: datetime,
           consent_id: str | None = None,
           on_behalf_of: OnBehalfOf | None = None) -> ConsentRequest:
    """``request`` decided at ``now``. Raises ``RequestNotPending``."""
    if request.status(now) != "pending":
        raise errors.RequestNotPending
    return replace(request, decided=decision, decided_at=now, consent_id=consent_id,
                   on_behalf_of=on_behalf_of)


@dataclass(frozen=True, slots=True, kw_only=True)
class Exclusion:
    """The client excludes ``partner`` from ``created_at`` until ``ended_at`` (undone)."""

    id: str
    network: str
    client_ref: str
    partner: str
    created_at: datetime
    ended_at: datetime | None = None
    on_behalf_of: OnBehalfOf | None = None

    def active(self, now: datetime) -> bool:
        return self.created_at <= now and (self.ended_at is None or now < self.ended_at)


@dataclass(frozen=True, slots=True, kw_only=True)
class Mandate:
    """A trusted person (``mandatary_ref``, a pseudonym in ``network``) may manage the consents
    of the client ``client_ref`` from ``valid_from`` until ``valid_until`` or revocation.
    ``proof``: ``client`` (the client named them in the portal) or ``eid`` (a legal
    representative recorded at the desk with their own eID)."""

    id: str
    network: str
    client_ref: str
    mandatary_ref: str
    role: MandateRole
    proof: Proof
    recorded_by_partner: str | None
    valid_from: datetime
    valid_until: datetime
    created_at: datetime
    revoked_at: datetime | None = None
    labels_ct: bytes | None = None

    def valid(self, now: datetime) -> bool:
        revoked = self.revoked_at is not None and self.revoked_at <= now
        return self.valid_from <= now < self.valid_until and not revoked


def check_mandate(*, client_ref: str, mandatary_ref: str, valid_until: datetime,
                  now: datetime) -> None:
    """Raises ``SelfMandate`` (a client cannot be their own trusted person) and the period
    errors of ``check_period`` (at most 24 months ahead)."""
    if client_ref == mandatary_ref:
        raise errors.SelfMandate(pointer="/insz")
    check_period(None, valid_until, now=now)
