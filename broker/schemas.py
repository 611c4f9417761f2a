"""Request and response bodies of the v1 API. Request bodies reject unknown fields (DESIGN §5)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictStr

from consent.insz import Insz


class RequestBody(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EntryCreate(RequestBody):
    insz: Insz
    section: StrictStr = Field(min_length=1, max_length=64)
    content: dict[str, Any] = Field(description="The entry's JSON object; stored encrypted.")
    restricted: StrictBool = False

    def __repr__(self) -> str:
        return f"EntryCreate(section={self.section!r}, restricted={self.restricted})"

    __str__ = __repr__


class EntryCreated(BaseModel):
    id: str


class EntryPublic(BaseModel):
    id: str
    section: str
    author: str
    restricted: bool
    created_at: datetime
    content: dict[str, Any]


class DossierPublic(BaseModel):
    entries: list[EntryPublic]
