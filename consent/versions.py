"""Making new consent versions and relation changes: pure, validated, never overwriting.

DESIGN §3: every change creates a new version linked to the previous one; nothing is overwritten.
The only stamp ever added to a stored record is ``revoked_at`` (consent) or ``ended_at``
(relation). The store persists what these functions return, in one transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TypeVar

from consent.catalogue import Catalogue
from consent.errors import (
    ConsentNotActive,
    EmptyPurposes,
    EmptyRecipients,
    EmptySections,
    RelationNotValid,
)
from consent.models import (
    ConsentTerms,
    ConsentVersion,
    Evidence,
    HelpRelation,
    NarrowChange,
    OnBehalfOf,
    PartnerRef,
    Proof,
)
from consent.rules import (
    NO_RELATIONS,
    NarrowingDiff,
    check_evidence,
    check_narrowing,
    check_period,
    consent_status,
    relation_is_valid,
    validate_consent_create,
)

_T = TypeVar("_T")

# A consent can still be revoked or narrowed before it starts; not once it is revoked or expired.
_CHANGEABLE = ("active", "not_yet_valid")


def build_consent(
    terms: ConsentTerms,
    *,
    consent_id: str,
    client_ref: str,
    network: str,
    evidence: Evidence,
    proof: Proof,
    catalogue: Catalogue,
    partners: Mapping[str, PartnerRef],
    now: datetime,
    relation: HelpRelation | None = None,
    on_behalf_of: OnBehalfOf | None = None,
) -> ConsentVersion:
    """Validate a new consent and return its first version.

    ``evidence`` is the request's own evidence for a desk recording (``proof`` ``eid`` or
    ``attested``), or ``Evidence(method="portal")`` for the client (``proof`` ``client``).
    ``relation`` is the relation named by ``help_relation_id``.

    Raises:
        ConsentValidationError: any failure of ``validate_consent_create`` or ``check_evidence``.
        RelationNotValid: the consent names a help relation that is missing, of another client, or
            not valid now.
    """
    validate_consent_create(
        terms, catalogue=catalogue, partners=partners, network=network, now=now
    )
    check_evidence(evidence, at_desk=proof != "client")
    if terms.help_relation_id is not None and not (
        relation is not None
        and relation.id == terms.help_relation_id
        and relation.client_ref == client_ref
        and relation_is_valid(relation, now)
    ):
        raise RelationNotValid(pointer="/help_relation_id")
    return ConsentVersion(
        id=consent_id,
        version=1,
        previous_version_id=None,
        client_ref=client_ref,
        network=network,
        recipients=_unique(terms.recipients),
        purposes=_unique(terms.purposes),
        sections=_unique(terms.sections),
        valid_from=now if terms.valid_from is None else terms.valid_from,
        valid_until=terms.valid_until,
        evidence=evidence,
        grantor=terms.grantor,
        help_relation_id=terms.help_relation_id,
        revoked_at=None,
        created_at=now,
        proof=proof,
        recorded_at=now,
        on_behalf_of=on_behalf_of,
    )


@dataclass(frozen=True, slots=True)
class Narrowing:
    """A narrowing's result: the old version closed, the new version, and what was withdrawn."""

    closed: ConsentVersion
    new: ConsentVersion
    diff: NarrowingDiff


def narrow(
    old: ConsentVersion,
    change: NarrowChange,
    *,
    new_id: str,
    evidence: Evidence,
    now: datetime,
    relations: Mapping[str, HelpRelation] = NO_RELATIONS,
    on_behalf_of: OnBehalfOf | None = None,
) -> Narrowing:
    """Return the next version of ``old`` with the narrowed terms, and ``old`` closed at ``now``.

    The new version starts at ``now`` (or at the old start if that is later): a narrowing applies
    from the moment it is made. The old version is stamped ``revoked_at = now`` so that it never
    covers anything afterwards. It keeps ``old``'s proof and recording time (DESIGN §9: narrowing
    an attested consent does not make it a client-proven one, nor extend its 30 days).

    Raises:
        ConsentNotActive: ``old`` is revoked or expired.
        EmptyRecipients, EmptyPurposes, EmptySections: the change removes everything of a kind
            (revoke instead).
        ValidUntilInPast: the new end is not after ``now`` (revoke instead).
        NotANarrowing: the change adds anything, or changes nothing.
        InvalidEvidence: see ``check_evidence``.
    """
    if consent_status(old, now, relations) not in _CHANGEABLE:
        raise ConsentNotActive
    check_evidence(evidence)
    recipients = old.recipients if change.recipients is None else _unique(change.recipients)
    purposes = old.purposes if change.purposes is None else _unique(change.purposes)
    sections = old.sections if change.sections is None else _unique(change.sections)
    if not recipients:
        raise EmptyRecipients(pointer="/recipients")
    if not purposes:
        raise EmptyPurposes(pointer="/purposes")
    if not sections:
        raise EmptySections(pointer="/sections")
    valid_from = max(old.valid_from, now)
    valid_until = old.valid_until if change.valid_until is None else change.valid_until
    check_period(valid_from, valid_until, now=now)
    new = replace(
        old,
        id=new_id,
        version=old.version + 1,
        previous_version_id=old.id,
        recipients=recipients,
        purposes=purposes,
        sections=sections,
        valid_from=valid_from,
        valid_until=valid_until,
        evidence=evidence,
        revoked_at=None,
        created_at=now,
        on_behalf_of=on_behalf_of,
    )
    diff = check_narrowing(old, new)
    return Narrowing(closed=replace(old, revoked_at=now), new=new, diff=diff)


def revoke(
    c: ConsentVersion,
    *,
    now: datetime,
    relations: Mapping[str, HelpRelation] = NO_RELATIONS,
) -> ConsentVersion:
    """Return ``c`` revoked at ``now``.

    Raises:
        ConsentNotActive: ``c`` is already revoked or expired.
    """
    if consent_status(c, now, relations) not in _CHANGEABLE:
        raise ConsentNotActive
    return replace(c, revoked_at=now)


def end_relation(rel: HelpRelation, *, now: datetime) -> HelpRelation:
    """Return ``rel`` ended at ``now`` (``POST /v1/relations/{id}/end``).

    Raises:
        RelationNotValid: ``rel`` is not valid now (already ended, expired, or not started).
    """
    if not relation_is_valid(rel, now):
        raise RelationNotValid
    return replace(rel, ended_at=now)


def _unique(items: Iterable[_T]) -> tuple[_T, ...]:
    """Drop repeats, keep the client's order."""
    return tuple(dict.fromkeys(items))
