"""DESIGN §10: a referral that waits for the client's consent moves on when the client decides.

Called by ``consent_requests`` in the transaction that records the client's decision: an
approval makes the waiting referral ``proposed`` (the receiver's 14 days to answer start now), a
refusal makes it ``consent_refused``. Each change is audited before the caller writes anything
(on SQLite a write would hold the database the audit log needs). A leaf
module of ``services``: it imports no other service, so ``consent_requests`` and ``referrals``
may both use it.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, select

from broker.context import BrokerContext
from broker.observability import request_id_var
from broker.store.audit_events import AuditEvent
from broker.store.casework import ReferralRow
from broker.webhooks import events as webhook_events
from consent.controls import REQUEST_LIFETIME, ConsentRequest

ANSWER_WINDOW = REQUEST_LIFETIME  # DESIGN §10: the receiver answers within 14 days


def referral_event(kind: str, row: ReferralRow, *, partner: str | None, worker: str | None,
                   status: str | None = None,
                   facts: dict[str, object] | None = None) -> AuditEvent:
    """The audit entry of a referral's state change (to ``status``, default the row's): closed
    codes and broker-made ids only (DESIGN §9); the message never."""
    return AuditEvent(kind=f"referral.{kind}", network=row.network, client=row.client_ref,
                      partner=partner, worker=worker, purpose="doorverwijzing",
                      request_id=request_id_var.get(),
                      facts={"referral_id": row.id, "referral_status": status or row.status,
                             "to_partner": row.to_partner, **(facts or {})})


def request_decided(*, session: Session, ctx: BrokerContext, request: ConsentRequest,
                    decision: str, now: datetime) -> None:
    if decision not in ("approved", "refused"):
        return  # withdrawn: the referral waits until it expires
    with session.no_autoflush:  # nothing of the caller's transaction is written yet
        rows = session.exec(select(ReferralRow).where(
            ReferralRow.consent_request_id == request.id,
            ReferralRow.status == "awaiting_consent")).all()
    for row in rows:
        if decision == "approved":
            row.status, row.expires_at = "proposed", now + ANSWER_WINDOW
        else:
            row.status = "consent_refused"
        row.updated_at = now
        kind = "consent_given" if decision == "approved" else "consent_refused"
        ctx.audit.append(referral_event(kind, row, partner=None, worker=None,
                                        facts={"consent_request_id": request.id}), now=now)
        session.add(row)
        # docs/webhooks.md: proposed now to the receiver, or ended for the sender
        webhook_events.enqueue_referral(
            session=session, registry=ctx.registry, referral_id=row.id, status=row.status,
            from_partner=row.from_partner, to_partner=row.to_partner, now=now)
