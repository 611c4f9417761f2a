"""The client's own view (DESIGN §5): ``GET /v1/me/dossier``."""

from __future__ import annotations

from fastapi import APIRouter

from broker import dossier
from broker.deps import ContextDep, CurrentClient, SessionDep
from broker.errors import ClientNotFound
from broker.schemas import DossierPublic, EntryPublic

router = APIRouter(prefix="/v1/me", tags=["clients"])


@router.get("/dossier", response_model=DossierPublic)
def my_dossier(principal: CurrentClient, ctx: ContextDep, session: SessionDep) -> DossierPublic:
    """Everything recorded about the client in any network, except working notes (DESIGN §4)."""
    entries: list[dossier.DecryptedEntry] = []
    for network in ctx.registry.networks:
        try:
            entries += dossier.read_own_dossier(
                session=session,
                keyring=ctx.keyring,
                catalogue=ctx.catalogue,
                network=network,
                insz=principal.insz,
            )
        except ClientNotFound:
            continue
    return DossierPublic(entries=[EntryPublic(**vars(e)) for e in entries])
