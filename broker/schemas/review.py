"""Bodies of the supervisor's review queue of attested records (DESIGN §9)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field, StrictStr

from broker.schemas.common import RequestBody


class AttestedPublic(BaseModel):
    kind: Literal["consent", "relation"]
    id: str
    network: str
    partner: str
    recorded_at: datetime
    reviewed_at: datetime | None
    reviewer: str | None
    note: str | None


class PartnerMonth(BaseModel):
    partner: str
    month: str
    consents: int
    relations: int


class ReviewQueue(BaseModel):
    """Attested records (newest first) and how many each partner recorded per month."""

    records: list[AttestedPublic]
    per_partner_month: list[PartnerMonth]


class ReviewIn(RequestBody):
    note: StrictStr = Field(min_length=1, max_length=500)
