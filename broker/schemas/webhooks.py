"""Bodies of ``/v1/webhooks/...``: a partner's dead letters (docs/webhooks.md)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel


class DeadLetterPublic(BaseModel):
    """An event whose every delivery attempt failed. ``id`` is its ``webhook-id``; ``payload``
    is the body that was sent (ids and kinds only). ``last_error`` is one of ``timeout``,
    ``connection``, ``redirect``, ``status``, ``request``."""

    id: str
    type: str
    payload: str
    created_at: datetime
    attempts: int
    last_attempt_at: datetime | None
    last_status: int | None
    last_error: str | None


class DeadLetterPage(BaseModel):
    """Pass ``cursor`` back for the next page (dead letters stay listed until redelivered)."""

    dead_letters: list[DeadLetterPublic]
    cursor: str


class Redelivery(BaseModel):
    """The event is pending again, due at once, with a fresh count of attempts."""

    id: str
    state: str
