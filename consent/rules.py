"""Pure consent and help-relation rules. No I/O; ``now`` is always an argument (STYLE).

What is here decides what may be *recorded*, never what may be *seen*: DESIGN §4's access
decision (which consent covers which section for whom, and whether a consent is in force) lives
in Rego only (``broker/policies/access.rego``), and the broker obeys the engine's answer. Python
keeps:

- the validation of a new consent or relation and of a narrowing (what may be stored);
- ``consent_status``: the lifecycle of a stored version (which changes it still allows) and the
  status the client reads; it never grants or denies access;
- ``relation_is_valid``: the write gate of DESIGN §5 (only a partner that helps the client now
  may write to its dossier or record consent), which is not an access decision either.

Every time interval is half-open: ``start <= now < end``.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType
from typing import Any, TypeVar

from consent import errors
from consent.catalogue import Catalogue
from consent.models import (
    PARTNER_TYPES,
    ConsentStatus,
    ConsentTerms,
    ConsentVersion,
    Evidence,
    HelpRelation,
    PartnerRef,
    Recipient,
)

_T = TypeVar("_T")

NO_RELATIONS: Mapping[str, HelpRelation] = MappingProxyType({})

MAX_CONSENT_MONTHS = 24  # valid_until at most 24 months ahead
DEFAULT_RELATION_MONTHS = 12  # DESIGN §3: default end of a help relation
MAX_RELATION_MONTHS = 24  # a help relation lasts at most 24 months


# DESIGN §4: the wildcard section of a consent: every basis and vertrouwelijk section its purposes
# need, never a bijzonder one (what it covers is decided in broker/policies/access.rego).
WILDCARD = "*"

def add_months(moment: datetime, months: int) -> datetime:
    """``moment`` plus calendar months, the day clamped to the month (31 Jan + 1 -> 28/29 Feb)."""
    index = moment.month - 1 + months
    year, month = moment.year + index // 12, index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


# --- help relations -------------------------------------------------------------------------------


def relation_is_valid(rel: HelpRelation, now: datetime) -> bool:
    """DESIGN §4: valid when ``start <= now < end`` and not ended (``ended_at <= now``)."""
    ended = rel.ended_at is not None and rel.ended_at <= now
    return rel.start <= now < rel.end and not ended


def relation_end(start: datetime, requested_end: datetime | None, now: datetime) -> datetime:
    """The end of a new help relation: 12 months after ``start`` by default, at most 24.

    Raises:
        RelationEndInPast: ``requested_end`` is not after both ``start`` and ``now``.
        RelationEndTooFar: ``requested_end`` is more than 24 months after ``start``.
    """
    if requested_end is None:
        return add_months(start, DEFAULT_RELATION_MONTHS)
    if requested_end <= max(start, now):
        raise errors.RelationEndInPast(pointer="/end")
    if requested_end > add_months(start, MAX_RELATION_MONTHS):
        raise errors.RelationEndTooFar(pointer="/end")
    return requested_end


# --- status and coverage --------------------------------------------------------------------------


def consent_status(
    c: ConsentVersion, now: datetime, relations: Mapping[str, HelpRelation] = NO_RELATIONS
) -> ConsentStatus:
    """The status of one consent version at ``now``: its lifecycle and what the client reads.
    (Whether it covers an access is the policy's to decide, from the same facts.)

    ``relations`` maps help-relation ids to relations; a consent bound to a relation
    (``help_relation_id``) ends when that relation ends, and counts as expired when the relation
    is unknown (fail closed).
    """
    if c.revoked_at is not None and c.revoked_at <= now:
        return "revoked"
    if now >= c.valid_until:
        return "expired"
    if c.help_relation_id is not None:
        rel = relations.get(c.help_relation_id)
        if rel is None or now >= rel.end or (rel.ended_at is not None and rel.ended_at <= now):
            return "expired"
        if now < rel.start:
            return "not_yet_valid"
    if now < c.valid_from:
        return "not_yet_valid"
    return "active"


# --- validation of a new consent ------------------------------------------------------------------


def validate_consent_create(
    terms: ConsentTerms,
    *,
    catalogue: Catalogue,
    partners: Mapping[str, PartnerRef],
    network: str,
    now: datetime,
) -> None:
    """Check the terms of a new consent for the client of ``network`` (its evidence is checked
    by ``check_evidence``).

    ``partners`` is the registry view (partner id -> type and network).

    Raises:
        EmptyRecipients, EmptyPurposes, EmptySections: a list is empty (empty sets never pass).
        UnknownPurpose, UnknownSection: not in the catalogue.
        PurposeNotByConsent: the break-glass purpose or a legal-basis purpose (DESIGN §10:
            casusoverleg), which no consent grants.
        SectionNotShareable: a geheim section (werkaantekeningen) was asked for.
        InvalidRecipientKind, UnknownPartner, UnknownPartnerType, UnknownNetwork,
            RecipientNotBoundBySecrecy: a bad recipient, or one no consent could ever reach.
        ValidFromInPast, ValidUntilInPast, ValidUntilTooFar, ValidFromAfterValidUntil: bad period.
    """
    if not terms.recipients:
        raise errors.EmptyRecipients(pointer="/recipients")
    if not terms.purposes:
        raise errors.EmptyPurposes(pointer="/purposes")
    if not terms.sections:
        raise errors.EmptySections(pointer="/sections")
    for i, purpose in enumerate(terms.purposes):
        if purpose not in catalogue.purposes:
            raise errors.UnknownPurpose(pointer=f"/purposes/{i}")
        if not catalogue.purposes[purpose].by_consent:  # DESIGN §4, §10: without consent
            raise errors.PurposeNotByConsent(pointer=f"/purposes/{i}")
    for i, section in enumerate(terms.sections):
        if section == WILDCARD:
            continue  # every basis and vertrouwelijk section (DESIGN §4), never a bijzonder one
        info = catalogue.sections.get(section)
        if info is None:
            raise errors.UnknownSection(pointer=f"/sections/{i}")
        if not info.is_shareable:  # DESIGN §1: a worker's personal notes are never shared
            raise errors.SectionNotShareable(pointer=f"/sections/{i}")
    for i, recipient in enumerate(terms.recipients):
        check_recipient(recipient, partners=partners, network=network, pointer=f"/recipients/{i}")
    check_period(terms.valid_from, terms.valid_until, now=now)


def check_recipient(
    recipient: Recipient, *, partners: Mapping[str, PartnerRef], network: str, pointer: str
) -> None:
    """Raise unless ``recipient`` names a partner, partner type or network inside ``network``.

    A partner of another network is reported as unknown: networks do not see each other (DESIGN §3).
    """
    if recipient.kind == "partner":
        partner = partners.get(recipient.id)
        if partner is None or partner.network != network:
            raise errors.UnknownPartner(pointer=pointer)
        if not partner.bound_by_secrecy:  # DESIGN §1 condition 1: it could never be granted
            raise errors.RecipientNotBoundBySecrecy(pointer=pointer)
    elif recipient.kind == "partner_type":
        if recipient.id not in PARTNER_TYPES:
            raise errors.UnknownPartnerType(pointer=pointer)
    elif recipient.kind == "network":
        if recipient.id != network:
            raise errors.UnknownNetwork(pointer=pointer)
    else:  # only reachable for records built without validation (model_construct, imports)
        raise errors.InvalidRecipientKind(pointer=pointer)


def check_evidence(evidence: Evidence, *, at_desk: bool = False) -> None:
    """DESIGN §3: verbal consent names the recording worker; signed paper names its reference.

    Raises:
        InvalidEvidence: a required field is missing, or a desk recording claims ``portal``.
    """
    if at_desk and evidence.method == "portal":
        raise errors.InvalidEvidence(pointer="/evidence/method")
    if evidence.method in ("verbal_at_desk", "signed_paper") and evidence.recorded_by is None:
        raise errors.InvalidEvidence(pointer="/evidence/recorded_by")
    if evidence.method == "signed_paper" and evidence.reference is None:
        raise errors.InvalidEvidence(pointer="/evidence/reference")


def check_period(valid_from: datetime | None, valid_until: datetime, *, now: datetime) -> None:
    """``now <= valid_from < valid_until <= now + 24 months``; ``None`` means from now."""
    start = now if valid_from is None else valid_from
    if start < now:
        raise errors.ValidFromInPast(pointer="/valid_from")
    if valid_until <= now:
        raise errors.ValidUntilInPast(pointer="/valid_until")
    if valid_until > add_months(now, MAX_CONSENT_MONTHS):
        raise errors.ValidUntilTooFar(pointer="/valid_until")
    if start >= valid_until:
        raise errors.ValidFromAfterValidUntil(pointer="/valid_from")


# --- narrowing ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NarrowingDiff:
    """What a new version no longer covers compared to the old one (for withdrawal notices)."""

    removed_recipients: tuple[Recipient, ...]
    removed_purposes: tuple[str, ...]
    removed_sections: tuple[str, ...]
    old_valid_until: datetime
    new_valid_until: datetime | None  # set only when the end moved earlier

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form: names and dates only, never dossier content."""
        return {
            "removed_recipients": [r.model_dump() for r in self.removed_recipients],
            "removed_purposes": list(self.removed_purposes),
            "removed_sections": list(self.removed_sections),
            "valid_until_shortened": None
            if self.new_valid_until is None
            else {"from": self.old_valid_until.isoformat(), "to": self.new_valid_until.isoformat()},
        }


def check_narrowing(old: ConsentVersion, new: ConsentVersion) -> NarrowingDiff:
    """Return what ``new`` no longer covers, if ``new`` narrows ``old``.

    A narrowing has recipients, purposes and sections that are subsets of the old ones and
    an end no later than the old one, and is strictly smaller in at least one of them.

    Raises:
        NotANarrowing: ``new`` widens ``old`` in any way, or changes nothing.
    """
    widened = (
        not set(new.recipients) <= set(old.recipients)
        or not set(new.purposes) <= set(old.purposes)
        or not set(new.sections) <= set(old.sections)
        or new.valid_until > old.valid_until
    )
    if widened:
        raise errors.NotANarrowing
    diff = NarrowingDiff(
        removed_recipients=_missing(old.recipients, new.recipients),
        removed_purposes=_missing(old.purposes, new.purposes),
        removed_sections=_missing(old.sections, new.sections),
        old_valid_until=old.valid_until,
        new_valid_until=new.valid_until if new.valid_until < old.valid_until else None,
    )
    unchanged = not (
        diff.removed_recipients or diff.removed_purposes or diff.removed_sections
    ) and diff.new_valid_until is None
    if unchanged:
        raise errors.NotANarrowing
    return diff


def _missing(old: Iterable[_T], new: Iterable[_T]) -> tuple[_T, ...]:
    kept = set(new)
    return tuple(item for item in old if item not in kept)
