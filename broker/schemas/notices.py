"""``GET /v1/me/notices`` (DESIGN §9): what partners recorded about the client at their desk."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel

from consent.models import Proof


class DeskRecord(BaseModel):
    """A consent or help relation a partner recorded for the client: ``proof`` says whether
    the client's eID was read (``eid``) or the worker's word is all there is (``attested``:
    ``revocable`` in one click while it is in force)."""

    kind: Literal["consent", "relation"]
    id: str
    network: str
    partner: str
    proof: Proof
    recorded_at: datetime
    in_force: bool
    revocable: bool


class DeskRecords(BaseModel):
    records: list[DeskRecord]
