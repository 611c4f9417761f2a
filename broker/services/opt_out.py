"""A client's opt-out of secondary use (DESIGN §11): while it holds, the client is left out of
every figure of every network, from the next release on (released bundles never change). The
client opts out and back in themselves (``/v1/me/opt-out``, ``/mijn``); both are audited, by
pseudonym, before they are committed.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlmodel import Session, col, select

from broker.context import BrokerContext
from broker.errors import AlreadyOptedOut, OptOutNotFound
from broker.observability import request_id_var
from broker.schemas.signals import OptOutPublic
from broker.services.client_scope import ClientScope
from broker.store.audit_events import AuditEvent
from broker.store.signal_tables import SecondaryUseOptOut


def _active(session: Session, scope: ClientScope) -> list[SecondaryUseOptOut]:
    rows: list[SecondaryUseOptOut] = []
    for network, ref in sorted(scope.refs.items()):
        rows += session.exec(select(SecondaryUseOptOut).where(
            SecondaryUseOptOut.network == network, SecondaryUseOptOut.client_ref == ref,
            col(SecondaryUseOptOut.ended_at).is_(None))).all()
    return rows


def status(*, session: Session, scope: ClientScope) -> OptOutPublic:
    rows = _active(session, scope)
    return OptOutPublic(opted_out=bool(rows),
                        since=min((r.created_at for r in rows), default=None),
                        networks=sorted({r.network for r in rows}))


def opt_out(*, session: Session, ctx: BrokerContext, scope: ClientScope,
            now: datetime) -> OptOutPublic:
    """Leave the client out of every figure, in every network. Raises ``AlreadyOptedOut``,
    ``AuditUnavailable``."""
    done = {r.network for r in _active(session, scope)}
    todo = [(n, ref) for n, ref in sorted(scope.refs.items()) if n not in done]
    if not todo:
        raise AlreadyOptedOut()
    for network, ref in todo:
        row = SecondaryUseOptOut(id=f"oo-{uuid.uuid4().hex}", network=network, client_ref=ref,
                                 created_at=now)
        ctx.audit.append(AuditEvent(kind="opt_out.created", network=network, client=ref,
                                    request_id=request_id_var.get(),
                                    facts={"opt_out_id": row.id}),
                         never_contains=(scope.actor_insz,), now=now)
        session.add(row)
    session.commit()
    return status(session=session, scope=scope)


def undo(*, session: Session, ctx: BrokerContext, scope: ClientScope,
         now: datetime) -> OptOutPublic:
    """Count the client again from the next release on. Raises ``OptOutNotFound``,
    ``AuditUnavailable``."""
    rows = _active(session, scope)
    if not rows:
        raise OptOutNotFound()
    for row in rows:
        ctx.audit.append(AuditEvent(kind="opt_out.ended", network=row.network,
                                    client=row.client_ref, request_id=request_id_var.get(),
                                    facts={"opt_out_id": row.id}),
                         never_contains=(scope.actor_insz,), now=now)
        row.ended_at = now
        session.add(row)
    session.commit()
    return status(session=session, scope=scope)


def opted_out_refs(*, session: Session, network: str) -> frozenset[str]:
    """The pseudonyms of the network's clients who opted out (now)."""
    return frozenset(session.exec(select(SecondaryUseOptOut.client_ref).where(
        SecondaryUseOptOut.network == network,
        col(SecondaryUseOptOut.ended_at).is_(None))).all())
