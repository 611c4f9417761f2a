"""Bodies of ``GET /v1/notifications``: a partner's withdrawal notices (DESIGN §3) and, for a
client's coordinator, casework notices (DESIGN §10)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel


class NotificationPublic(BaseModel):
    """A notice. ``consent_changed`` (DESIGN §3): which consent changed (``consent_id``,
    ``version``, ``change``) and what it no longer covers. For the client's coordinator
    (DESIGN §10): ``referral_dropped`` and ``referral_expired`` name the referral
    (``referral_id``), ``relation_ended`` the relation (``relation_id``); ``partner`` is the
    partner concerned. Never dossier content, never the client."""

    id: str
    kind: Literal["consent_changed", "referral_dropped", "referral_expired", "relation_ended"]
    consent_id: str | None = None
    version: int | None = None
    change: str | None = None
    no_longer_covers: dict[str, Any] | None = None
    referral_id: str | None = None
    relation_id: str | None = None
    partner: str | None = None
    created_at: datetime


class NotificationPage(BaseModel):
    """Pass ``cursor`` back to acknowledge every notice up to it and fetch the next ones."""

    notifications: list[NotificationPublic]
    cursor: str
