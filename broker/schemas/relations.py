"""Bodies of the help-relation endpoints (DESIGN §3, §5): ``POST /v1/relations``, its end, and
the client's ``GET /v1/me/relations``. A relation shown names the partner, never the client."""

from __future__ import annotations

from datetime import datetime

from pydantic import AwareDatetime, BaseModel

from broker.schemas.common import RequestBody
from consent.insz import Insz
from consent.models import HelpRelation


class HelpRelationCreate(RequestBody):
    """``POST /v1/relations``: the partner declares it helps the client (default end: 12 months)."""

    insz: Insz
    end: AwareDatetime | None = None


class HelpRelationPublic(BaseModel):
    id: str
    partner: str
    start: datetime
    end: datetime
    ended_at: datetime | None
    valid: bool

    @classmethod
    def of(cls, rel: HelpRelation, *, valid: bool) -> HelpRelationPublic:
        return cls(id=rel.id, partner=rel.partner, start=rel.start, end=rel.end,
                   ended_at=rel.ended_at, valid=valid)


class RelationsPublic(BaseModel):
    relations: list[HelpRelationPublic]
