"""Tables of casework (DESIGN §10): referrals and the coordinator of each client.

Rows hold the client pseudonym (``client_ref``), never an INSZ (DESIGN §3). A referral's message
to the receiving partner is stored encrypted with the client's data key (``message_ct``): it is
free text, so it never reaches a log or an audit leaf in clear (DESIGN §9). Created by the
Alembic migration ``0008``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, LargeBinary
from sqlmodel import Column, Field, SQLModel

from broker.store.models import UTCDateTime


def _utc(*, nullable: bool = False) -> Any:
    return Field(default=None, sa_column=Column(UTCDateTime(), nullable=nullable))


class ReferralRow(SQLModel, table=True):
    """A warm referral of one client from one partner to another (DESIGN §10).

    ``status``: ``awaiting_consent`` (the client was asked, ``consent_request_id``), ``proposed``,
    ``accepted`` (``relation_id``: the receiver's relation, proof ``referral``), ``declined``
    (``decline_reason``), ``completed``, ``dropped``, ``expired`` (not answered by
    ``expires_at``) or ``consent_refused``.
    """

    __tablename__ = "referral"
    __table_args__ = (
        Index("ix_referral_network_client", "network", "client_ref"),
        Index("ix_referral_from_partner", "from_partner"),
        Index("ix_referral_to_partner", "to_partner"),
        Index("ix_referral_status_expires_at", "status", "expires_at"),
    )

    id: str = Field(primary_key=True, max_length=40)
    network: str = Field(max_length=64)
    client_ref: str = Field(max_length=64)
    from_partner: str = Field(max_length=64)
    from_worker: str = Field(max_length=64)  # the worker's keyed pseudonym (DESIGN §9)
    to_partner: str = Field(max_length=64)
    reason: str = Field(max_length=48)  # a code of the catalogue's referral_reason list
    sections: list[str] = Field(sa_column=Column(JSON, nullable=False))
    message_ct: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    status: str = Field(max_length=24)
    consent_request_id: str | None = Field(default=None, max_length=40)
    relation_id: str | None = Field(default=None, max_length=40)
    decline_reason: str | None = Field(default=None, max_length=48)
    created_at: datetime = _utc()
    expires_at: datetime = _utc()
    updated_at: datetime = _utc()


class CoordinationRow(SQLModel, table=True):
    """The partner that keeps the overview of one client in one network (DESIGN §10)."""

    __tablename__ = "coordination"

    network: str = Field(primary_key=True, max_length=64)
    client_ref: str = Field(primary_key=True, max_length=64)
    partner: str = Field(max_length=64)
    set_by: str = Field(max_length=64)  # the worker's keyed pseudonym (DESIGN §9)
    since: datetime = _utc()
