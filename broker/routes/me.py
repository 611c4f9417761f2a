"""The client's own view (DESIGN §5): ``GET /v1/me/dossier`` and ``GET /v1/me/access-log``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel

from broker import client_view
from broker.deps import ContextDep, CurrentClient, SessionDep
from broker.schemas import DossierPublic, EntryPublic

router = APIRouter(prefix="/v1/me", tags=["clients"])


@router.get("/dossier", response_model=DossierPublic)
def my_dossier(principal: CurrentClient, ctx: ContextDep, session: SessionDep) -> DossierPublic:
    """Everything recorded about the client in any network, except working notes (DESIGN §4)."""
    entries = client_view.own_dossier(ctx=ctx, session=session, insz=principal.insz)
    return DossierPublic(entries=[EntryPublic(**vars(e)) for e in entries])


class AccessLogEntry(BaseModel):
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


@router.get("/access-log", response_model=AccessLogPublic)
def my_access_log(
    principal: CurrentClient, ctx: ContextDep, session: SessionDep
) -> AccessLogPublic:
    """Every access to the client's data: who, when, for which purpose, per-section verdicts,
    break-glass flagged, the detail (released entries, justification) decrypted with the
    client's own data key (issue 3 item 6). 410 after erasure."""
    items = client_view.access_log(ctx=ctx, session=session, insz=principal.insz)
    return AccessLogPublic(entries=[AccessLogEntry(**vars(item)) for item in items])
