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
    # DESIGN §9, a receipt the client can check: the leaf's bytes (base64), and its RFC 6962
    # inclusion proof in the tree of ``tree_size`` leaves that ``AccessLogPublic.checkpoint``
    # signs (None while no witnessed checkpoint covers it yet); ``verified``: the server's own
    # check of that proof and of the checkpoint's signature (None: nothing to check yet).
    leaf: str = ""
    tree_size: int | None = None
    inclusion: list[str] | None = None
    verified: bool | None = None


class AccessLogPublic(BaseModel):
    """The client's access log with what it takes to check it: the (witnessed) checkpoint, as a
    C2SP signed note with cosignatures, and the log's verifier key."""

    entries: list[AccessLogEntry]
    checkpoint: str | None = None
    log_key: str | None = None
