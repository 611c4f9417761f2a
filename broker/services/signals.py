"""Signals of a network (DESIGN §11): partners file them and follow them up; the owner
(*trekker*) or the network's coordinator sets their status and owner. Free text is screened
before it is stored (``screening``): a hit refuses the whole request with the spans marked,
and the text is neither stored, logged nor audited. Every change is audited before it is
committed (DESIGN §6), with catalogue codes and broker-made ids only (DESIGN §9).
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass
from datetime import datetime

from sqlmodel import Session, col, select

from broker.context import BrokerContext
from broker.errors import (
    CoordinatorRequired,
    ForbiddenError,
    IdentifyingText,
    NotSignalOwner,
    SignalNotFound,
    UnknownPartnerId,
)
from broker.observability import request_id_var
from broker.schemas.signals import FollowUpCreate, FollowUpPublic, SignalCreate, SignalPublic
from broker.services import name_index, screening
from broker.store.audit_events import AuditEvent
from broker.store.signal_tables import Signal, SignalFollowUp

COORDINATOR = "coordinator"


@dataclass(frozen=True)
class SignalActor:
    """Who acts on a signal: a partner (with its worker's token ``sub``), or an auditor of
    ``network`` (``coordinator`` with the ``signals`` right)."""

    network: str
    partner: str | None = None
    worker: str | None = None
    coordinator: bool = False

    @property
    def name(self) -> str:
        return self.partner or COORDINATOR


def check_text(*, session: Session, ctx: BrokerContext, network: str,
               fields: dict[str, str]) -> None:
    """Raises ``IdentifyingText`` with the spans (never the text) when a field identifies a
    person: an INSZ, IBAN, e-mail address, phone number or the name of a client of
    ``network``."""
    spans = screening.find_identifiers(
        fields, name_index.matcher(session=session, keyring=ctx.keyring, network=network))
    if spans:
        raise IdentifyingText([asdict(s) for s in spans])


def _check_partners(ctx: BrokerContext, network: str, ids: list[str], pointer: str) -> None:
    for partner_id in ids:
        partner = ctx.registry.partner(partner_id)
        if partner is None or partner.network != network:
            raise UnknownPartnerId(f"{pointer}: not a partner of the network")


def _event(kind: str, actor: SignalActor, facts: dict[str, object]) -> AuditEvent:
    if actor.partner is None:
        facts = {**facts, "role": COORDINATOR}
    return AuditEvent(kind=kind, network=actor.network, partner=actor.partner,
                      worker=actor.worker, request_id=request_id_var.get(), facts=facts)


def create(*, session: Session, ctx: BrokerContext, actor: SignalActor, body: SignalCreate,
           now: datetime) -> SignalPublic:
    """File a signal; its author's partner owns it. Raises ``UnknownPartnerId`` (a backing
    partner outside the network), ``IdentifyingText``, ``AuditUnavailable``."""
    if actor.partner is None:
        raise ForbiddenError("Signals are filed by partners")
    partners = list(dict.fromkeys(body.partners))
    _check_partners(ctx, actor.network, partners, "/partners")
    check_text(session=session, ctx=ctx, network=actor.network,
               fields={"title": body.title, "description": body.description})
    signal = Signal(id=f"sg-{uuid.uuid4().hex}", network=actor.network, theme=body.theme,
                    title=body.title, description=body.description, owner=actor.partner,
                    partners=partners, status="open", created_by=actor.partner,
                    created_at=now, updated_at=now)
    ctx.audit.append(_event("signal.created", actor, {
        "signal_id": signal.id, "theme": signal.theme, "status": signal.status,
        "owner": signal.owner}), now=now)
    session.add(signal)
    session.commit()
    return public(signal, [])


def follow_up(*, session: Session, ctx: BrokerContext, actor: SignalActor, signal_id: str,
              body: FollowUpCreate, now: datetime) -> SignalPublic:
    """Add a note to a signal's history, and set its status or owner. Any partner of the
    network may add a note; only the owner or the coordinator may change status or owner.
    Raises ``SignalNotFound``, ``CoordinatorRequired`` (an auditor without the right),
    ``NotSignalOwner``, ``UnknownPartnerId``, ``IdentifyingText``,
    ``AuditUnavailable``."""
    signal = _get(session, actor.network, signal_id)
    if actor.partner is None and not actor.coordinator:
        raise CoordinatorRequired()
    changes = body.status is not None or body.owner is not None
    if changes and not actor.coordinator and actor.partner != signal.owner:
        raise NotSignalOwner()
    if body.owner is not None:
        _check_partners(ctx, actor.network, [body.owner], "/owner")
    check_text(session=session, ctx=ctx, network=actor.network, fields={"note": body.note})
    step = SignalFollowUp(id=f"sf-{uuid.uuid4().hex}", signal_id=signal.id, actor=actor.name,
                          note=body.note, status=body.status, owner=body.owner, created_at=now)
    facts: dict[str, object] = {"signal_id": signal.id, "follow_up_id": step.id}
    if body.status is not None:
        facts["status"] = body.status
        signal.status = body.status
    if body.owner is not None:
        facts["owner"] = body.owner
        signal.owner = body.owner
    signal.updated_at = now
    ctx.audit.append(_event("signal.followed_up", actor, facts), now=now)
    session.add(step)
    session.add(signal)
    session.commit()
    return public(signal, history(session, signal.id))


def _get(session: Session, network: str, signal_id: str) -> Signal:
    signal = session.get(Signal, signal_id)
    if signal is None or signal.network != network:
        raise SignalNotFound()
    return signal


def get(*, session: Session, network: str, signal_id: str) -> SignalPublic:
    """Raises ``SignalNotFound`` (unknown, or of another network)."""
    signal = _get(session, network, signal_id)
    return public(signal, history(session, signal.id))


def of_network(*, session: Session, network: str, status: str | None = None,
               until: datetime | None = None) -> list[SignalPublic]:
    """A network's signals, newest first, with their histories."""
    query = select(Signal).where(Signal.network == network)
    if status is not None:
        query = query.where(Signal.status == status)
    if until is not None:
        query = query.where(col(Signal.created_at) < until)
    signals = session.exec(query.order_by(col(Signal.created_at).desc(), col(Signal.id))).all()
    steps: dict[str, list[SignalFollowUp]] = {s.id: [] for s in signals}
    if steps:
        for step in session.exec(select(SignalFollowUp).where(
                col(SignalFollowUp.signal_id).in_(list(steps)))
                .order_by(col(SignalFollowUp.created_at), col(SignalFollowUp.id))).all():
            steps[step.signal_id].append(step)
    return [public(s, steps[s.id]) for s in signals]


def history(session: Session, signal_id: str) -> list[SignalFollowUp]:
    return list(session.exec(select(SignalFollowUp).where(SignalFollowUp.signal_id == signal_id)
                             .order_by(col(SignalFollowUp.created_at),
                                       col(SignalFollowUp.id))).all())


def public(signal: Signal, steps: list[SignalFollowUp]) -> SignalPublic:
    return SignalPublic(
        id=signal.id, network=signal.network, theme=signal.theme,
        title=signal.title, description=signal.description, owner=signal.owner,
        partners=list(signal.partners), status=signal.status,
        created_by=signal.created_by, created_at=signal.created_at,
        updated_at=signal.updated_at,
        history=[FollowUpPublic(id=s.id, actor=s.actor, note=s.note,
                                status=s.status, owner=s.owner,
                                created_at=s.created_at) for s in steps])
