"""Bodies of the audit log's endpoints (DESIGN §5, §7): proofs, stored leaves, entries."""

from __future__ import annotations

import base64
from typing import Any

from pydantic import BaseModel

from audit.entry import INDEXED_FIELDS
from audit.merkle import leaf_hash


class ProofPublic(BaseModel):
    hashes: list[str]

    @classmethod
    def of(cls, hashes: list[bytes]) -> ProofPublic:
        return cls(hashes=[base64.b64encode(h).decode() for h in hashes])


class LeafPublic(BaseModel):
    """A stored leaf's exact bytes (base64) and its RFC 6962 leaf hash, for independent hashing,
    and the query columns stored beside it (DESIGN §9: a verifier checks them against the
    bytes)."""

    index: int
    leaf: str
    leaf_hash: str
    columns: dict[str, Any] | None = None

    @classmethod
    def of(cls, index: int, leaf: bytes,
           columns: tuple[object, ...] | None = None) -> LeafPublic:
        return cls(index=index, leaf=base64.b64encode(leaf).decode(),
                   leaf_hash=base64.b64encode(leaf_hash(leaf)).decode(),
                   columns=None if columns is None
                   else dict(zip(INDEXED_FIELDS, columns, strict=True)))


class LeafPage(BaseModel):
    leaves: list[LeafPublic]
    next: int | None


class EntryPage(BaseModel):
    entries: list[dict[str, Any]]
    cursor: str | None
