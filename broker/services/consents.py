"""Consents (DESIGN §3, §9): recorded at the desk or given, narrowed and revoked by the client (or
a trusted person under a mandate); signed receipts. The rules are ``consent``'s; this module adds
identity, proof, storage, audit and withdrawal notices, and owns the transaction (STYLE).

Every change inserts one new version and closes the previous one (see ``consent.store``). A
revocation is a version of its own (``change = "revoked"``, same terms, ``revoked_at`` = its
creation), so the history the client reads lists every change with its own signed receipt.
Order of work: validate (and prove), append the audit entry (durable), then write and commit; so
no change exists without its entry (DESIGN §7: every consent change is an audit entry).

Proof (DESIGN §9): a consent recorded at the desk is ``eid`` with a valid ``presence`` (the
client's card signed a broker challenge) and ``attested`` without; a consent the client gives
themselves (or a trusted person for them, or the client's approval of a consent request) is
``client``. Later versions keep the first version's proof and recording time.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlmodel import Session

from broker.context import BrokerContext
from broker.errors import ConsentNotFound, NetworkRequired
from broker.observability import request_id_var
from broker.schemas.consents import ConsentCreate, ConsentVersionPublic, MeConsentCreate
from broker.security.registry import Partner
from broker.services import notifications
from broker.services.client_scope import ClientScope
from broker.services.presence import prove_presence
from broker.services.relations import require_valid_relation
from broker.store.audit_events import AuditEvent
from broker.webhooks import events as webhook_events
from consent import errors, notices, store, versions
from consent.models import (
    ConsentStatus,
    ConsentTerms,
    ConsentVersion,
    Evidence,
    HelpRelation,
    NarrowChange,
    OnBehalfOf,
    Proof,
)
from consent.receipt import Organisation, build_receipt, sign_receipt
from consent.rules import NarrowingDiff, consent_status
from consent.store import ConsentChange, StoredConsent

PORTAL = Evidence(method="portal")


@dataclass(frozen=True)
class OwnConsent:
    """One consent of the client: every version, oldest first, and the client's relations."""

    versions: list[StoredConsent]
    relations: Mapping[str, HelpRelation]

    @property
    def head(self) -> StoredConsent:
        return self.versions[-1]

    def status(self, stored: StoredConsent, now: datetime) -> ConsentStatus:
        return consent_status(stored.record, now, self.relations)

    def public(self, stored: StoredConsent, now: datetime) -> ConsentVersionPublic:
        return ConsentVersionPublic.of(
            stored.record, status=self.status(stored, now), change=stored.change,
            recorded_by_partner=stored.recorded_by_partner,
            superseded=stored.record.version < self.head.record.version,
        )


def _relations(session: Session, network: str, client_ref: str) -> dict[str, HelpRelation]:
    found = store.relations_of_client(session=session, network=network, client_ref=client_ref)
    return {rel.id: rel for rel in found}


def _event(c: ConsentVersion, change: ConsentChange, partner: str | None,
           worker: str | None) -> AuditEvent:
    # DESIGN §7: consent id and version, the client's pseudonym; never the INSZ or the terms.
    facts: dict[str, Any] = {"consent_id": c.id, "version": c.version,
                             "evidence": c.evidence.method, "proof": c.proof}
    if c.on_behalf_of is not None:  # DESIGN §9: who acted for the client
        facts["on_behalf_of"] = {"mandate_id": c.on_behalf_of.mandate_id,
                                 "mandatary": c.on_behalf_of.mandatary}
    return AuditEvent(
        kind=f"consent.{change}",
        network=c.network,
        client=c.client_ref,
        partner=partner,
        worker=worker,
        consent_ids=[c.id],
        request_id=request_id_var.get(),
        facts=facts,
    )


def create(
    session: Session, ctx: BrokerContext, terms: ConsentTerms, *, client_ref: str, network: str,
    evidence: Evidence, proof: Proof, partner: str | None, worker: str | None, now: datetime,
    never_contains: tuple[str, ...], on_behalf_of: OnBehalfOf | None = None,
    commit: bool = True,
) -> StoredConsent:
    """Validate, audit and store a consent's first version (committed unless ``commit`` is
    False: the caller then commits it with its own change)."""
    relation = None
    if terms.help_relation_id is not None:
        found = store.get_relation(session=session, relation_id=terms.help_relation_id)
        relation = found[0] if found is not None and found[1] == network else None
    partners = ctx.registry.partner_refs()
    record = versions.build_consent(
        terms, consent_id=f"cs-{uuid.uuid4().hex}", client_ref=client_ref, network=network,
        evidence=evidence, proof=proof, catalogue=ctx.catalogue, partners=partners, now=now,
        relation=relation, on_behalf_of=on_behalf_of,
    )
    ctx.audit.append(_event(record, "created", partner, worker), never_contains=never_contains,
                     now=now)
    store.add_consent_version(
        session=session, version=record, change="created", recorded_by_partner=partner
    )
    if commit:
        session.commit()
    return StoredConsent(record=record, change="created", recorded_by_partner=partner)


