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

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, cast
from weakref import WeakKeyDictionary

from sqlalchemy import bindparam, update
from sqlalchemy import select as sa_select
from sqlalchemy.engine import Dialect
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
    return _relation_of((row.id, row.partner, row.client_ref, row.starts_at, row.ends_at,
                         row.ended_at, row.proof))


def _relation_of(values: Sequence[Any]) -> HelpRelation:
    """A relation from the columns ``_RELATION_COLUMNS`` reads, in that order."""
    id_, partner, client_ref, start, end, ended_at, proof = values
    return HelpRelation(id=id_, partner=partner, client_ref=client_ref, start=start, end=end,
                        ended_at=ended_at, proof=proof_of(proof))


# The access flow reads a client's relations and open consent versions on every request: Core
# statements, compiled once, read plain tuples. No ORM instance is built per row, so a client with
# records costs about what ``load_work`` makes one without them cost (DESIGN §4 no existence
# leak); the ORM's per-row identity and state bookkeeping was the residual difference.
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


# --- the work of loading, without loading --------------------------------------------------------

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


# The decoys, as the access flow's statements read a row (``_RELATION_COLUMNS``,
# ``_CONSENT_COLUMNS``).
_DECOY_RELATION: tuple[Any, ...] = ("r-decoy", "", "", _EPOCH, _EPOCH, None, "attested")
_DECOY_CONSENT: tuple[Any, ...] = (
    "cs-decoy", 1, "", "", [{"kind": "partner", "id": "-"}], ["-"], ["-"], _EPOCH, _EPOCH,
    {"method": "portal"}, None, None, None, _EPOCH, "attested", _EPOCH, None)

_Processor = Callable[[Any], Any] | None
_Raw = tuple[list[_Processor], list[Any]]
# Per dialect instance (its processors follow its settings, e.g. its JSON deserialiser).
_RAW_DECOYS: WeakKeyDictionary[Dialect, tuple[_Raw, _Raw]] = WeakKeyDictionary()


def _raw(dialect: Dialect, columns: Sequence[Any], values: Sequence[Any]) -> _Raw:
    """The result processing a statement applies to a column of ``dialect`` (on SQLite: JSON
    decoded, moments parsed from text) and ``values`` as that processing receives them (the
    column type's bind processing applied). A column without result processing (the driver
    decodes it, as psycopg does) keeps its value as it is."""
    processors: list[_Processor] = []
    raw: list[Any] = []
    for column, value in zip(columns, values, strict=True):
        impl = column.type.dialect_impl(dialect)
        result = impl.result_processor(dialect, None)
        bind = impl.bind_processor(dialect) if result is not None else None
        raw.append(value if bind is None or value is None else bind(value))
        processors.append(result)
    return processors, raw


def _raw_decoys(dialect: Dialect) -> tuple[_Raw, _Raw]:
    found = _RAW_DECOYS.get(dialect)
    if found is None:
        found = _RAW_DECOYS[dialect] = (
            _raw(dialect, _RELATION_COLUMNS, _DECOY_RELATION),
            _raw(dialect, _CONSENT_COLUMNS, _DECOY_CONSENT))
    return found


def _processed(raw: _Raw) -> list[Any]:
    processors, values = raw
    return [v if p is None else p(v) for p, v in zip(processors, values, strict=True)]


def load_work(*, session: Session, relations: int,
              consents: int) -> tuple[list[HelpRelation], list[ConsentVersion]]:
    """Do what loading ``relations`` help relations and ``consents`` consent versions costs in
    Python (a row as the database driver returns it, processed by its column types, then
    converted like ``relations_of_client`` and ``open_consents`` do), and return these decoys:
    about no client, never stored. For a caller whose time must not tell how many records a
    client has, or whether it has any (DESIGN §4 no existence leak)."""
    raw_relation, raw_consent = _raw_decoys(session.get_bind().dialect)
    return ([_relation_of(_processed(raw_relation)) for _ in range(relations)],
            [_consent_of(_processed(raw_consent)) for _ in range(consents)])
