"""Pieces every resource's bodies share."""

from __future__ import annotations

import base64

from pydantic import BaseModel, ConfigDict

from audit.store import Appended


class RequestBody(BaseModel):
    """DESIGN §5: unknown fields in request bodies are rejected (422)."""

    model_config = ConfigDict(extra="forbid")


class AuditReceipt(BaseModel):
    """Where the decision was logged before anything was released (DESIGN §6)."""

    index: int
    leaf_hash: str

    @classmethod
    def of(cls, appended: Appended) -> AuditReceipt:
        return cls(index=appended.index, leaf_hash=base64.b64encode(appended.leaf_hash).decode())
