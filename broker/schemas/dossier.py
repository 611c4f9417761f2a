"""Bodies of the dossier: ``POST /v1/entries`` and an entry as it is released or shown to its
client (DESIGN §3, §5)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field, StrictBool, StrictStr

from broker.schemas.common import RequestBody
from consent.insz import Insz


class EntryCreate(RequestBody):
    insz: Insz
    section: StrictStr = Field(min_length=1, max_length=64)
    content: dict[str, Any] = Field(description="The entry's JSON object; stored encrypted.")
    restricted: StrictBool = False

    def __repr__(self) -> str:  # never print the INSZ or the content
        return f"EntryCreate(section={self.section!r}, restricted={self.restricted})"

    __str__ = __repr__


class EntryCreated(BaseModel):
    id: str


class EntryPublic(BaseModel):
    """One decrypted entry: to its client, or released to a partner by a decision. A redacted
    entry (an operator removed its content, ``gbo-broker entry redact``) still shows that it
    existed: ``redacted`` true and ``content`` null."""

    id: str
    section: str
    author: str
    restricted: bool
    created_at: datetime
    content: dict[str, Any] | None
    redacted: bool = False

    def __repr__(self) -> str:  # never print the content
        return f"EntryPublic(id={self.id!r}, section={self.section!r})"

    __str__ = __repr__


class DossierPublic(BaseModel):
    entries: list[EntryPublic]
