"""Bodies of ``/v1/me/exclusions`` (DESIGN §9): the partners a client excludes."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from broker.schemas.common import RequestBody
from consent.controls import Exclusion


class ExclusionCreate(RequestBody):
    partner: str = Field(min_length=1, max_length=64, pattern=r"^[a-z0-9]+(?:-[a-z0-9]+)*$")


class ExclusionPublic(BaseModel):
    id: str
    network: str
    partner: str
    created_at: datetime
    ended_at: datetime | None
    active: bool

    @classmethod
    def of(cls, x: Exclusion, now: datetime) -> ExclusionPublic:
        return cls(id=x.id, network=x.network, partner=x.partner, created_at=x.created_at,
                   ended_at=x.ended_at, active=x.active(now))


class ExclusionsPublic(BaseModel):
    exclusions: list[ExclusionPublic]
