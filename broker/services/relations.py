"""Help relations (DESIGN §3): declare, end, list, and the relation gate.

Service functions own their transaction (STYLE). Every change is appended to the audit log before
it is committed (DESIGN §3), so no change exists without its audit entry; a change that
loses a race after its entry was appended leaves that entry describing an attempt.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlmodel import Session

from audit.entry import format_time
from broker.context import BrokerContext
from broker.errors import NoValidHelpRelation, RelationNotFound
from broker.observability import request_id_var
from broker.schemas.presence import PresenceIn
from broker.security.registry import Partner
from broker.services import coordination_notices
from broker.services.client_scope import client_refs
from broker.services.presence import prove_presence
from broker.store.audit_events import AuditEvent
from consent import store
from consent.models import HelpRelation
from consent.rules import relation_end
from consent.versions import end_relation


def require_valid_relation(
    *, session: Session, network: str, client_ref: str, partner: str, now: datetime
) -> None:
    """Raises ``NoValidHelpRelation`` unless ``partner`` has a relation valid at ``now``."""
    if not store.has_valid_relation(
        session=session, network=network, client_ref=client_ref, partner=partner, now=now
    ):
        raise NoValidHelpRelation()


def _event(kind: str, rel: HelpRelation, network: str, worker: str) -> AuditEvent:
    # DESIGN §3: the pseudonym and the relation's facts, never the INSZ.
    return AuditEvent(
        kind=kind,
        network=network,
        client=rel.client_ref,
        partner=rel.partner,
        worker=worker,
        request_id=request_id_var.get(),
        facts={
            "relation_id": rel.id,
            "start": format_time(rel.start),
            "end": format_time(rel.end),
            "ended_at": None if rel.ended_at is None else format_time(rel.ended_at),
            "proof": rel.proof,
        },
    )


def declare(
    *,
    session: Session,
    ctx: BrokerContext,
    partner: Partner,
    worker: str,
    insz: str,
    end: datetime | None,
    now: datetime,
    presence: PresenceIn | None = None,
) -> HelpRelation:
    """``POST /v1/relations``: ``partner`` helps the client from now until ``end`` (default 12
    months, at most 24). With ``presence`` (the client's eID at the desk) the relation's proof is
    ``eid``, otherwise ``attested`` (DESIGN §9). Raises ``RelationEndInPast``,
    ``RelationEndTooFar``, ``PresenceNotProven``, ``AuditUnavailable``.
    """
    relation_end_at = relation_end(now, end, now)
    if presence is not None:
        prove_presence(session=session, keyring=ctx.keyring, anchors=ctx.eid_anchors,
                       presence=presence, partner=partner.id, network=partner.network,
                       insz=insz, now=now)
    relation = HelpRelation(
        id=f"r-{uuid.uuid4().hex}",
        partner=partner.id,
        client_ref=ctx.keyring.client_ref(partner.network, insz),
        start=now,
        end=relation_end_at,
        proof="eid" if presence is not None else "attested",
    )
    ctx.audit.append(
        _event("relation.created", relation, partner.network, worker),
        never_contains=(insz,),
        now=now,
    )
    store.add_relation(
        session=session, relation=relation, network=partner.network, declared_by=worker, now=now
    )
    session.commit()
    return relation


def add_by_referral(*, session: Session, ctx: BrokerContext, network: str, partner: str,
                    worker: str, client_ref: str, now: datetime) -> HelpRelation:
    """DESIGN §10: the partner that accepts a referral helps the client from now on (12 months),
    proof ``referral``. Audited; the caller commits. Raises ``AuditUnavailable``."""
    relation = HelpRelation(id=f"r-{uuid.uuid4().hex}", partner=partner, client_ref=client_ref,
                            start=now, end=relation_end(now, None, now), proof="referral")
    ctx.audit.append(_event("relation.created", relation, network, worker), now=now)
    store.add_relation(session=session, relation=relation, network=network, declared_by=worker,
                       now=now)
    return relation


def end(
    *, session: Session, ctx: BrokerContext, partner: Partner, worker: str, relation_id: str,
    now: datetime,
) -> HelpRelation:
    """``POST /v1/relations/{id}/end``: a partner ends one of its own relations. Consents bound to
    it end with it (``consent.rules.consent_status``).

    Raises ``RelationNotFound`` (unknown or another partner's), ``RelationNotValid`` (already
    ended or expired), ``AuditUnavailable``.
    """
    found = store.get_relation(session=session, relation_id=relation_id)
    if found is None or found[0].partner != partner.id or found[1] != partner.network:
        raise RelationNotFound()
    relation, network = found
    ended = end_relation(relation, now=now)
    ctx.audit.append(_event("relation.ended", ended, network, worker), now=now)
    store.stamp_relation_ended(session=session, ended=ended)
    # DESIGN §10: the client's coordinator hears of an ended relation.
    coordination_notices.notify_coordinator(
        session=session, network=network, client_ref=ended.client_ref, kind="relation_ended",
        about_partner=partner.id, relation_id=ended.id, now=now)
    session.commit()
    return ended


def relations_of(
    *, session: Session, ctx: BrokerContext, insz: str
) -> list[tuple[str, HelpRelation]]:
    """``GET /v1/me/relations``: every relation with the client, as (network, relation)."""
    return [
        (network, rel)
        for network, ref in client_refs(ctx, insz).items()
        for rel in store.relations_of_client(session=session, network=network, client_ref=ref)
    ]
