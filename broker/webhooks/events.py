"""The kinds of events a partner's webhook receives, and queueing them (docs/webhooks.md).

An event says *that* something changed, by kind and ids only: never an INSZ, a client pseudonym
or dossier content (DESIGN §3 "no INSZ in any ... log line", §9). The partner fetches the details
with its own token (``GET /v1/notifications``, ``GET /v1/consent-requests/{id}``), where the
policy applies as always.

Adding a kind is one entry in :data:`EVENT_TYPES` and one call of :func:`enqueue` in the service
that makes the change, inside its transaction.
"""

from __future__ import annotations

import json
import re
import secrets
import string
from collections.abc import Iterable, Mapping
from datetime import datetime

from sqlmodel import Session

from audit.entry import format_time
from broker.security.registry import Registry
from broker.store import webhook_outbox

# kind -> the ids its ``data`` holds (the closed set of event types, also the metric labels)
EVENT_TYPES: dict[str, frozenset[str]] = {
    # DESIGN §3 withdrawal follow-up: a consent under which the partner received data changed;
    # the notice itself is at GET /v1/notifications.
    "consent.narrowed": frozenset({"consent_id", "version"}),
    "consent.revoked": frozenset({"consent_id", "version"}),
    # DESIGN §9 consent requests: the client answered the partner's request.
    "consent_request.approved": frozenset({"consent_request_id", "consent_id"}),
    "consent_request.refused": frozenset({"consent_request_id"}),
    # DESIGN §10 referrals: the receiver hears of a referral proposed to it, the sender of each
    # later status (GET /v1/referrals/{id}).
    **{f"referral.{status}": frozenset({"referral_id"}) for status in (
        "proposed", "accepted", "declined", "completed", "dropped", "expired",
        "consent_refused")},
}
# A referral's status -> who hears of it: the receiving partner or the referring one.
_REFERRAL_AUDIENCE = {"proposed": "to", "accepted": "from", "declined": "from",
                      "completed": "from", "dropped": "from", "expired": "from",
                      "consent_refused": "from"}

# An id in ``data`` is broker-made: a short prefix and 128 random bits in hex (``cs-…``,
# ``cr-…``) or a UUID; never a caller's value, so never an INSZ.
_ID = re.compile(r"(?:[a-z]{1,8}[-_])?(?:[0-9a-f]{32}|[0-9a-f]{8}(?:-[0-9a-f]{4}){3}-[0-9a-f]{12})")
_ID_LETTERS = string.ascii_lowercase


def new_message_id() -> str:
    """A ``webhook-id``: ``msg_`` and 28 random letters (131 bits), no digits, so no log guard
    ever redacts it."""
    return "msg_" + "".join(secrets.choice(_ID_LETTERS) for _ in range(28))


def check_data(event_type: str, data: Mapping[str, object]) -> None:
    """Raises ``ValueError`` unless ``data`` holds exactly the ids of ``event_type``, each a
    broker-made id or a small integer (a programming error, never a caller's)."""
    expected = EVENT_TYPES.get(event_type)
    if expected is None:
        raise ValueError(f"unknown webhook event type {event_type!r}")
    if set(data) != expected:
        raise ValueError(f"{event_type} carries {sorted(expected)}, not {sorted(data)}")
    for key, value in data.items():
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise ValueError(f"{event_type}.{key} is not an id")
        if isinstance(value, int) and not 0 <= value < 10**8:
            raise ValueError(f"{event_type}.{key} is out of range")
        if isinstance(value, str) and not _ID.fullmatch(value):
            raise ValueError(f"{event_type}.{key} is not a broker-made id")


def payload(event_type: str, data: Mapping[str, object], now: datetime) -> str:
    """The body, as the Standard Webhooks specification shapes it: ``type``, ``timestamp``,
    ``data``. Raises ``ValueError`` (``check_data``)."""
    check_data(event_type, data)
    return json.dumps({"type": event_type, "timestamp": format_time(now), "data": dict(data)},
                      separators=(",", ":"), sort_keys=True)


def enqueue_referral(*, session: Session, registry: Registry, referral_id: str, status: str,
                     from_partner: str, to_partner: str, now: datetime) -> int:
    """Queue ``referral.<status>`` for the partner that hears of it; nothing for a status no
    one is told of (``awaiting_consent``: the receiver is not proposed anything yet)."""
    audience = _REFERRAL_AUDIENCE.get(status)
    if audience is None:
        return 0
    return enqueue(session=session, registry=registry,
                   partners=[to_partner if audience == "to" else from_partner],
                   event_type=f"referral.{status}", data={"referral_id": referral_id}, now=now)


def enqueue(*, session: Session, registry: Registry, partners: Iterable[str], event_type: str,
            data: Mapping[str, object], now: datetime) -> int:
    """Queue the event for each of ``partners`` that has a webhook, in the caller's transaction
    (committed with the change, or not at all). Returns how many were queued. Raises
    ``ValueError`` (``check_data``)."""
    body = payload(event_type, data, now)
    queued = 0
    for partner_id in sorted(set(partners)):
        partner = registry.partner(partner_id)
        if partner is None or partner.webhook is None:
            continue
        webhook_outbox.add(session=session, message_id=new_message_id(), partner=partner_id,
                           event_type=event_type, payload=body, now=now)
        queued += 1
    return queued
