"""Bodies of the help-relation endpoints (DESIGN §3, §5): ``POST /v1/relations``, its end, and
the client's ``GET /v1/me/relations``. A relation shown names the partner, never the client."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from broker.bounds import AwareMoment
from broker.schemas.common import RequestBody
from broker.schemas.presence import PresenceIn
from consent.insz import Insz
from consent.models import HelpRelation, Proof


class HelpRelationCreate(RequestBody):
    """``POST /v1/relations``: the partner declares it helps the client (default end: 12 months).
    With ``presence`` (the client's eID at the desk) the relation's proof is ``eid``, otherwise
    ``attested`` (DESIGN §9)."""

    insz: Insz
    end: AwareMoment | None = None
    presence: PresenceIn | None = None


class HelpRelationPublic(BaseModel):
    id: str
    partner: str
    start: datetime
    end: datetime
    ended_at: datetime | None
    valid: bool
    proof: Proof

    @classmethod
    def of(cls, rel: HelpRelation, *, valid: bool) -> HelpRelationPublic:
        return cls(id=rel.id, partner=rel.partner, start=rel.start, end=rel.end,
                   ended_at=rel.ended_at, valid=valid, proof=rel.proof)


class RelationsPublic(BaseModel):
    relations: list[HelpRelationPublic]
