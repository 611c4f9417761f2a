"""The client's own view of what the broker holds and did (DESIGN §2, §5): their dossier and
their access log. Both are keyed by pseudonym per network; a client with consents or relations
but no dossier entry (so no client record yet) still has an access log."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlmodel import Session

from broker import dossier
from broker.audit_log import decode, decrypt_detail
from broker.context import BrokerContext
from broker.errors import ClientNotFound

MAX_LOG_ENTRIES = 10_000


@dataclass(frozen=True)
class AccessLogItem:
    index: int
    time: str
    kind: str
    partner: str | None
    worker: str | None
    purpose: str | None
    sections: dict[str, Any]
    break_glass: bool
    notice: bool  # the decision obliged the broker to tell the client (notify_client)
    detail: dict[str, Any] | None


def access_log(*, ctx: BrokerContext, session: Session, insz: str) -> list[AccessLogItem]:
    """Every access to the client's data, oldest first, with the encrypted detail (released
    entries, a break-glass justification) decrypted with the client's own data key (issue 3
    item 6, issue 5 item 6). Raises ``ClientErased`` after erasure."""
    refs = {(network, ctx.keyring.client_ref(network, insz)) for network in ctx.registry.networks}
    keys: dict[tuple[str, str], bytes] = {}
    for network, _ in refs:
        client = dossier.find_client(session, keyring=ctx.keyring, network=network, insz=insz)
        if client is not None:
            keys[(client.network, client.ref)] = ctx.keyring.data_key(client)
    found = ctx.audit.log.store.find_leaves(clients=sorted(refs), kind_prefix="access.",
                                            limit=MAX_LOG_ENTRIES)
    items = []
    for stored in found:
        entry = decode(stored)
        key = keys.get((entry["network"], entry["client"]))
        items.append(AccessLogItem(
            index=stored.index, time=entry["time"], kind=entry["kind"], partner=entry["partner"],
            worker=entry["worker"], purpose=entry["purpose"], sections=entry["sections"],
            break_glass=entry["break_glass"],
            notice="notify_client" in entry.get("facts", {}).get("obligations", []),
            detail=decrypt_detail(entry, key) if key is not None else None,
        ))
    return items


def own_dossier(*, ctx: BrokerContext, session: Session, insz: str) -> list[dossier.DecryptedEntry]:
    """Everything recorded about the client in any network, except working notes (DESIGN §4).
    Raises ``ClientErased`` after erasure."""
    entries: list[dossier.DecryptedEntry] = []
    for network in ctx.registry.networks:
        try:
            entries += dossier.read_own_dossier(session=session, keyring=ctx.keyring,
                                                catalogue=ctx.catalogue, network=network,
                                                insz=insz)
        except ClientNotFound:
            continue
    return entries
