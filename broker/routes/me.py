"""The client's own view (DESIGN §5): ``GET /v1/me/dossier``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel

from broker import dossier
from broker.audit_log import decode, decrypt_detail
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


class AccessLogEntry(BaseModel):
    index: int
    time: str
    kind: str
    partner: str | None
    worker: str | None
    purpose: str | None
    sections: dict[str, dict[str, Any]]
    break_glass: bool
    detail: dict[str, Any] | None


class AccessLogPublic(BaseModel):
    entries: list[AccessLogEntry]


@router.get("/access-log", response_model=AccessLogPublic)
def my_access_log(
    principal: CurrentClient, ctx: ContextDep, session: SessionDep
) -> AccessLogPublic:
    """Every access to the client's dossier: who, when, for which purpose, per-section verdicts,
    break-glass flagged, with the detail (released entries, justification) decrypted with the
    client's own data key (issue 3 item 6). Raises ``ClientErased`` after erasure."""
    clients = [
        c
        for network in ctx.registry.networks
        if (
            c := dossier.find_client(
                session, keyring=ctx.keyring, network=network, insz=principal.insz
            )
        )
        is not None
    ]
    keys = {(c.network, c.ref): ctx.keyring.data_key(c) for c in clients}
    found = (
        ctx.audit.log.store.find_leaves(clients=list(keys), kind_prefix="access.", limit=10_000)
        if keys
        else []
    )
    out = []
    for stored in found:
        entry = decode(stored)
        out.append(
            AccessLogEntry(
                index=stored.index,
                time=entry["time"],
                kind=entry["kind"],
                partner=entry["partner"],
                worker=entry["worker"],
                purpose=entry["purpose"],
                sections=entry["sections"],
                break_glass=entry["break_glass"],
                detail=decrypt_detail(entry, keys[(entry["network"], entry["client"])]),
            )
        )
    return AccessLogPublic(entries=out)
