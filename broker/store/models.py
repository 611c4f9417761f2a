"""Tables of the dossier store (DESIGN §3, §6). Schema changes go through Alembic migrations."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Float, LargeBinary, String, UniqueConstraint
from sqlmodel import Column, Field, SQLModel

from consent.tables import AwareDateTime

# One aware-UTC column type for every table; it lives in ``consent`` because ``consent`` may not
# import the broker, while the broker may import ``consent`` (STYLE.md, dependencies point inward).
UTCDateTime = AwareDateTime


def _utc(**kw: Any) -> Any:
    return Field(sa_column=Column(UTCDateTime(), **kw))


class Client(SQLModel, table=True):
    """A citizen. The INSZ is stored only encrypted; lookups go by the keyed pseudonym ``ref``.

    ``data_key_wrapped`` is the client's AES-256 data key wrapped by the KEK ``kek_id``; erasure
    (GDPR art. 17) sets it to NULL, which leaves every ciphertext of this client unreadable.
    """

    __tablename__ = "client"
    __table_args__ = (UniqueConstraint("network", "ref", name="uq_client_network_ref"),)

    id: str = Field(primary_key=True, max_length=40)
    network: str = Field(max_length=64)
    ref: str = Field(max_length=64)
    insz_ct: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    kek_id: str = Field(max_length=64)
    data_key_wrapped: bytes | None = Field(default=None, sa_column=Column(LargeBinary))
    created_at: datetime = _utc(nullable=False)
    erased_at: datetime | None = _utc(nullable=True)


REDACTED = b""
"""``Entry.content_ct`` of a redacted entry (``gbo-broker entry redact``): empty, which no
AES-GCM ciphertext is (nonce and tag alone are 28 bytes), so no column is needed for it."""


class Entry(SQLModel, table=True):
    """One record in one section of a client's dossier; ``content_ct`` is AES-GCM ciphertext,
    or ``REDACTED`` once an operator redacted the entry (its content is gone, the entry stays)."""

    __tablename__ = "entry"

    id: str = Field(primary_key=True, max_length=40)
    client_id: str = Field(foreign_key="client.id", max_length=40)
    section: str = Field(max_length=64)
    author: str = Field(max_length=64)
    worker: str = Field(max_length=64)
    restricted: bool = False
    created_at: datetime = _utc(nullable=False)
    content_ct: bytes = Field(sa_column=Column(LargeBinary, nullable=False))

    @property
    def is_redacted(self) -> bool:
        return self.content_ct == REDACTED


class UsedToken(SQLModel, table=True):
    """Seen partner-token ids (DESIGN §6: ``jti`` single use), kept until the token expires."""

    __tablename__ = "used_token"

    issuer: str = Field(primary_key=True, max_length=64)
    jti: str = Field(sa_column=Column(String(128), primary_key=True))
    expires_at: datetime = _utc(nullable=False)


class PresenceChallenge(SQLModel, table=True):
    """DESIGN §9: a challenge for the client's eID card, single use, bound to the partner that
    asked and to the client (pseudonym). Only its SHA-256 is stored."""

    __tablename__ = "presence_challenge"

    challenge_hash: str = Field(primary_key=True, max_length=64)
    partner: str = Field(max_length=64)
    network: str = Field(max_length=64)
    client_ref: str = Field(max_length=64)
    created_at: datetime = _utc(nullable=False)
    expires_at: datetime = _utc(nullable=False)
    used_at: datetime | None = _utc(nullable=True)


class AttestationReview(SQLModel, table=True):
    """DESIGN §9: the supervisor's review of a consent or relation recorded on a worker's word
    (proof ``attested``): when, by whom, and a note (never dossier content)."""

    __tablename__ = "attestation_review"

    record_kind: str = Field(primary_key=True, max_length=16)  # consent | relation
    record_id: str = Field(primary_key=True, max_length=40)
    reviewed_at: datetime = _utc(nullable=False)
    reviewer: str = Field(max_length=64)
    note: str = Field(max_length=500)


class PortalSessionRecord(SQLModel, table=True):
    """DESIGN §2, §6: a logged-in portal session (``/mijn`` or ``/audit``), so that the server, not
    the cookie, decides whether it still holds: logging out deletes the row, and a saved copy of
    the cookie is no session any more. ``id`` is the SHA-256 of the session id sealed in the
    cookie (the id itself is never stored); ``subject`` is a keyed hash of who logged in (never an
    INSZ), used to cap the sessions one person holds."""

    __tablename__ = "portal_session"

    id: str = Field(primary_key=True, max_length=64)
    portal: str = Field(max_length=16)  # client | auditor
    subject: str = Field(max_length=64, index=True)
    created_at: datetime = _utc(nullable=False)
    expires_at: datetime = _utc(nullable=False, index=True)


class RateBucket(SQLModel, table=True):
    """A token bucket of the rate limits (``broker.store.rate_limits``): ``tokens`` left at
    ``updated`` (seconds since the epoch). ``bucket`` names whom it counts: ``partner:<id>`` or
    ``session:<hash of the portal session id>``, never a caller-chosen value."""

    __tablename__ = "rate_bucket"

    bucket: str = Field(primary_key=True, max_length=80)
    tokens: float = Field(sa_column=Column(Float, nullable=False))
    updated: float = Field(sa_column=Column(Float, nullable=False, index=True))


class RateLimitRefusal(SQLModel, table=True):
    """How often a partner was refused for going over its rate limit, per UTC day: what the
    auditor portal shows (``/audit/limieten``). Not an audit entry: see ``docs/operations.md``."""

    __tablename__ = "rate_limit_refusal"

    partner: str = Field(primary_key=True, max_length=64)
    day: str = Field(primary_key=True, max_length=10)  # YYYY-MM-DD (UTC)
    refused: int
    first_at: datetime = _utc(nullable=False)
    last_at: datetime = _utc(nullable=False)
