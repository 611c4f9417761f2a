"""Tables of help relations, consent versions and withdrawal notifications (SQLModel).

Rows hold the client pseudonym (``client_ref``), never an INSZ (DESIGN §3). ``consent.store``
maps them to and from the frozen records of ``consent.models``; the schema itself is created by
the broker's Alembic migration ``0003``.

- ``help_relation``: one row per declared relation; ``ended_at`` is stamped once when it ends.
- ``consent_version``: one row per version, keyed by the stable ``consent_id`` and ``version``
  (DESIGN §3: every change creates a new version; nothing is overwritten). The one stamp ever added
  to a stored version is ``revoked_at``, set once when the next version closes it.
- ``consent_notification``: the withdrawal follow-up feed of each partner (DESIGN §3), read
  by cursor (``id``); ``notification_ack`` remembers how far each partner acknowledged.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Index, Integer, LargeBinary, TypeDecorator
from sqlmodel import Column, Field, SQLModel


class AwareDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on SQLite (which drops the zone) and PostgreSQL alike.

    The broker's tables use it too (``broker.store.models.UTCDateTime``).
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: pass an aware UTC datetime")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _moment(*, nullable: bool = False) -> Any:
    return Field(default=None, sa_column=Column(AwareDateTime(), nullable=nullable))


def _json() -> Any:
    return Field(sa_column=Column(JSON, nullable=False))


class HelpRelationRow(SQLModel, table=True):
    """A partner's help relation with one client of its network (DESIGN §3)."""

    __tablename__ = "help_relation"
    __table_args__ = (
        Index("ix_help_relation_network_client", "network", "client_ref"),
        Index("ix_help_relation_partner", "partner"),
    )

    id: str = Field(primary_key=True, max_length=40)
    network: str = Field(max_length=64)
    client_ref: str = Field(max_length=64)
    partner: str = Field(max_length=64)
    declared_by: str = Field(max_length=64)  # the worker's pseudonymous id
    starts_at: datetime = _moment()
    ends_at: datetime = _moment()
    ended_at: datetime | None = _moment(nullable=True)
    created_at: datetime = _moment()
    proof: str = Field(default="attested", max_length=16)  # DESIGN §9


class ConsentVersionRow(SQLModel, table=True):
    """One version of a consent; ``(consent_id, version)`` is stable API (receipts, FHIR)."""

    __tablename__ = "consent_version"
    __table_args__ = (Index("ix_consent_version_network_client", "network", "client_ref"),)

    consent_id: str = Field(primary_key=True, max_length=40)
    version: int = Field(primary_key=True)
    change: str = Field(max_length=16)  # created | narrowed | revoked
    network: str = Field(max_length=64)
    client_ref: str = Field(max_length=64)
    recorded_by_partner: str | None = Field(default=None, max_length=64)  # None: the client
    recipients: list[dict[str, str]] = _json()
    purposes: list[str] = _json()
    sections: list[str] = _json()
    valid_from: datetime = _moment()
    valid_until: datetime = _moment()
    evidence: dict[str, Any] = _json()
    grantor: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    help_relation_id: str | None = Field(
        default=None, max_length=40, foreign_key="help_relation.id"
    )
    revoked_at: datetime | None = _moment(nullable=True)
    created_at: datetime = _moment()
    proof: str = Field(default="attested", max_length=16)  # DESIGN §9, of the first version
    recorded_at: datetime = _moment()  # when the consent was first recorded
    on_behalf_of: dict[str, Any] | None = Field(
        default=None, sa_column=Column(JSON, nullable=True)
    )  # DESIGN §9: {"mandate_id", "mandatary"} when a trusted person made this version


