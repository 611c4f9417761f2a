"""DESIGN §10: the client's coordinator (casusregisseur) hears of drop-outs, referrals left
unanswered and ended relations through its notice feed (``GET /v1/notifications``).

A leaf module of ``services``: it reads the coordinator and queues the notice in the caller's
transaction; it never commits and imports no other service.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from broker.store.casework import CoordinationRow
from consent import notices
from consent.notices import CaseworkKind


def coordinator_of(*, session: Session, network: str, client_ref: str) -> CoordinationRow | None:
    return session.get(CoordinationRow, (network, client_ref))


def notify_coordinator(*, session: Session, network: str, client_ref: str, kind: CaseworkKind,
                       about_partner: str, now: datetime, referral_id: str | None = None,
                       relation_id: str | None = None) -> str | None:
    """Queue a notice for the client's coordinator, if it has one other than ``about_partner``
    (a partner is not told what it did itself). Returns the partner notified, if any."""
    found = coordinator_of(session=session, network=network, client_ref=client_ref)
    if found is None or found.partner == about_partner:
        return None
    notices.add_casework_notice(session=session, partner=found.partner, network=network,
                                kind=kind, about_partner=about_partner, now=now,
                                referral_id=referral_id, relation_id=relation_id)
    return found.partner
