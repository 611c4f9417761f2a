"""HTTP bodies of the consent and relation endpoints (issue 4), on top of ``consent.models``.

Request bodies forbid unknown fields (DESIGN §5). Responses name the client only by pseudonym
where at all; never by INSZ.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel

from consent.models import (
    ClientConsentCreate,
    ConsentPublic,
    ConsentStatus,
    HelpRelationPublic,
    Name,
)
from consent.store import ConsentChange


class MeConsentCreate(ClientConsentCreate):
    """``POST /v1/me/consents``. ``network`` is needed only when the broker serves several."""

    network: Name | None = None


class RelationsPublic(BaseModel):
    relations: list[HelpRelationPublic]


class ConsentVersionPublic(ConsentPublic):
    """One version as the client reads it: what produced it and whether a later one replaced it.

    ``previous_version_id`` equals ``id`` from version 2 on: ids are stable across versions and
    ``(id, version - 1)`` is the previous one (``consent.store``).
    """

    network: str
    change: ConsentChange
    recorded_by_partner: str | None
    superseded: bool


class ConsentHistory(BaseModel):
    """One consent: its current version and every version, oldest first (issue 4 item 2)."""

    id: str
    status: ConsentStatus
    current: ConsentVersionPublic
    versions: list[ConsentVersionPublic]


class ConsentsPublic(BaseModel):
    consents: list[ConsentHistory]


class SignedReceipt(BaseModel):
    """Issue 4 item 3: the receipt and its compact JWS (EdDSA; verify with the broker's JWKS)."""

    receipt: dict[str, Any]
    jws: str


class ConsentChanged(SignedReceipt):
    """The version a change created, with its signed receipt."""

    consent: ConsentVersionPublic


class NotificationPublic(BaseModel):
    """A withdrawal notice (issue 4 item 5): which consent changed and what it no longer covers."""

    id: str
    consent_id: str
    version: int
    change: str
    no_longer_covers: dict[str, Any]
    created_at: datetime


class NotificationPage(BaseModel):
    """Pass ``cursor`` back to acknowledge every notice up to it and fetch the next ones."""

    notifications: list[NotificationPublic]
    cursor: str
