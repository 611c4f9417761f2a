"""Tables of the signal function (DESIGN §11): signals and their follow-ups, bundles with their
frozen figures, the privacy budget spent per network and year, clients' opt-outs of secondary
use, and the keyed digests of clients' names that screening matches against. Schema changes go
through Alembic migrations (0010)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Date, Float, Index, Text, UniqueConstraint
from sqlmodel import Column, Field, SQLModel

from broker.store.models import UTCDateTime


def _utc(**kw: Any) -> Any:
    return Field(sa_column=Column(UTCDateTime(), **kw))


class Signal(SQLModel, table=True):
    """A structural signal of a network: a gap in the offer or an exclusion mechanism. ``owner``
    is the partner that leads it (*trekker*); ``partners`` the partners that back it. Title and
    description passed screening (``broker.services.screening``) before they were stored."""

    __tablename__ = "signal"

    id: str = Field(primary_key=True, max_length=40)
    network: str = Field(max_length=64, index=True)
    theme: str = Field(max_length=40)
    title: str = Field(max_length=200)
    description: str = Field(sa_column=Column(Text, nullable=False))
    owner: str = Field(max_length=64)
    partners: list[str] = Field(sa_column=Column(JSON, nullable=False))
    status: str = Field(max_length=24)
    created_by: str = Field(max_length=64)
    created_at: datetime = _utc(nullable=False)
    updated_at: datetime = _utc(nullable=False)


class SignalFollowUp(SQLModel, table=True):
    """One step in a signal's history: a note, and the status or owner it set, if any.
    ``actor`` is a partner id or ``coordinator``."""

    __tablename__ = "signal_follow_up"

    id: str = Field(primary_key=True, max_length=40)
    signal_id: str = Field(foreign_key="signal.id", max_length=40, index=True)
    actor: str = Field(max_length=64)
    note: str = Field(sa_column=Column(Text, nullable=False))
    status: str | None = Field(default=None, max_length=24)
    owner: str | None = Field(default=None, max_length=64)
    created_at: datetime = _utc(nullable=False)


class SignalBundle(SQLModel, table=True):
    """A bundle of a network's signals and figures for a period (``period_from`` to
    ``period_to``, both included). Released once: ``figures`` and ``signals`` are then frozen
    (only noisy, suppressed values: raw counts are never stored) and the row never changes."""

    __tablename__ = "signal_bundle"

    id: str = Field(primary_key=True, max_length=40)
    network: str = Field(max_length=64, index=True)
    period_from: date = Field(sa_column=Column(Date, nullable=False))
    period_to: date = Field(sa_column=Column(Date, nullable=False))
    status: str = Field(max_length=16)  # draft | released
    created_at: datetime = _utc(nullable=False)
    released_at: datetime | None = _utc(nullable=True)
    epsilon: float | None = Field(default=None, sa_column=Column(Float, nullable=True))
    figures: list[dict[str, Any]] | None = Field(default=None, sa_column=Column(JSON))
    signals: list[dict[str, Any]] | None = Field(default=None, sa_column=Column(JSON))


class PrivacySpend(SQLModel, table=True):
    """The privacy budget (ε) a network spent in a calendar year (DESIGN §11): raised only by a
    conditional update that keeps it within the year's budget."""

    __tablename__ = "privacy_spend"

    network: str = Field(primary_key=True, max_length=64)
    year: int = Field(primary_key=True)
    spent: float = Field(sa_column=Column(Float, nullable=False))


class SecondaryUseOptOut(SQLModel, table=True):
    """A client's opt-out of secondary use (DESIGN §11): while active, the client is left out of
    every figure of that network. By pseudonym only."""

    __tablename__ = "secondary_use_opt_out"
    __table_args__ = (Index("ix_opt_out_network_client", "network", "client_ref"),)

    id: str = Field(primary_key=True, max_length=40)
    network: str = Field(max_length=64)
    client_ref: str = Field(max_length=64)
    created_at: datetime = _utc(nullable=False)
    ended_at: datetime | None = _utc(nullable=True)


class ClientNameDigest(SQLModel, table=True):
    """A keyed digest (HMAC-SHA-256 with the network's secret) of a client's normalised full
    name, from an ``identiteit`` entry: what screening matches a signal's words against, without
    a clear name outside the encrypted dossier (``broker.services.name_index``). Deleted with the
    entry's content (redaction) or the client (erasure)."""

    __tablename__ = "client_name_digest"
    __table_args__ = (
        UniqueConstraint("entry_id", "digest", name="uq_client_name_digest"),
        Index("ix_client_name_digest_lookup", "network", "digest"),
    )

    id: int | None = Field(default=None, primary_key=True)
    network: str = Field(max_length=64)
    digest: str = Field(max_length=64)
    client_id: str = Field(max_length=40, index=True)
    entry_id: str = Field(max_length=40)
