"""The case consultations table (DESIGN §10: casusoverleg, art. 458ter Sw.).

A consultation is about one client (its keyed pseudonym in one network) and names its
participants, its legal basis (a catalogue code), its period and whether the client is told at
its end (``client_notice``: ``at_end``, or ``deferred`` when the authorisation says so). Its goal
and the legal basis' reference are free text: they are stored only encrypted with the client's
data key (the consultation id as associated data), so erasure shreds them with the dossier.
Whether a consultation is open at a moment is the policy's rule (``consultation.rego``); this
module only stores and reads.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, LargeBinary, Row, bindparam
from sqlalchemy import select as sa_select
from sqlmodel import Column, Field, Session, SQLModel, col, select

from broker.store.models import UTCDateTime

CLIENT_NOTICES = ("at_end", "deferred")


class CaseConsultation(SQLModel, table=True):
    __tablename__ = "case_consultation"
    __table_args__ = (Index("ix_case_consultation_client", "network", "client_ref"),)

    id: str = Field(primary_key=True, max_length=40)
    network: str = Field(max_length=64)
    client_ref: str = Field(max_length=64)
    client_id: str = Field(max_length=40)
    legal_basis: str = Field(max_length=32)
    secret_ct: bytes = Field(sa_column=Column(LargeBinary, nullable=False))  # goal, reference
    participants: list[str] = Field(sa_column=Column(JSON, nullable=False))
    client_notice: str = Field(max_length=16)
    opened_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    opened_by: str = Field(max_length=64)
    until: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    closed_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(),
                                                                      nullable=True))
    closed_by: str | None = Field(default=None, max_length=64)

    def ends_at(self) -> datetime:
        """When access ends: its end date, or its closing if earlier. For display and the
        client's notice; access itself is decided by the policy from the same facts."""
        return self.until if self.closed_at is None else min(self.until, self.closed_at)


def add(session: Session, consultation: CaseConsultation) -> None:
    session.add(consultation)


def get(session: Session, consultation_id: str) -> CaseConsultation | None:
    return session.get(CaseConsultation, consultation_id)


def of_client(session: Session, *, network: str, client_ref: str) -> list[CaseConsultation]:
    """Every consultation about the client in ``network``, oldest first."""
    return list(session.exec(
        select(CaseConsultation)
        .where(CaseConsultation.network == network, CaseConsultation.client_ref == client_ref)
        .order_by(col(CaseConsultation.opened_at), col(CaseConsultation.id))))


# The access flow reads a client's consultations on every request (DESIGN §10): a Core statement
# compiled once, read as plain tuples, not ORM instances (as the other facts it gathers).
_TABLE = CaseConsultation.__table__  # type: ignore[attr-defined]
_FACTS_OF_CLIENT = (
    sa_select(_TABLE.c.id, _TABLE.c.client_ref, _TABLE.c.participants, _TABLE.c.opened_at,
              _TABLE.c.until, _TABLE.c.closed_at)
    .where(_TABLE.c.network == bindparam("network"),
           _TABLE.c.client_ref == bindparam("client_ref"))
    .order_by(_TABLE.c.opened_at, _TABLE.c.id)
)


def facts_of_client(session: Session, *, network: str,
                    client_ref: str) -> Sequence[Row[Any, Any, Any, Any, Any, Any]]:
    """(id, client_ref, participants, opened_at, until, closed_at) of every consultation about
    the client in ``network``, oldest first."""
    return session.connection().execute(
        _FACTS_OF_CLIENT, {"network": network, "client_ref": client_ref}).all()


def of_clients(session: Session, refs: Collection[tuple[str, str]]) -> list[CaseConsultation]:
    """Every consultation about any of ``refs`` ((network, pseudonym) pairs), oldest first."""
    found = [c for network, ref in sorted(refs)
             for c in of_client(session, network=network, client_ref=ref)]
    return sorted(found, key=lambda c: (c.opened_at, c.id))


def listing(session: Session, *, network: str | None = None,
            limit: int = 200) -> Sequence[CaseConsultation]:
    """The newest consultations (of ``network``, or of every network)."""
    query = select(CaseConsultation).order_by(col(CaseConsultation.opened_at).desc(),
                                              col(CaseConsultation.id).desc()).limit(limit)
    if network is not None:
        query = query.where(CaseConsultation.network == network)
    return session.exec(query).all()


def by_ids(session: Session, ids: Collection[str]) -> dict[str, CaseConsultation]:
    if not ids:
        return {}
    rows = session.exec(select(CaseConsultation).where(col(CaseConsultation.id).in_(list(ids))))
    return {c.id: c for c in rows}
