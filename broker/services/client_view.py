"""The client's own view of what the broker holds and did (DESIGN §2, §5): their dossier and
their access log. Both are keyed by pseudonym per network; a client with consents or relations
but no dossier entry (so no client record yet) still has an access log."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlmodel import Session

from audit.checkpoint import Checkpoint, parse_checkpoint
from audit.cosignature import open_cosigned
from audit.errors import AuditError
from audit.merkle import leaf_hash, verify_inclusion
from audit.note import parse_note
from broker.context import BrokerContext
from broker.errors import ClientNotFound, DecryptionError
from broker.schemas.dossier import EntryPublic
from broker.schemas.me import AccessLogEntry
from broker.schemas.notices import DeskRecord
from broker.services import case_consultations, dossier
from broker.services.audit_scope import verified_rows
from broker.services.client_scope import ClientScope
from broker.store.audit_events import decode, decrypt_detail
from broker.witnessing import served_checkpoint
from consent import store
from consent.rules import consent_status, relation_is_valid
from consent.store import StoredConsent

MAX_LOG_ENTRIES = 10_000


def access_log(*, ctx: BrokerContext, session: Session, insz: str,
               receipts: Receipts | None = None) -> list[AccessLogEntry]:
    """Every access to the client's data, oldest first, with the encrypted detail (released
    entries, a break-glass justification) decrypted with the client's own data key (DESIGN §7).
    Raises ``ClientErased`` after erasure."""
    refs = {(network, ctx.keyring.client_ref(network, insz)) for network in ctx.registry.networks}
    keys: dict[tuple[str, str], bytes] = {}
    for network, _ in refs:
        client = dossier.find_client(session, keyring=ctx.keyring, network=network, insz=insz)
        if client is not None:
            keys[(client.network, client.ref)] = ctx.keyring.data_key(client)
    # DESIGN §9: every row shown is checked against its leaf (broker.services.audit_scope).
    found = verified_rows(ctx.audit.log.store.find_leaves(
        clients=sorted(refs), kind_prefix="access.", limit=MAX_LOG_ENTRIES))
    receipts = receipts or Receipts.of(ctx)
    # DESIGN §10: accesses under a case consultation are shown once the client is told of it
    # (at its end, unless the authorisation deferred the notice).
    entries = [decode(stored) for stored in found]
    named = {i for entry in entries for i in case_consultations.relied_on(entry)}
    untold = case_consultations.untold_ids(session=session, ids=named, now=datetime.now(UTC))
    items = []
    for stored, entry in zip(found, entries, strict=True):
        if untold & set(case_consultations.relied_on(entry)):
            continue
        key = keys.get((entry["network"], entry["client"]))
        items.append(AccessLogEntry(
            index=stored.index, time=entry["time"], kind=entry["kind"], partner=entry["partner"],
            worker=entry["worker"], purpose=entry["purpose"], sections=entry["sections"],
            break_glass=entry["break_glass"],
            notice="notify_client" in entry.get("facts", {}).get("obligations", []),
            detail=_readable_detail(entry, key),
            **receipts.receipt(stored.index, stored.leaf),
        ))
    return items


def _readable_detail(entry: dict[str, Any], key: bytes | None) -> dict[str, Any] | None:
    """The entry's detail under the client's key, or None when it is not theirs to read: an
    access asked before the client had a record was written under a decoy key that nobody
    keeps (DESIGN §4 no existence leak). The leaf itself is checked against the log
    (``verified_rows``), so a failed decryption here is never a tampering that goes unseen."""
    if key is None:
        return None
    try:
        return decrypt_detail(entry, key)
    except DecryptionError:
        return None


@dataclass(frozen=True)
class Receipts:
    """DESIGN §9: inclusion proofs of access-log items to the served (witnessed) checkpoint,
    checked on the server too, so a page without JavaScript still says whether they hold."""

    ctx: BrokerContext
    note: str | None
    checkpoint: Checkpoint | None
    signed: bool = True  # the log key's signature on ``note`` holds

    @classmethod
    def of(cls, ctx: BrokerContext) -> Receipts:
        served = served_checkpoint(ctx.audit.log.store, ctx.witnesses,
                                   ctx.settings.witness_quorum)
        if served is None:
            return cls(ctx, None, None)
        try:
            return cls(ctx, served.note,
                       open_cosigned(served.note, ctx.log_verifiers(), []).checkpoint)
        except AuditError:
            pass
        # A served checkpoint the log key did not sign: every receipt fails (never "not yet
        # confirmed"), with the proofs to its claimed root so a client can see it fail too.
        try:
            claimed: Checkpoint | None = parse_checkpoint(parse_note(served.note)[0])
        except AuditError:
            claimed = None
        return cls(ctx, served.note, claimed, signed=False)

    def receipt(self, index: int, leaf: bytes) -> dict[str, Any]:
        out: dict[str, Any] = {"leaf": base64.b64encode(leaf).decode()}
        if self.checkpoint is None:
            return out if self.signed else {**out, "verified": False}
        if index >= self.checkpoint.size:
            return out
        size = self.checkpoint.size
        try:
            proof = self.ctx.audit.log.store.inclusion_proof(index, size)
        except AuditError:  # a stored hash on its path is missing
            return {**out, "verified": False}
        try:
            verify_inclusion(leaf_hash(leaf), index, size, proof, self.checkpoint.root_hash)
            verified = self.signed
        except AuditError:
            verified = False
        return {**out, "tree_size": size, "verified": verified,
                "inclusion": [base64.b64encode(h).decode() for h in proof]}


def own_dossier(*, ctx: BrokerContext, session: Session, insz: str) -> list[EntryPublic]:
    """Everything recorded about the client in any network that the policy's client view
    releases (DESIGN §4: all but working notes). Raises ``ClientErased`` after erasure and
    ``PolicyUnavailable`` when the policy failed closed."""
    entries: list[EntryPublic] = []
    for network in ctx.registry.networks:
        try:
            entries += dossier.read_own_dossier(session=session, keyring=ctx.keyring,
                                                policy=ctx.policy, network=network, insz=insz)
        except ClientNotFound:
            continue
    return entries


def desk_records(*, session: Session, scope: ClientScope, now: datetime) -> list[DeskRecord]:
    """DESIGN §9 "the client is told": every consent and help relation a partner recorded for
    the client at its desk, newest first, with its proof; an ``attested`` consent in force can be
    revoked in one click. Under a mandate only the consents: a mandate never reaches the
    client's relations (``broker.services.client_scope``)."""
    out: list[DeskRecord] = []
    for network, ref in scope.refs.items():
        relations = store.relations_of_client(session=session, network=network, client_ref=ref)
        by_id = {r.id: r for r in relations}
        for rel in relations if scope.on_behalf_of is None else ():
            out.append(DeskRecord(kind="relation", id=rel.id, network=network,
                                  partner=rel.partner, proof=rel.proof, recorded_at=rel.start,
                                  in_force=relation_is_valid(rel, now), revocable=False))
        heads: dict[str, StoredConsent] = {}
        firsts: dict[str, StoredConsent] = {}
        for stored in store.consents_of_client(session=session, network=network, client_ref=ref):
            heads[stored.record.id] = stored
            firsts.setdefault(stored.record.id, stored)
        for consent_id, first in firsts.items():
            if first.recorded_by_partner is None:
                continue  # the client's own
            head = heads[consent_id].record
            in_force = consent_status(head, now, by_id) in ("active", "not_yet_valid")
            out.append(DeskRecord(kind="consent", id=consent_id, network=network,
                                  partner=first.recorded_by_partner, proof=head.proof,
                                  recorded_at=head.recorded_at, in_force=in_force,
                                  revocable=in_force and head.proof == "attested"))
    out.sort(key=lambda r: (r.recorded_at, r.id), reverse=True)
    return out
