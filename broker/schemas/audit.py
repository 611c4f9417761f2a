"""Bodies of the audit log's endpoints (DESIGN §5, §7): proofs, stored leaves, entries."""

from __future__ import annotations

import base64
from typing import Any

from pydantic import BaseModel

from audit.merkle import leaf_hash


class ProofPublic(BaseModel):
    hashes: list[str]

    @classmethod
    def of(cls, hashes: list[bytes]) -> ProofPublic:
        return cls(hashes=[base64.b64encode(h).decode() for h in hashes])


class LeafPublic(BaseModel):
    """A stored leaf's exact bytes (base64) and its RFC 6962 leaf hash, for independent hashing."""

    index: int
    leaf: str
    leaf_hash: str

    @classmethod
    def of(cls, index: int, leaf: bytes) -> LeafPublic:
        return cls(index=index, leaf=base64.b64encode(leaf).decode(),
                   leaf_hash=base64.b64encode(leaf_hash(leaf)).decode())


class LeafPage(BaseModel):
    leaves: list[LeafPublic]
    next: int | None


class EntryPage(BaseModel):
    entries: list[dict[str, Any]]
    cursor: str | None
