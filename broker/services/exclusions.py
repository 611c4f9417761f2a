"""Exclusions (DESIGN §9 client controls): the client excludes a partner, which then gets nothing
of the client's dossier, break-glass included (the rule is the policy's: reason
``excluded_by_client``), and may undo it. Audited before it is committed."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlmodel import Session

from broker.context import BrokerContext
from broker.errors import ExclusionNotFound, UnknownPartnerId
from broker.observability import request_id_var
from broker.services.client_scope import ClientScope
from broker.store.audit_events import AuditEvent
from consent import control_store
from consent.controls import Exclusion
from consent.errors import AlreadyExcluded


def _event(kind: str, exclusion: Exclusion, scope: ClientScope) -> AuditEvent:
    facts: dict[str, object] = {"exclusion_id": exclusion.id, "excluded": exclusion.partner}
    if scope.on_behalf_of is not None:
        facts["on_behalf_of"] = {"mandate_id": scope.on_behalf_of.mandate_id,
                                 "mandatary": scope.on_behalf_of.mandatary}
    return AuditEvent(kind=f"exclusion.{kind}", network=exclusion.network,
                      client=exclusion.client_ref, request_id=request_id_var.get(), facts=facts)


def exclude(*, session: Session, ctx: BrokerContext, scope: ClientScope, partner_id: str,
            now: datetime) -> Exclusion:
    """Raises ``UnknownPartnerId`` (not a partner of a network in scope), ``AlreadyExcluded``,
    ``AuditUnavailable``."""
    partner = ctx.registry.partner(partner_id)
    if partner is None or scope.ref(partner.network) is None:
        raise UnknownPartnerId()
    client_ref = scope.refs[partner.network]
    if partner.id in control_store.excluded_partners(session=session, network=partner.network,
                                                     client_ref=client_ref, now=now):
        raise AlreadyExcluded(pointer="/partner")
    exclusion = Exclusion(id=f"x-{uuid.uuid4().hex}", network=partner.network,
                          client_ref=client_ref, partner=partner.id, created_at=now,
                          on_behalf_of=scope.on_behalf_of)
    ctx.audit.append(_event("created", exclusion, scope), never_contains=(scope.actor_insz,),
                     now=now)
    control_store.add_exclusion(session=session, exclusion=exclusion)
    session.commit()
    return exclusion


def of_client(*, session: Session, scope: ClientScope) -> list[Exclusion]:
    return [x for network, ref in scope.refs.items()
            for x in control_store.exclusions_of_client(session=session, network=network,
                                                        client_ref=ref)]


def undo(*, session: Session, ctx: BrokerContext, scope: ClientScope, exclusion_id: str,
         now: datetime) -> Exclusion:
    """End an exclusion. Raises ``ExclusionNotFound`` (unknown, another client's, or ended
    already), ``AuditUnavailable``."""
    found = control_store.get_exclusion(session=session, exclusion_id=exclusion_id)
    if found is None or scope.ref(found.network) != found.client_ref or not found.active(now):
        raise ExclusionNotFound()
    ctx.audit.append(_event("ended", found, scope), never_contains=(scope.actor_insz,), now=now)
    if not control_store.end_exclusion(session=session, exclusion_id=exclusion_id, now=now):
        raise ExclusionNotFound()
    session.commit()
    return Exclusion(id=found.id, network=found.network, client_ref=found.client_ref,
                     partner=found.partner, created_at=found.created_at, ended_at=now,
                     on_behalf_of=found.on_behalf_of)
