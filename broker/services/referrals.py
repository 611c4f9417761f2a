"""Warm referrals (DESIGN §10): propose, wait for the client's consent, accept with the handover,
decline, complete, drop; and the expiry of a referral left unanswered.

- Propose: a partner with a valid help relation refers the client to partner ``to``. The policy
  (``data.gbo.referral.consent_cover``) says which of the referral's sections a consent in force
  already covers for ``to`` and purpose ``doorverwijzing``; for the rest the broker asks the
  client (a consent request, DESIGN §9) and the referral waits (``awaiting_consent``) until the
  client decides (``referral_waits``).
- Accept: ``to`` gets a help relation (proof ``referral``) and the handover: the ordinary access
  decision for purpose ``doorverwijzing`` on the referral's sections (``services.access``:
  audited before anything is released). Nothing else is handed over.
- The receiver answers within 14 days of the proposal; an unanswered referral expires (derived
  from the date; ``expire_due`` records it, audited, and tells the client's coordinator), as does
  a drop-out (``drop``).

Every state change is audited before it is committed, with closed codes only; the message to the
receiver is stored encrypted with the client's data key and never logged or audited.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import update
from sqlmodel import Session, col, select

from broker.context import BrokerContext
from broker.errors import (
    ClientErased,
    MalformedDecision,
    ReferralNotFound,
    ReferralNotOpen,
    ReferralTargetUnavailable,
    ReferralToItself,
    SectionNotForReferral,
    UnknownPartnerId,
    UnknownReferralReason,
)
from broker.policy.inputs import build_input
from broker.schemas.consent_requests import ConsentRequestCreate
from broker.schemas.referrals import ReferralCreate
from broker.security.auth import PartnerPrincipal
from broker.security.registry import Partner
from broker.services import access, consent_requests, coordination_notices, dossier, relations
from broker.services.access import AccessResult
from broker.services.referral_waits import ANSWER_WINDOW, referral_event
from broker.services.relations import require_valid_relation
from broker.store import crypto
from broker.store.casework import ReferralRow
from broker.webhooks import events as webhook_events
from consent.models import HelpRelation, Recipient
from consent.rules import add_months

PURPOSE = "doorverwijzing"
COVER_RULE = "data.gbo.referral.consent_cover"
REASONS = "referral_reason"  # the catalogue's closed code lists (DESIGN §9, §10)
DECLINE_REASONS = "referral_decline"
OPEN = ("awaiting_consent", "proposed")  # not yet answered by the receiver
HIDDEN_FROM_RECEIVER = ("awaiting_consent", "consent_refused")  # never proposed to it
CONSENT_MONTHS = 3  # how long a consent asked for a referral lasts
LIST_LIMIT = 500
_SWEEP = 100
_REFERRAL = ReferralRow.__table__  # type: ignore[attr-defined]

CLIENT_REQUEST_MESSAGE = ("{sender} wil je doorverwijzen naar {receiver}. Mogen we hen daarvoor "
                          "deze gegevens doorgeven?")


def _message_aad(referral_id: str) -> bytes:
    return b"gbo-broker/referral-message/" + referral_id.encode()


def _check_terms(ctx: BrokerContext, partner: Partner, body: ReferralCreate) -> Partner:
    """The receiver and the codes, against the registry and the catalogue (closed sets)."""
    receiver = ctx.registry.partners.get(body.to)
    if receiver is None:
        raise UnknownPartnerId(detail="The receiving partner is not registered")
    if receiver.id == partner.id:
        raise ReferralToItself()
    if (receiver.network != partner.network or not receiver.active
            or not receiver.bound_by_secrecy):
        raise ReferralTargetUnavailable()
    if body.reason not in ctx.catalogue.code_list(REASONS):
        raise UnknownReferralReason()
    needed = ctx.catalogue.purposes[PURPOSE].sections
    if len(set(body.sections)) != len(body.sections) or not set(body.sections) <= needed:
        raise SectionNotForReferral()
    return receiver


def _cover(ctx: BrokerContext, session: Session, *, receiver: Partner, client_ref: str,
           sections: Sequence[str], now: datetime) -> list[str]:
    """The sections no consent in force covers for ``receiver`` (the policy's answer; on any
    policy failure, all of them: the client is asked rather than anything assumed)."""
    facts = access.client_facts(session, network=receiver.network, client_ref=client_ref, now=now)
    policy_input = build_input(
        requester=receiver, worker="", client_ref=client_ref, relations=facts.relations,
        consents=facts.consents, exclusions=facts.exclusions, purpose=PURPOSE,
        justification=None, sections=sections, entries=[], registry=ctx.registry, now=now)
    asked = set(sections)

    def parse(raw: Any) -> list[str]:
        missing = raw.get("missing") if isinstance(raw, dict) else None
        if not isinstance(missing, list) or not set(missing) <= asked:
            raise MalformedDecision("consent_cover is not a subset of the sections")
        return sorted(str(s) for s in missing)

    missing, _failure = ctx.policy.ask(COVER_RULE, policy_input, parse)
    return sorted(asked) if missing is None else missing


def propose(*, session: Session, ctx: BrokerContext, principal: PartnerPrincipal,
            body: ReferralCreate, now: datetime) -> ReferralRow:
    """``POST /v1/referrals``. Raises ``UnknownPartnerId``, ``ReferralToItself``,
    ``ReferralTargetUnavailable``, ``UnknownReferralReason``, ``SectionNotForReferral``,
    ``NoValidHelpRelation``, ``ClientErased``, the consent request's errors and
    ``AuditUnavailable``."""
    partner = principal.partner
    network = partner.network
    receiver = _check_terms(ctx, partner, body)
    client_ref = ctx.keyring.client_ref(network, body.insz)
    require_valid_relation(session=session, network=network, client_ref=client_ref,
                           partner=partner.id, now=now)
    # The INSZ is kept (encrypted) for the handover: the receiver gets it when it accepts.
    client = dossier.get_or_create_client(session, keyring=ctx.keyring, network=network,
                                          insz=body.insz, now=now)
    if client.data_key_wrapped is None:
        raise ClientErased()  # nothing could be handed over
    referral_id = f"rf-{uuid.uuid4().hex}"
    message_ct = None
    if body.message is not None:
        message_ct = crypto.encrypt(ctx.keyring.data_key(client),
                                    json.dumps(body.message).encode(), _message_aad(referral_id))
    missing = _cover(ctx, session, receiver=receiver, client_ref=client_ref,
                     sections=body.sections, now=now)
    request_id = None
    if missing:  # DESIGN §10: without a covering consent, the client is asked first
        request = consent_requests.ask(
            session=session, ctx=ctx, partner=partner, worker=principal.worker, now=now,
            body=ConsentRequestCreate(
                insz=body.insz, recipients=[Recipient(kind="partner", id=receiver.id)],
                purposes=[PURPOSE], sections=missing, valid_until=add_months(now, CONSENT_MONTHS),
                message=CLIENT_REQUEST_MESSAGE.format(sender=partner.name,
                                                      receiver=receiver.name)),
            commit=False)
        request_id = request.id
    row = ReferralRow(
        id=referral_id, network=network, client_ref=client_ref, from_partner=partner.id,
        from_worker=ctx.keyring.worker_ref(network, partner.id, principal.worker),
        to_partner=receiver.id, reason=body.reason, sections=list(body.sections),
        message_ct=message_ct, status="awaiting_consent" if missing else "proposed",
        consent_request_id=request_id, created_at=now, expires_at=now + ANSWER_WINDOW,
        updated_at=now)
    facts: dict[str, object] = {"referral_reason": row.reason,
                                "sections_asked": sorted(row.sections)}
    if request_id is not None:
        facts["consent_request_id"] = request_id
    ctx.audit.append(referral_event("created", row, partner=partner.id,
                                    worker=principal.worker, facts=facts),
                     never_contains=(body.insz,), now=now)
    session.add(row)
    _push(session, ctx, row, now)
    session.commit()
    return row


# --- reading -----------------------------------------------------------------------------------


def expire_due(*, session: Session, ctx: BrokerContext, network: str, now: datetime) -> int:
    """Record the referrals of ``network`` left unanswered past their 14 days as ``expired``:
    audited, and the client's coordinator told (DESIGN §10). Safe to run concurrently: each
    referral moves once (a conditional update; the loser of a race changes nothing)."""
    due = session.exec(select(ReferralRow).where(
        ReferralRow.network == network, col(ReferralRow.status).in_(OPEN),
        col(ReferralRow.expires_at) <= now).limit(_SWEEP)).all()
    done = 0
    for row in due:
        # Audited first (DESIGN §6); a sweep that loses the race to another leaves that entry
        # describing an attempt, and changes nothing.
        ctx.audit.append(referral_event("expired", row, partner=None, worker=None,
                                        status="expired"), now=now)
        moved = session.connection().execute(
            update(_REFERRAL).where(_REFERRAL.c.id == row.id, _REFERRAL.c.status.in_(OPEN))
            .values(status="expired", updated_at=now))
        if moved.rowcount != 1:
            session.rollback()
            continue
        session.expire(row)
        coordination_notices.notify_coordinator(
            session=session, network=row.network, client_ref=row.client_ref,
            kind="referral_expired", about_partner=row.to_partner, referral_id=row.id, now=now)
        webhook_events.enqueue_referral(
            session=session, registry=ctx.registry, referral_id=row.id, status="expired",
            from_partner=row.from_partner, to_partner=row.to_partner, now=now)
        session.commit()
        done += 1
    return done


def _visible(row: ReferralRow, partner: Partner) -> bool:
    if row.network != partner.network:
        return False
    if row.from_partner == partner.id:
        return True
    return row.to_partner == partner.id and row.status not in HIDDEN_FROM_RECEIVER


def listed(*, session: Session, ctx: BrokerContext, partner: Partner, role: str,
           status: str | None, now: datetime) -> list[ReferralRow]:
    """``GET /v1/referrals``: the partner's outgoing (``from``) or incoming (``to``) referrals,
    newest first; the receiver never sees one the client has not agreed to yet."""
    expire_due(session=session, ctx=ctx, network=partner.network, now=now)
    column = ReferralRow.from_partner if role == "from" else ReferralRow.to_partner
    query = select(ReferralRow).where(column == partner.id,
                                      ReferralRow.network == partner.network)
    if status is not None:
        query = query.where(ReferralRow.status == status)
    if role == "to":
        query = query.where(col(ReferralRow.status).not_in(HIDDEN_FROM_RECEIVER))
    rows = session.exec(query.order_by(col(ReferralRow.created_at).desc(),
                                       col(ReferralRow.id).desc()).limit(LIST_LIMIT)).all()
    return list(rows)


def _find(session: Session, ctx: BrokerContext, partner: Partner, referral_id: str,
          now: datetime) -> ReferralRow:
    expire_due(session=session, ctx=ctx, network=partner.network, now=now)
    row = session.get(ReferralRow, referral_id)
    if row is None or not _visible(row, partner):
        raise ReferralNotFound()
    return row


def message_of(*, session: Session, ctx: BrokerContext, row: ReferralRow) -> str | None:
    """The referrer's message in clear; gone with the client's key after erasure."""
    if row.message_ct is None:
        return None
    client = dossier.find_client_by_ref(session, network=row.network, client_ref=row.client_ref)
    if client is None or client.data_key_wrapped is None:
        return None
    text = json.loads(crypto.decrypt(ctx.keyring.data_key(client), row.message_ct,
                                     _message_aad(row.id)))
    return text if isinstance(text, str) else None


def one(*, session: Session, ctx: BrokerContext, partner: Partner, referral_id: str,
        now: datetime) -> ReferralRow:
    """``GET /v1/referrals/{id}``: for its sender and (once proposed) its receiver. Raises
    ``ReferralNotFound``."""
    return _find(session, ctx, partner, referral_id, now)


# --- the receiver's answers ------------------------------------------------------------------


def _as_receiver(session: Session, ctx: BrokerContext, principal: PartnerPrincipal,
                 referral_id: str, expected: str, now: datetime) -> ReferralRow:
    row = _find(session, ctx, principal.partner, referral_id, now)
    if row.to_partner != principal.partner.id:
        raise ReferralNotFound()  # the sender cannot answer for the receiver
    if row.status != expected:
        raise ReferralNotOpen()
    return row


def _move(session: Session, ctx: BrokerContext, principal: PartnerPrincipal, row: ReferralRow,
          status: str, kind: str, now: datetime, **facts: object) -> None:
    """Audit, then move the referral from its current status to ``status`` once: a conditional
    update, so that of two concurrent answers one wins and the other gets ``ReferralNotOpen``
    (its audit entry then describes an attempt). Nothing is written before the audit append."""
    ctx.audit.append(referral_event(kind, row, partner=principal.partner.id,
                                    worker=principal.worker, status=status, facts=facts),
                     now=now)
    moved = session.connection().execute(
        update(_REFERRAL).where(_REFERRAL.c.id == row.id, _REFERRAL.c.status == row.status)
        .values(status=status, updated_at=now))
    if moved.rowcount != 1:
        session.rollback()
        raise ReferralNotOpen()
    row.status, row.updated_at = status, now
    session.add(row)
    _push(session, ctx, row, now)


def _push(session: Session, ctx: BrokerContext, row: ReferralRow, now: datetime) -> None:
    """docs/webhooks.md: the partner concerned hears of the referral's new status, in the
    transaction of the change."""
    webhook_events.enqueue_referral(
        session=session, registry=ctx.registry, referral_id=row.id, status=row.status,
        from_partner=row.from_partner, to_partner=row.to_partner, now=now)


@dataclass(frozen=True)
class Accepted:
    row: ReferralRow
    insz: str
    relation: HelpRelation
    handover: AccessResult


def accept(*, session: Session, ctx: BrokerContext, principal: PartnerPrincipal,
           referral_id: str, request_id: str, now: datetime) -> Accepted:
    """``POST /v1/referrals/{id}/accept``: the receiver's help relation (proof ``referral``) and
    the handover, the access decision for purpose ``doorverwijzing`` on the referral's sections,
    in one transaction. Raises ``ReferralNotFound``, ``ReferralNotOpen``, ``ClientErased``,
    ``AuditUnavailable`` (nothing released)."""
    row = _as_receiver(session, ctx, principal, referral_id, "proposed", now)
    client = dossier.find_client_by_ref(session, network=row.network, client_ref=row.client_ref)
    if client is None:
        raise ReferralNotFound()
    insz = dossier.client_insz(keyring=ctx.keyring, client=client)
    relation = relations.add_by_referral(
        session=session, ctx=ctx, network=row.network, partner=principal.partner.id,
        worker=principal.worker, client_ref=row.client_ref, now=now)
    row.relation_id = relation.id
    _move(session, ctx, principal, row, "accepted", "accepted", now, relation_id=relation.id)
    session.commit()
    # The handover is the receiver's first access under its new relation, decided, audited and
    # released as any other. Should its audit append fail (503), the acceptance stands and the
    # receiver asks again with POST /v1/access-requests, purpose doorverwijzing.
    handover = access.request_access(ctx=ctx, session=session, principal=principal, insz=insz,
                                     purpose=PURPOSE, sections=list(row.sections),
                                     justification=None, request_id=request_id, now=now)
    return Accepted(row=row, insz=insz, relation=relation, handover=handover)


def decline(*, session: Session, ctx: BrokerContext, principal: PartnerPrincipal,
            referral_id: str, reason: str, now: datetime) -> ReferralRow:
    """``POST /v1/referrals/{id}/decline``. Raises ``UnknownReferralReason`` (not a code of the
    catalogue's ``referral_decline`` list), ``ReferralNotFound``, ``ReferralNotOpen``,
    ``AuditUnavailable``."""
    if reason not in ctx.catalogue.code_list(DECLINE_REASONS):
        raise UnknownReferralReason()
    row = _as_receiver(session, ctx, principal, referral_id, "proposed", now)
    row.decline_reason = reason
    _move(session, ctx, principal, row, "declined", "declined", now, reason=reason)
    session.commit()
    return row


def complete(*, session: Session, ctx: BrokerContext, principal: PartnerPrincipal,
             referral_id: str, now: datetime) -> ReferralRow:
    """``POST /v1/referrals/{id}/complete``: the client arrived and was helped. Raises
    ``ReferralNotFound``, ``ReferralNotOpen``, ``AuditUnavailable``."""
    row = _as_receiver(session, ctx, principal, referral_id, "accepted", now)
    _move(session, ctx, principal, row, "completed", "completed", now)
    session.commit()
    return row


def drop(*, session: Session, ctx: BrokerContext, principal: PartnerPrincipal,
         referral_id: str, now: datetime) -> ReferralRow:
    """``POST /v1/referrals/{id}/drop``: the client did not arrive or stopped (uitval); the
    client's coordinator is told (DESIGN §10). Raises ``ReferralNotFound``, ``ReferralNotOpen``,
    ``AuditUnavailable``."""
    row = _as_receiver(session, ctx, principal, referral_id, "accepted", now)
    _move(session, ctx, principal, row, "dropped", "dropped", now)
    coordination_notices.notify_coordinator(
        session=session, network=row.network, client_ref=row.client_ref, kind="referral_dropped",
        about_partner=row.to_partner, referral_id=row.id, now=now)
    session.commit()
    return row


def of_client(*, session: Session, refs: dict[str, str]) -> list[ReferralRow]:
    """The client's referrals in every network (``refs``: network -> pseudonym), newest first."""
    found = [r for network, ref in refs.items()
             for r in session.exec(select(ReferralRow).where(
                 ReferralRow.network == network, ReferralRow.client_ref == ref)).all()]
    found.sort(key=lambda r: (r.created_at, r.id), reverse=True)
    return found