class NotificationRow(SQLModel, table=True):
    """One notice for one partner. ``kind`` ``consent_changed``: which consent changed and what
    it no longer covers (DESIGN §3). The casework kinds (DESIGN §10: ``referral_dropped``,
    ``referral_expired``, ``relation_ended``, for the client's coordinator) name the referral or
    relation and the partner concerned instead.

    Never dossier content and never the client.
    """

    __tablename__ = "consent_notification"
    __table_args__ = (Index("ix_consent_notification_partner_id", "partner", "id"),)

    id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True))
    partner: str = Field(max_length=64)
    network: str = Field(max_length=64)
    kind: str = Field(default="consent_changed", max_length=32)
    consent_id: str | None = Field(default=None, max_length=40)
    version: int | None = None
    change: str | None = Field(default=None, max_length=16)
    no_longer_covers: dict[str, Any] | None = Field(
        default=None, sa_column=Column(JSON, nullable=True)
    )
    referral_id: str | None = Field(default=None, max_length=40)
    relation_id: str | None = Field(default=None, max_length=40)
    about_partner: str | None = Field(default=None, max_length=64)
    created_at: datetime = _moment()


class NotificationAckRow(SQLModel, table=True):
    """How far a partner acknowledged its feed: every notice with ``id <= acknowledged``."""

    __tablename__ = "notification_ack"

    partner: str = Field(primary_key=True, max_length=64)
    acknowledged: int = 0


# --- client controls (DESIGN §9) -----------------------------------------------------------------


class ConsentRequestRow(SQLModel, table=True):
    """A partner's request that the client give a consent; the client decides in their portal.

    ``message_ct`` is the partner's message to the client, encrypted by the broker with the
    client's data key (this package stores bytes). ``status`` is the last decision (``pending``,
    ``approved``, ``refused``, ``withdrawn``); ``expired`` is derived from ``expires_at``.
    """

    __tablename__ = "consent_request"
    __table_args__ = (
        Index("ix_consent_request_network_client", "network", "client_ref"),
        Index("ix_consent_request_partner", "partner"),
    )

    id: str = Field(primary_key=True, max_length=40)
    network: str = Field(max_length=64)
    client_ref: str = Field(max_length=64)
    partner: str = Field(max_length=64)
    worker: str = Field(max_length=64)
    recipients: list[dict[str, str]] = _json()
    purposes: list[str] = _json()
    sections: list[str] = _json()
    valid_until: datetime = _moment()
    message_ct: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    status: str = Field(max_length=16)
    created_at: datetime = _moment()
    expires_at: datetime = _moment()
    decided_at: datetime | None = _moment(nullable=True)
    consent_id: str | None = Field(default=None, max_length=40)
    on_behalf_of: dict[str, Any] | None = Field(
        default=None, sa_column=Column(JSON, nullable=True)
    )


class ExclusionRow(SQLModel, table=True):
    """The client excludes a partner: it gets nothing of the client's dossier (DESIGN §9)."""

    __tablename__ = "client_exclusion"
    __table_args__ = (Index("ix_client_exclusion_network_client", "network", "client_ref"),)

    id: str = Field(primary_key=True, max_length=40)
    network: str = Field(max_length=64)
    client_ref: str = Field(max_length=64)
    partner: str = Field(max_length=64)
    created_at: datetime = _moment()
    ended_at: datetime | None = _moment(nullable=True)
    on_behalf_of: dict[str, Any] | None = Field(
        default=None, sa_column=Column(JSON, nullable=True)
    )


class MandateRow(SQLModel, table=True):
    """A trusted person (``mandatary_ref``) may manage, never read, the client's consents
    (DESIGN §9). ``labels_ct``: the names the two go by in the portal, encrypted by the broker
    with the client's data key."""

    __tablename__ = "mandate"
    __table_args__ = (
        Index("ix_mandate_network_client", "network", "client_ref"),
        Index("ix_mandate_network_mandatary", "network", "mandatary_ref"),
    )

    id: str = Field(primary_key=True, max_length=40)
    network: str = Field(max_length=64)
    client_ref: str = Field(max_length=64)
    mandatary_ref: str = Field(max_length=64)
    role: str = Field(max_length=32)  # trusted_person | legal_representative
    proof: str = Field(max_length=16)  # client | eid
    recorded_by_partner: str | None = Field(default=None, max_length=64)
    valid_from: datetime = _moment()
    valid_until: datetime = _moment()
    revoked_at: datetime | None = _moment(nullable=True)
    created_at: datetime = _moment()
    labels_ct: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
