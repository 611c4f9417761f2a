"""Withdrawal follow-up (DESIGN §3): who received data under a consent, and each partner's
notice feed ``GET /v1/notifications`` (cursor-based, at-least-once).

Who received data comes from the audit log (DESIGN §7): leaves of kind ``access.decision`` for the
client's pseudonym whose ``consent_ids`` name the consent and that granted at least one section,
in the last 12 months. A notice says which consent changed and what it no longer covers; never
dossier content, never the client.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from audit.entry import format_time
from audit.store import AuditStore
from broker.errors import InvalidCursor
from broker.security.registry import Partner
from broker.store.audit_events import decode
from consent import notices
from consent.rules import add_months

LOOKBACK_MONTHS = 12  # partners that received data in the last 12 months are notified
PAGE = 100
_SCAN = 1000


def received_under(
    store: AuditStore, *, network: str, client_ref: str, consent_id: str, now: datetime
) -> set[str]:
    """Partners that got at least one section of the client under ``consent_id`` since a year."""
    since = format_time(add_months(now, -LOOKBACK_MONTHS))
    partners: set[str] = set()
    after: int | None = None
    while True:
        leaves = store.find_leaves(
            clients=[(network, client_ref)],
            kind_prefix="access.decision",
            time_from=since,
            after=after,
            limit=_SCAN,
        )
        for leaf in leaves:
            entry = decode(leaf)
            granted = any(
                isinstance(s, dict) and s.get("verdict") == "granted"
                for s in (entry.get("sections") or {}).values()
            )
            if (
                entry.get("kind") == "access.decision"
                and consent_id in (entry.get("consent_ids") or ())
                and granted
                and isinstance(entry.get("partner"), str)
            ):
                partners.add(entry["partner"])
        if len(leaves) < _SCAN:
            return partners
        after = leaves[-1].index


def feed(
    *, session: Session, partner: Partner, cursor: int | None
) -> tuple[list[notices.Notification], int]:
    """The partner's next notices and the cursor to pass back.

    At-least-once: passing ``cursor`` back acknowledges every notice up to it; without one the
    feed restarts after the last acknowledged notice, so an unacknowledged notice comes again.
    """
    acked = notices.acknowledged(session=session, partner=partner.id)
    if cursor is not None and cursor > acked:
        if cursor > notices.latest_notification_id(session=session, partner=partner.id):
            raise InvalidCursor()  # acknowledging notices not yet written would lose them
        try:
            notices.acknowledge(session=session, partner=partner.id, upto=cursor)
            session.commit()
        except IntegrityError:  # a concurrent first acknowledgement: the row exists now
            session.rollback()
            notices.acknowledge(session=session, partner=partner.id, upto=cursor)
            session.commit()
        acked = cursor
    start = acked if cursor is None else cursor
    page = notices.notifications_after(
        session=session, partner=partner.id, after=start, limit=PAGE
    )
    return page, page[-1].id if page else start