def record_at_desk(
    *, session: Session, ctx: BrokerContext, partner: Partner, worker: str,
    consent_in: ConsentCreate, now: datetime,
) -> OwnConsent:
    """``POST /v1/consents``: consent given at ``partner``'s desk (DESIGN §5, §9).

    The recorded-by worker defaults to the authenticated one. With ``presence`` the consent is
    proven by the client's eID (``eid``), otherwise it rests on the worker's word
    (``attested``). Raises ``NoValidHelpRelation`` (the partner does not help this client now),
    ``ConsentValidationError``, ``RelationNotValid``, ``PresenceNotProven``,
    ``AuditUnavailable``.
    """
    client_ref = ctx.keyring.client_ref(partner.network, consent_in.insz)
    # DESIGN §5: the recording partner must have a valid help relation with the client.
    require_valid_relation(
        session=session, network=partner.network, client_ref=client_ref, partner=partner.id,
        now=now,
    )
    evidence = consent_in.evidence
    if evidence.recorded_by is None:
        evidence = evidence.model_copy(update={"recorded_by": worker})
    proof: Proof = "attested"
    if consent_in.presence is not None:
        prove_presence(session=session, keyring=ctx.keyring, anchors=ctx.eid_anchors,
                       presence=consent_in.presence, partner=partner.id,
                       network=partner.network, insz=consent_in.insz, now=now)
        proof = "eid"
    stored = create(
        session, ctx, consent_in.terms(), client_ref=client_ref, network=partner.network,
        evidence=evidence, proof=proof, partner=partner.id, worker=worker, now=now,
        never_contains=(consent_in.insz,),
    )
    return OwnConsent([stored], _relations(session, partner.network, client_ref))


def network_of(ctx: BrokerContext, scope: ClientScope, network: str | None) -> str:
    """The network a client-side change is about: the named one, or the only one in scope.
    Raises ``NetworkRequired`` and ``UnknownNetwork``."""
    if network is None:
        if len(scope.refs) != 1:
            raise NetworkRequired()
        [network] = scope.refs
    elif network not in scope.refs:
        raise errors.UnknownNetwork(pointer="/network")
    return network


def give(
    *, session: Session, ctx: BrokerContext, scope: ClientScope, consent_in: MeConsentCreate,
    now: datetime,
) -> OwnConsent:
    """``POST /v1/me/consents``: the client (or a trusted person for them) gives consent.

    Raises ``NetworkRequired``, ``UnknownNetwork``, ``ConsentValidationError``,
    ``RelationNotValid``, ``AuditUnavailable``.
    """
    network = network_of(ctx, scope, consent_in.network)
    client_ref = scope.refs[network]
    stored = create(
        session, ctx, consent_in.terms(), client_ref=client_ref, network=network,
        evidence=PORTAL, proof="client", partner=None, worker=None, now=now,
        never_contains=(scope.actor_insz,), on_behalf_of=scope.on_behalf_of,
    )
    return OwnConsent([stored], _relations(session, network, client_ref))


def own_consents(*, session: Session, scope: ClientScope) -> list[OwnConsent]:
    """``GET /v1/me/consents``: every consent of the client in every network in scope."""
    out = []
    for network, ref in scope.refs.items():
        rows = store.consents_of_client(session=session, network=network, client_ref=ref)
        if not rows:
            continue
        relations = _relations(session, network, ref)
        by_id: dict[str, list[StoredConsent]] = {}
        for row in rows:
            by_id.setdefault(row.record.id, []).append(row)
        out += [OwnConsent(history, relations) for history in by_id.values()]
    return sorted(out, key=lambda c: (c.versions[0].record.created_at, c.head.record.id))


def own_consent(*, session: Session, scope: ClientScope, consent_id: str) -> OwnConsent:
    """One consent of the client. Raises ``ConsentNotFound`` for another client's id too."""
    history = store.consent_versions(session=session, consent_id=consent_id)
    if not history:
        raise ConsentNotFound()
    first = history[0].record
    if scope.ref(first.network) != first.client_ref:
        raise ConsentNotFound()
    return OwnConsent(history, _relations(session, first.network, first.client_ref))


