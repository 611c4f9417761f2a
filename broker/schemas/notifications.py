"""Bodies of ``GET /v1/notifications``: a partner's withdrawal notices (DESIGN §3)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel


class NotificationPublic(BaseModel):
    """A withdrawal notice: which consent changed and what it no longer covers (never dossier
    content, never the client)."""

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
