"""Persistence of help relations and consent versions (withdrawal notices: ``consent.notices``).

Keyword-only functions taking a ``Session``; they map rows (``consent.tables``) to the frozen
records of ``consent.models`` and back. They never commit: the calling service owns the
transaction (STYLE). Every lookup goes by client pseudonym; no INSZ reaches this module.

Versions (DESIGN §3: versioned, never overwritten). A consent keeps one ``id`` across its versions;
``(id, version)`` names one version, so ``previous_version_id`` of version n > 1 equals ``id`` (the
library's ``narrow(old, new_id=old.id)``) and means "version n - 1 of this consent". Each change
(``created``, ``narrowed``, ``revoked``) inserts exactly one new row; the version it replaces gets
its one-time ``revoked_at`` stamp, so at most one version of a consent is ever open and a single
row answers whether it covers anything at a given moment.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal, cast

from sqlalchemy import update
from sqlmodel import Session, col, select

from consent.errors import ConsentNotActive, RelationNotValid
from consent.models import (
    PROOFS,
    ConsentVersion,
    Evidence,
    Grantor,
    HelpRelation,
    OnBehalfOf,
    Proof,
    Recipient,
)
from consent.tables import ConsentVersionRow, HelpRelationRow

ConsentChange = Literal["created", "narrowed", "revoked"]


def proof_of(value: str) -> Proof:
    """A stored proof level; anything unknown reads as ``attested``, the weakest (fail closed)."""
    return cast(Proof, value) if value in PROOFS else "attested"


@dataclass(frozen=True, slots=True)
class StoredConsent:
    """One stored version with what produced it and which partner recorded it (None: client)."""

    record: ConsentVersion
    change: ConsentChange
    recorded_by_partner: str | None


# --- help relations -------------------------------------------------------------------------------


def _relation(row: HelpRelationRow) -> HelpRelation:
    return HelpRelation(
        id=row.id,
        partner=row.partner,
        client_ref=row.client_ref,
        start=row.starts_at,
        end=row.ends_at,
        ended_at=row.ended_at,
        proof=proof_of(row.proof),
    )


def add_relation(
    *, session: Session, relation: HelpRelation, network: str, declared_by: str, now: datetime
) -> None:
    session.add(
        HelpRelationRow(
            id=relation.id,
            network=network,
            client_ref=relation.client_ref,
            partner=relation.partner,
            declared_by=declared_by,
            starts_at=relation.start,
            ends_at=relation.end,
            ended_at=relation.ended_at,
            created_at=now,
            proof=relation.proof,
        )
    )


def get_relation(*, session: Session, relation_id: str) -> tuple[HelpRelation, str] | None:
    """The relation and its network, or None."""
    row = session.get(HelpRelationRow, relation_id)
    return None if row is None else (_relation(row), row.network)


def relations_of_client(*, session: Session, network: str, client_ref: str) -> list[HelpRelation]:
    rows = session.exec(
        select(HelpRelationRow)
        .where(HelpRelationRow.network == network, HelpRelationRow.client_ref == client_ref)
        .order_by(col(HelpRelationRow.starts_at), col(HelpRelationRow.id))
    ).all()
    return [_relation(row) for row in rows]


def has_valid_relation(
    *, session: Session, network: str, client_ref: str, partner: str, now: datetime
) -> bool:
    """DESIGN §3: ``start <= now < end`` and not ended (as ``rules.relation_is_valid``)."""
    row = session.exec(
        select(HelpRelationRow.id).where(
            HelpRelationRow.network == network,
            HelpRelationRow.client_ref == client_ref,
            HelpRelationRow.partner == partner,
            col(HelpRelationRow.starts_at) <= now,
            col(HelpRelationRow.ends_at) > now,
            (col(HelpRelationRow.ended_at).is_(None)) | (col(HelpRelationRow.ended_at) > now),
        )
    ).first()
    return row is not None


def stamp_relation_ended(*, session: Session, ended: HelpRelation) -> None:
    """Write ``ended.ended_at`` once. Raises ``RelationNotValid`` if it was ended meanwhile."""
    assert ended.ended_at is not None
    result = session.exec(
        update(HelpRelationRow)
        .where(col(HelpRelationRow.id) == ended.id, col(HelpRelationRow.ended_at).is_(None))
        .values(ended_at=ended.ended_at)
    )
    if result.rowcount != 1:
        raise RelationNotValid


# --- consent versions -----------------------------------------------------------------------------


def _stored(row: ConsentVersionRow) -> StoredConsent:
    record = ConsentVersion(
        id=row.consent_id,
        version=row.version,
        previous_version_id=row.consent_id if row.version > 1 else None,
        client_ref=row.client_ref,
        network=row.network,
        recipients=tuple(Recipient.model_validate(r) for r in row.recipients),
        purposes=tuple(row.purposes),
        sections=tuple(row.sections),
        valid_from=row.valid_from,
        valid_until=row.valid_until,
        evidence=Evidence.model_validate(row.evidence),
        grantor=None if row.grantor is None else Grantor.model_validate(row.grantor),
        help_relation_id=row.help_relation_id,
        revoked_at=row.revoked_at,
        created_at=row.created_at,
        proof=proof_of(row.proof),
        recorded_at=row.recorded_at,
        on_behalf_of=None if row.on_behalf_of is None else OnBehalfOf(
            mandate_id=str(row.on_behalf_of["mandate_id"]),
            mandatary=str(row.on_behalf_of["mandatary"])),
    )
    change: ConsentChange = (
        "created" if row.change == "created" else "narrowed" if row.change == "narrowed" else
        "revoked"
    )
    return StoredConsent(record=record, change=change, recorded_by_partner=row.recorded_by_partner)


def add_consent_version(
    *,
    session: Session,
    version: ConsentVersion,
    change: ConsentChange,
    recorded_by_partner: str | None,
) -> None:
    """Insert one version. A concurrent insert of the same ``(id, version)`` fails on the key."""
    session.add(
        ConsentVersionRow(
            consent_id=version.id,
            version=version.version,
            change=change,
            network=version.network,
            client_ref=version.client_ref,
            recorded_by_partner=recorded_by_partner,
            recipients=[r.model_dump() for r in version.recipients],
            purposes=list(version.purposes),
            sections=list(version.sections),
            valid_from=version.valid_from,
            valid_until=version.valid_until,
            evidence=version.evidence.model_dump(),
            grantor=None if version.grantor is None else version.grantor.model_dump(),
            help_relation_id=version.help_relation_id,
            revoked_at=version.revoked_at,
            created_at=version.created_at,
            proof=version.proof,
            recorded_at=version.recorded_at,
            on_behalf_of=None if version.on_behalf_of is None else {
                "mandate_id": version.on_behalf_of.mandate_id,
                "mandatary": version.on_behalf_of.mandatary},
        )
    )


def close_consent_version(*, session: Session, closed: ConsentVersion) -> None:
    """Stamp ``closed.revoked_at`` on the stored version, once.

    Raises ``ConsentNotActive`` if another change closed it first (a lost race).
    """
    assert closed.revoked_at is not None
    result = session.exec(
        update(ConsentVersionRow)
        .where(
            col(ConsentVersionRow.consent_id) == closed.id,
            col(ConsentVersionRow.version) == closed.version,
            col(ConsentVersionRow.revoked_at).is_(None),
        )
        .values(revoked_at=closed.revoked_at)
    )
    if result.rowcount != 1:
        raise ConsentNotActive


def consent_versions(*, session: Session, consent_id: str) -> list[StoredConsent]:
    """Every version of one consent, oldest first (empty if unknown)."""
    rows = session.exec(
        select(ConsentVersionRow)
        .where(ConsentVersionRow.consent_id == consent_id)
        .order_by(col(ConsentVersionRow.version))
    ).all()
    return [_stored(row) for row in rows]


def consents_of_client(*, session: Session, network: str, client_ref: str) -> list[StoredConsent]:
    """Every version of every consent of one client, by consent then version."""
    rows = session.exec(
        select(ConsentVersionRow)
        .where(ConsentVersionRow.network == network, ConsentVersionRow.client_ref == client_ref)
        .order_by(col(ConsentVersionRow.consent_id), col(ConsentVersionRow.version))
    ).all()
    return [_stored(row) for row in rows]


def open_consents(*, session: Session, network: str, client_ref: str) -> list[ConsentVersion]:
    """The one open version (no ``revoked_at``) of each consent: what may still cover access."""
    rows = session.exec(
        select(ConsentVersionRow).where(
            ConsentVersionRow.network == network,
            ConsentVersionRow.client_ref == client_ref,
            col(ConsentVersionRow.revoked_at).is_(None),
        )
    ).all()
    return [_stored(row).record for row in rows]


# --- the work of loading, without loading --------------------------------------------------------

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _decoy_relation_row() -> HelpRelationRow:
    return HelpRelationRow(id="r-decoy", network="", client_ref="", partner="", declared_by="",
                           starts_at=_EPOCH, ends_at=_EPOCH, ended_at=None, created_at=_EPOCH,
                           proof="attested")


def _decoy_consent_row() -> ConsentVersionRow:
    return ConsentVersionRow(
        consent_id="cs-decoy", version=1, change="created", network="", client_ref="",
        recorded_by_partner=None, recipients=[{"kind": "partner", "id": "-"}], purposes=["-"],
        sections=["-"], valid_from=_EPOCH, valid_until=_EPOCH,
        evidence={"method": "portal"}, grantor=None, help_relation_id=None, revoked_at=None,
        created_at=_EPOCH, proof="attested", recorded_at=_EPOCH, on_behalf_of=None)


def load_work(*, relations: int,
              consents: int) -> tuple[list[HelpRelation], list[ConsentVersion]]:
    """Do what loading ``relations`` help relations and ``consents`` consent versions costs in
    Python (a row object built, then converted like ``relations_of_client`` and
    ``open_consents`` do), and return these decoys: about no client, never stored. For a
    caller whose time must not tell how many records a client has, or whether it has any."""
    return ([_relation(_decoy_relation_row()) for _ in range(relations)],
            [_stored(_decoy_consent_row()).record for _ in range(consents)])
