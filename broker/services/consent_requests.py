"""Consent requests (DESIGN §9): a partner asks, the client decides in their own portal.

A partner with a valid help relation proposes consent terms and, optionally, a message to the
client (stored encrypted with the client's data key; never logged or audited). The request waits
14 days. The client (or a trusted person for them) approves it, possibly narrower, which gives a
consent with proof ``client`` and its receipt, or refuses it; the partner may withdraw it while
it is pending. Every step is audited before it is committed; the expiry is derived from the
date and is no act of anyone.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session

from broker.context import BrokerContext
from broker.errors import ConsentRequestNotFound
from broker.observability import request_id_var
from broker.schemas.consent_requests import ConsentRequestCreate
from broker.security.registry import Partner
from broker.services import consents, dossier, referral_waits
from broker.services.client_scope import ClientScope
from broker.services.relations import require_valid_relation
from broker.store import crypto
from broker.store.audit_events import AuditEvent
from broker.webhooks import events as webhook_events
from consent import control_store
from consent.controls import (
    REQUEST_LIFETIME,
    ConsentRequest,
    DecidedStatus,
    approval_terms,
    decide,
)
from consent.models import ConsentTerms, NarrowChange
from consent.rules import validate_consent_create
from consent.store import StoredConsent


def _message_aad(request_id: str) -> bytes:
    return b"gbo-broker/consent-request-message/" + request_id.encode()


def _event(kind: str, request: ConsentRequest, *, partner: str | None, worker: str | None,
           consent_id: str | None = None) -> AuditEvent:
    facts: dict[str, object] = {"consent_request_id": request.id}
    if request.on_behalf_of is not None:
        facts["on_behalf_of"] = {"mandate_id": request.on_behalf_of.mandate_id,
                                 "mandatary": request.on_behalf_of.mandatary}
    return AuditEvent(kind=f"consent_request.{kind}", network=request.network,
                      client=request.client_ref, partner=partner, worker=worker,
                      consent_ids=[consent_id] if consent_id else [],
                      request_id=request_id_var.get(), facts=facts)


def ask(*, session: Session, ctx: BrokerContext, partner: Partner, worker: str,
        body: ConsentRequestCreate, now: datetime, commit: bool = True) -> ConsentRequest:
    """``POST /v1/consent-requests`` (committed unless ``commit`` is False: the caller then
    commits it with its own change, as a referral does, DESIGN §10). Raises
    ``NoValidHelpRelation``, ``ConsentValidationError`` (the terms, as for any consent),
    ``AuditUnavailable``."""
    network = partner.network
    client_ref = ctx.keyring.client_ref(network, body.insz)
    require_valid_relation(session=session, network=network, client_ref=client_ref,
                           partner=partner.id, now=now)
    terms = body.terms()
    partners = ctx.registry.partner_refs()
    validate_consent_create(terms, catalogue=ctx.catalogue, partners=partners, network=network,
                            now=now)
    request_id = f"cr-{uuid.uuid4().hex}"
    message_ct = None
    if body.message is not None:
        client = dossier.get_or_create_client(session, keyring=ctx.keyring, network=network,
                                              insz=body.insz, now=now)
        message_ct = crypto.encrypt(ctx.keyring.data_key(client),
                                    json.dumps(body.message).encode(), _message_aad(request_id))
    request = ConsentRequest(
        id=request_id, network=network, client_ref=client_ref, partner=partner.id,
        worker=worker, terms=ConsentTerms(recipients=terms.recipients, purposes=terms.purposes,
                                          sections=terms.sections,
                                          valid_until=terms.valid_until),
        message_ct=message_ct, created_at=now, expires_at=now + REQUEST_LIFETIME,
    )
    ctx.audit.append(_event("created", request, partner=partner.id, worker=worker),
                     never_contains=(body.insz,), now=now)
    control_store.add_request(session=session, request=request)
    if commit:
        session.commit()
    return request


def of_partner(*, session: Session, partner: Partner, request_id: str) -> ConsentRequest:
    """A request this partner made. Raises ``ConsentRequestNotFound`` (unknown or another
    partner's)."""
    request = control_store.get_request(session=session, request_id=request_id)
    if request is None or request.partner != partner.id:
        raise ConsentRequestNotFound()
    return request


def withdraw(*, session: Session, ctx: BrokerContext, partner: Partner, worker: str,
             request_id: str, now: datetime) -> ConsentRequest:
    """The partner withdraws its pending request. Raises ``ConsentRequestNotFound``,
    ``RequestNotPending``, ``AuditUnavailable``."""
    request = of_partner(session=session, partner=partner, request_id=request_id)
    return _decide(session, ctx, request, "withdrawn", partner=partner.id, worker=worker,
                   now=now, never_contains=())


@dataclass(frozen=True)
class ClientRequest:
    """A request as the client reads it: with the partner's message decrypted."""

    request: ConsentRequest
    message: str | None


def _message(ctx: BrokerContext, session: Session, request: ConsentRequest) -> str | None:
    if request.message_ct is None:
        return None
    client = dossier.find_client_by_ref(session, network=request.network,
                                        client_ref=request.client_ref)
    if client is None or client.data_key_wrapped is None:
        return None  # erased: the message is gone with the client's key
    clear = crypto.decrypt(ctx.keyring.data_key(client), request.message_ct,
                           _message_aad(request.id))
    text = json.loads(clear)
    return text if isinstance(text, str) else None


def of_client(*, session: Session, ctx: BrokerContext, scope: ClientScope) -> list[ClientRequest]:
    """``GET /v1/me/consent-requests``: every request about the client, newest first."""
    found = [r for network, ref in scope.refs.items()
             for r in control_store.requests_of_client(session=session, network=network,
                                                       client_ref=ref)]
    found.sort(key=lambda r: (r.created_at, r.id), reverse=True)
    return [ClientRequest(r, _message(ctx, session, r)) for r in found]


def _own(session: Session, scope: ClientScope, request_id: str) -> ConsentRequest:
    request = control_store.get_request(session=session, request_id=request_id)
    if request is None or scope.ref(request.network) != request.client_ref:
        raise ConsentRequestNotFound()
    return request


def _decide(session: Session, ctx: BrokerContext, request: ConsentRequest,
            decision: DecidedStatus, *, partner: str | None, worker: str | None, now: datetime,
            never_contains: tuple[str, ...], scope: ClientScope | None = None,
            consent_id: str | None = None) -> ConsentRequest:
    decided = decide(request, decision, now=now, consent_id=consent_id,
                     on_behalf_of=None if scope is None else scope.on_behalf_of)
    ctx.audit.append(_event(decision, decided, partner=partner, worker=worker,
                            consent_id=consent_id), never_contains=never_contains, now=now)
    # DESIGN §10: a referral waiting for this request moves on with it, in this transaction
    # (audited before anything of the transaction is written).
    referral_waits.request_decided(session=session, ctx=ctx, request=decided, decision=decision,
                                   now=now)
    control_store.record_decision(session=session, decided=decided)
    if decision != "withdrawn":  # docs/webhooks.md: the asking partner hears the client's answer
        data: dict[str, object] = {"consent_request_id": request.id}
        if consent_id is not None:
            data["consent_id"] = consent_id
        webhook_events.enqueue(session=session, registry=ctx.registry, partners=[request.partner],
                               event_type=f"consent_request.{decision}", data=data, now=now)
    session.commit()
    if ctx.webhooks is not None:
        ctx.webhooks.wake()
    return decided


def approve(*, session: Session, ctx: BrokerContext, scope: ClientScope, request_id: str,
            change: NarrowChange | None, now: datetime) -> tuple[ConsentRequest, StoredConsent]:
    """The client approves (possibly narrower): a consent with proof ``client`` and the request
    marked approved, in one transaction. Raises ``ConsentRequestNotFound``,
    ``RequestNotPending``, ``ApprovalWidensRequest`` and the consent's validation errors,
    ``AuditUnavailable``."""
    request = _own(session, scope, request_id)
    terms = approval_terms(request, change, now)
    stored = consents.create(
        session, ctx, terms, client_ref=request.client_ref, network=request.network,
        evidence=consents.PORTAL, proof="client", partner=None, worker=None, now=now,
        never_contains=(scope.actor_insz,), on_behalf_of=scope.on_behalf_of, commit=False,
    )
    decided = _decide(session, ctx, request, "approved", partner=None, worker=None, now=now,
                      never_contains=(scope.actor_insz,), scope=scope,
                      consent_id=stored.record.id)
    return decided, stored


def refuse(*, session: Session, ctx: BrokerContext, scope: ClientScope, request_id: str,
           now: datetime) -> ConsentRequest:
    """The client refuses. Raises ``ConsentRequestNotFound``, ``RequestNotPending``,
    ``AuditUnavailable``."""
    request = _own(session, scope, request_id)
    return _decide(session, ctx, request, "refused", partner=None, worker=None, now=now,
                   never_contains=(scope.actor_insz,), scope=scope)