def _check_names(ctx: BrokerContext, head: ConsentVersion, change: NarrowChange) -> None:
    """Name unknown purposes and sections as such rather than as ``not_a_narrowing`` (a name the
    consent already holds is known to it, whatever the catalogue says)."""
    for i, purpose in enumerate(change.purposes or ()):
        if purpose not in ctx.catalogue.purposes and purpose not in head.purposes:
            raise errors.UnknownPurpose(pointer=f"/purposes/{i}")
    for i, section in enumerate(change.sections or ()):
        if section not in ctx.catalogue.sections and section not in head.sections:
            raise errors.UnknownSection(pointer=f"/sections/{i}")


def _replace_head(
    session: Session, ctx: BrokerContext, own: OwnConsent, *, closed: ConsentVersion,
    new: ConsentVersion, change: ConsentChange, withdrawn: NarrowingDiff, scope: ClientScope,
    now: datetime,
) -> OwnConsent:
    """Audit, close the head, insert ``new`` and queue withdrawal notices, in one transaction."""
    partners = notifications.received_under(
        ctx.audit.log.store, network=new.network, client_ref=new.client_ref, consent_id=new.id,
        now=now,
    )
    ctx.audit.append(_event(new, change, None, None), never_contains=(scope.actor_insz,),
                     now=now)
    store.close_consent_version(session=session, closed=closed)
    store.add_consent_version(session=session, version=new, change=change, recorded_by_partner=None)
    notices.add_notifications(
        session=session, partners=partners, network=new.network, consent_id=new.id,
        version=new.version, change=change, no_longer_covers=withdrawn.as_dict(), now=now,
    )
    webhook_events.enqueue(  # docs/webhooks.md: pushed as well, in the same transaction
        session=session, registry=ctx.registry, partners=partners, event_type=f"consent.{change}",
        data={"consent_id": new.id, "version": new.version}, now=now,
    )
    session.commit()
    if ctx.webhooks is not None:
        ctx.webhooks.wake()
    stored = StoredConsent(record=new, change=change, recorded_by_partner=None)
    return OwnConsent([*own.versions[:-1], StoredConsent(closed, own.head.change,
                       own.head.recorded_by_partner), stored], own.relations)


def narrow_own(
    *, session: Session, ctx: BrokerContext, scope: ClientScope, consent_id: str,
    change: NarrowChange, now: datetime,
) -> OwnConsent:
    """A new version with fewer recipients, purposes or sections, or an earlier end.

    Raises ``ConsentNotFound``, ``ConsentNotActive``, ``NotANarrowing`` and the other
    ``ConsentValidationError``s, ``AuditUnavailable``.
    """
    own = own_consent(session=session, scope=scope, consent_id=consent_id)
    _check_names(ctx, own.head.record, change)
    result = versions.narrow(
        own.head.record, change, new_id=consent_id, evidence=PORTAL, now=now,
        relations=own.relations, on_behalf_of=scope.on_behalf_of,
    )
    return _replace_head(
        session, ctx, own, closed=result.closed, new=result.new, change="narrowed",
        withdrawn=result.diff, scope=scope, now=now,
    )


def revoke_own(
    *, session: Session, ctx: BrokerContext, scope: ClientScope, consent_id: str, now: datetime
) -> OwnConsent:
    """Revoke: a last version, same terms, revoked from its creation. Raises
    ``ConsentNotFound``, ``ConsentNotActive``, ``AuditUnavailable``."""
    own = own_consent(session=session, scope=scope, consent_id=consent_id)
    head = own.head.record
    closed = versions.revoke(head, now=now, relations=own.relations)
    new = replace(
        closed, version=head.version + 1, previous_version_id=head.id, evidence=PORTAL,
        created_at=now, on_behalf_of=scope.on_behalf_of,
    )
    withdrawn = NarrowingDiff(  # a revocation withdraws everything, from now on
        removed_recipients=head.recipients, removed_purposes=head.purposes,
        removed_sections=head.sections, old_valid_until=head.valid_until, new_valid_until=now,
    )
    return _replace_head(
        session, ctx, own, closed=closed, new=new, change="revoked", withdrawn=withdrawn,
        scope=scope, now=now,
    )


def signed_receipt(ctx: BrokerContext, stored: StoredConsent) -> tuple[dict[str, Any], str]:
    """The version's receipt, with which change produced it, and its JWS (DESIGN §3)."""
    partner = (None if stored.recorded_by_partner is None
               else ctx.registry.partners.get(stored.recorded_by_partner))
    organisation = None if partner is None else Organisation(partner.id, partner.name)
    receipt = build_receipt(stored.record, catalogue=ctx.catalogue,
                            publisher=ctx.settings.publisher, recorded_by_organisation=organisation)
    receipt["change"] = stored.change
    key = ctx.receipt_key  # read once: a rotation between two reads would mix two keys
    return receipt, sign_receipt(receipt, key.private_key, key.kid)
