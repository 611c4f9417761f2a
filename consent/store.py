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

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, cast

from sqlalchemy import bindparam, update
from sqlalchemy import select as sa_select
from sqlalchemy.sql import CompoundSelect
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
from consent.padding import PADDING, padded
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
    return _relation_of((row.id, row.partner, row.client_ref, row.starts_at, row.ends_at,
                         row.ended_at, row.proof))


def _relation_of(values: Sequence[Any]) -> HelpRelation:
    """A relation from the columns ``_RELATION_COLUMNS`` reads, in that order."""
    id_, partner, client_ref, start, end, ended_at, proof = values
    return HelpRelation(id=id_, partner=partner, client_ref=client_ref, start=start, end=end,
                        ended_at=ended_at, proof=proof_of(proof))


# The access flow reads a client's relations and open consent versions on every request: Core
# statements, compiled once, read plain tuples (no ORM identity or state bookkeeping per row),
# padded (``padded_records``).
_REL = HelpRelationRow.__table__  # type: ignore[attr-defined]
_RELATION_COLUMNS = (_REL.c.id, _REL.c.partner, _REL.c.client_ref, _REL.c.starts_at,
                     _REL.c.ends_at, _REL.c.ended_at, _REL.c.proof)
_RELATIONS_OF_CLIENT = (
    sa_select(*_RELATION_COLUMNS)
    .where(_REL.c.network == bindparam("network"), _REL.c.client_ref == bindparam("client_ref"))
    .order_by(_REL.c.starts_at, _REL.c.id)
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
    rows = session.connection().execute(
        _RELATIONS_OF_CLIENT, {"network": network, "client_ref": client_ref}).all()
    return [_relation_of(row) for row in rows]


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
    record = _consent_of((
        row.consent_id, row.version, row.client_ref, row.network, row.recipients, row.purposes,
        row.sections, row.valid_from, row.valid_until, row.evidence, row.grantor,
        row.help_relation_id, row.revoked_at, row.created_at, row.proof, row.recorded_at,
        row.on_behalf_of))
    change: ConsentChange = (
        "created" if row.change == "created" else "narrowed" if row.change == "narrowed" else
        "revoked"
    )
    return StoredConsent(record=record, change=change, recorded_by_partner=row.recorded_by_partner)


def _consent_of(values: Sequence[Any]) -> ConsentVersion:
    """A version from the columns ``_CONSENT_COLUMNS`` reads, in that order."""
    (consent_id, version, client_ref, network, recipients, purposes, sections, valid_from,
     valid_until, evidence, grantor, help_relation_id, revoked_at, created_at, proof,
     recorded_at, on_behalf_of) = values
    return ConsentVersion(
        id=consent_id,
        version=version,
        previous_version_id=consent_id if version > 1 else None,
        client_ref=client_ref,
        network=network,
        recipients=tuple(Recipient.model_validate(r) for r in recipients),
        purposes=tuple(purposes),
        sections=tuple(sections),
        valid_from=valid_from,
        valid_until=valid_until,
        evidence=Evidence.model_validate(evidence),
        grantor=None if grantor is None else Grantor.model_validate(grantor),
        help_relation_id=help_relation_id,
        revoked_at=revoked_at,
        created_at=created_at,
        proof=proof_of(proof),
        recorded_at=recorded_at,
        on_behalf_of=None if on_behalf_of is None else OnBehalfOf(
            mandate_id=str(on_behalf_of["mandate_id"]),
            mandatary=str(on_behalf_of["mandatary"])),
    )


# As ``_RELATIONS_OF_CLIENT``: the open versions the access flow reads, as plain tuples.
_CV = ConsentVersionRow.__table__  # type: ignore[attr-defined]
_CONSENT_COLUMNS = (
    _CV.c.consent_id, _CV.c.version, _CV.c.client_ref, _CV.c.network, _CV.c.recipients,
    _CV.c.purposes, _CV.c.sections, _CV.c.valid_from, _CV.c.valid_until, _CV.c.evidence,
    _CV.c.grantor, _CV.c.help_relation_id, _CV.c.revoked_at, _CV.c.created_at, _CV.c.proof,
    _CV.c.recorded_at, _CV.c.on_behalf_of)
_OPEN_CONSENTS = sa_select(*_CONSENT_COLUMNS).where(
    _CV.c.network == bindparam("network"), _CV.c.client_ref == bindparam("client_ref"),
    _CV.c.revoked_at.is_(None),
)


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
    rows = session.connection().execute(
        _OPEN_CONSENTS, {"network": network, "client_ref": client_ref}).all()
    return [_consent_of(row) for row in rows]


# --- padded reads (DESIGN §4 no existence leak) ------------------------------------------------
# The access flow reads a client's relations and open consent versions with padding rows in the
# same statement (``consent.padding``): a client the broker never saw then costs the database,
# the driver and this module what a client with a few records does. The padding is stored
# (migration 0012): records of the padding owner ``PADDING``, about no client and naming nobody
# ("-" wherever an id goes: no partner, type or network has that name, and no id the broker
# makes starts with "-"), that can never cover anything: a relation over before it began, a
# consent in force whose one recipient is the partner "-".

NOBODY = PADDING
_REAL_RELATIONS = sa_select(*_RELATION_COLUMNS).where(
    _REL.c.network == bindparam("network"), _REL.c.client_ref == bindparam("client_ref"))
_PADDING_RELATIONS = sa_select(*_RELATION_COLUMNS).where(
    _REL.c.network == PADDING, _REL.c.client_ref == PADDING)
_PADDING_CONSENTS = sa_select(*_CONSENT_COLUMNS).where(
    _CV.c.network == PADDING, _CV.c.client_ref == PADDING, _CV.c.revoked_at.is_(None))


def _padded_relations(bucket: int) -> CompoundSelect[Any]:
    return padded(_REAL_RELATIONS, padding=_PADDING_RELATIONS, bucket=bucket,
                  order_by=("starts_at", "id"))


def _padded_consents(bucket: int) -> CompoundSelect[Any]:
    return padded(_OPEN_CONSENTS, padding=_PADDING_CONSENTS, bucket=bucket)


_PADDED: dict[tuple[str, int], CompoundSelect[Any]] = {}


def _statement(kind: str, bucket: int) -> CompoundSelect[Any]:
    """The padded statement of ``kind`` for ``bucket``, built once (so compiled once)."""
    found = _PADDED.get((kind, bucket))
    if found is None:
        build = _padded_relations if kind == "relations" else _padded_consents
        found = _PADDED[(kind, bucket)] = build(bucket)
    return found


@dataclass(frozen=True, slots=True)
class Padded:
    """A client's relations and open consent versions, and the padding read with them (about no
    client, covering nothing: for the caller to do with them what it does with the client's,
    then drop)."""

    relations: list[HelpRelation]
    consents: list[ConsentVersion]
    padding_relations: list[HelpRelation]
    padding_consents: list[ConsentVersion]


def padded_records(*, session: Session, network: str, client_ref: str, relation_bucket: int,
                   consent_bucket: int) -> Padded:
    """What ``relations_of_client`` and ``open_consents`` give (relations in the same order),
    each read in one statement with padding up to the next multiple of its bucket (at least
    one bucket)."""
    params = {"network": network, "client_ref": client_ref}
    conn = session.connection()
    relations: tuple[list[HelpRelation], list[HelpRelation]] = ([], [])
    for row in conn.execute(_statement("relations", relation_bucket), params):
        relations[row[-1] != 0].append(_relation_of(row[:-1]))
    consents: tuple[list[ConsentVersion], list[ConsentVersion]] = ([], [])
    for row in conn.execute(_statement("consents", consent_bucket), params):
        consents[row[-1] != 0].append(_consent_of(row[:-1]))
    return Padded(relations=relations[0], consents=consents[0],
                  padding_relations=relations[1], padding_consents=consents[1])
