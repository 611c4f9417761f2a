"""Bodies of the client's own view (DESIGN §5): ``GET /v1/me/access-log`` (the dossier itself is
``broker.schemas.dossier.DossierPublic``)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


class AccessLogEntry(BaseModel):
    """One access to the client's data as the client reads it: who (partner, pseudonymous
    worker), when, why, the verdict per section, break-glass flagged, whether the decision obliged
    a notice to the client, and the detail (released entries, a break-glass justification)
    decrypted with the client's own data key (None when it cannot be: erased)."""

    index: int
    time: str
    kind: str
    partner: str | None
    worker: str | None
    purpose: str | None
    sections: dict[str, dict[str, Any]]
    break_glass: bool
    notice: bool
    detail: dict[str, Any] | None


class AccessLogPublic(BaseModel):
    entries: list[AccessLogEntry]
