"""Pure consent and help-relation rules. No I/O; ``now`` is always an argument (STYLE).

The rules implement the consent side of DESIGN §1 (shared professional secrecy: the client consents,
the recipient shares the mission through an active help relation, only what is needed is shared)
and DESIGN §4 (what an ``active`` consent covers). Every time interval is half-open:
``start <= now < end``.
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
    ConsentBase,
    ConsentCreate,
    ConsentStatus,
    ConsentVersion,
    Evidence,
    HelpRelation,
    PartnerRef,
    Recipient,
    RequesterRef,
)

_T = TypeVar("_T")

NO_RELATIONS: Mapping[str, HelpRelation] = MappingProxyType({})

MAX_CONSENT_MONTHS = 24  # issue 4: valid_until at most 24 months ahead
DEFAULT_RELATION_MONTHS = 12  # DESIGN §3: default end of a help relation
MAX_RELATION_MONTHS = 24  # issue 4: at most 24 months


# DESIGN §4: "a wildcard never covers [bijzonder sections]". The wildcard section grants every
# section of these tiers that the consent's purposes need; the policy (policies/access.rego)
# applies the same rule.
WILDCARD = "*"
WILDCARD_TIERS = frozenset({"basis", "vertrouwelijk"})

def add_months(moment: datetime, months: int) -> datetime:
    """``moment`` plus calendar months, the day clamped to the month (31 Jan + 1 -> 28/29 Feb)."""
    index = moment.month - 1 + months
    year, month = moment.year + index // 12, index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


# --- help relations -------------------------------------------------------------------------------


def relation_is_valid(rel: HelpRelation, now: datetime) -> bool:
    """Issue 4: valid when ``start <= now < end`` and not ended (``ended_at <= now``: ended)."""
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
    """The status of one consent version at ``now``.

    ``relations`` maps help-relation ids to relations; a consent bound to a relation (issue 4:
    ``help_relation_id``) ends when that relation ends, and counts as expired when the relation is
    unknown (fail closed).
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


def recipient_matches(recipient: Recipient, requester: RequesterRef) -> bool:
    """DESIGN §3: a recipient is one partner, a partner type, or the whole network."""
    if recipient.kind == "partner":
        return recipient.id == requester.partner
    if recipient.kind == "partner_type":
        return recipient.id == requester.type
    if recipient.kind == "network":
        return recipient.id == requester.network
    return False  # an unknown kind never matches (fail closed)


def covers(
    c: ConsentVersion,
    requester: RequesterRef,
    purpose: str,
    section: str,
    catalogue: Catalogue,
    now: datetime,
    relations: Mapping[str, HelpRelation] = NO_RELATIONS,
) -> bool:
    """True when consent ``c`` lets ``requester`` see ``section`` for ``purpose`` at ``now``.

    Only the consent condition of DESIGN §4; the other conditions (requester active and bound by
    secrecy, valid help relation, section needed for the purpose) are separate rules in the policy.
    """
    info = catalogue.sections.get(section)
    # DESIGN §4: the section is known and not geheim (werkaantekeningen is never shared).
    if info is None or not info.is_shareable:
        return False
    if purpose not in catalogue.purposes:
        return False
    # DESIGN §4: an active consent valid now.
    if consent_status(c, now, relations) != "active":
        return False
    # DESIGN §3: partners share only inside their network.
    if requester.network != c.network:
        return False
    # DESIGN §4: covers this requester (by partner, type or network), this purpose, this section.
    if not any(recipient_matches(r, requester) for r in c.recipients):
        return False
    if purpose not in c.purposes:
        return False
    if section in c.sections:
        return True
    # DESIGN §4: a broad consent (the wildcard section) covers the ordinary tiers only; bijzonder
    # sections must be named explicitly and geheim ones are never shared (checked above).
    return WILDCARD in c.sections and info.tier in WILDCARD_TIERS


# --- validation of a new consent ------------------------------------------------------------------


def validate_consent_create(
    consent_in: ConsentBase,
    *,
    catalogue: Catalogue,
    partners: Mapping[str, PartnerRef],
    network: str,
    now: datetime,
) -> None:
    """Check the terms of a new consent for the client of ``network``.

    ``partners`` is the registry view (partner id -> type and network).

    Raises:
        EmptyRecipients, EmptyPurposes, EmptySections: a list is empty (empty sets never pass).
        UnknownPurpose, UnknownSection: not in the catalogue.
        SectionNotShareable: a geheim section (werkaantekeningen) was asked for.
        InvalidRecipientKind, UnknownPartner, UnknownPartnerType, UnknownNetwork: a bad recipient.
        InvalidEvidence: desk evidence lacking worker or paper reference, or claiming ``portal``.
        ValidFromInPast, ValidUntilInPast, ValidUntilTooFar, ValidFromAfterValidUntil: bad period.
    """
    if not consent_in.recipients:
        raise errors.EmptyRecipients(pointer="/recipients")
    if not consent_in.purposes:
        raise errors.EmptyPurposes(pointer="/purposes")
    if not consent_in.sections:
        raise errors.EmptySections(pointer="/sections")
    for i, purpose in enumerate(consent_in.purposes):
        if purpose not in catalogue.purposes:
            raise errors.UnknownPurpose(pointer=f"/purposes/{i}")
    for i, section in enumerate(consent_in.sections):
        if section == WILDCARD:
            continue  # every basis and vertrouwelijk section (DESIGN §4), never a bijzonder one
        info = catalogue.sections.get(section)
        if info is None:
            raise errors.UnknownSection(pointer=f"/sections/{i}")
        if not info.is_shareable:  # DESIGN §1: a worker's personal notes are never shared
            raise errors.SectionNotShareable(pointer=f"/sections/{i}")
    for i, recipient in enumerate(consent_in.recipients):
        check_recipient(recipient, partners=partners, network=network, pointer=f"/recipients/{i}")
    if isinstance(consent_in, ConsentCreate):
        check_evidence(consent_in.evidence, at_desk=True)
    check_period(consent_in.valid_from, consent_in.valid_until, now=now)


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
    """``now <= valid_from < valid_until <= now + 24 months`` (issue 4); ``None`` means from now."""
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

    Issue 4: a narrowing has recipients, purposes and sections that are subsets of the old ones and
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
