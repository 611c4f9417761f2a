"""Mandates (DESIGN §9): a trusted person manages, never reads, a client's consents.

The client names a trusted person by INSZ in the portal (proof ``client``); a legal
representative is recorded at the desk by a partner that helps the client, with the
representative's own eID (proof ``eid``). The trusted person then logs in as themselves and acts
under the mandate (``broker.services.client_scope``); every act records it. The names the two
go by are stored encrypted with the client's data key. Creating and revoking a mandate are
audited before they are committed.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import replace
from datetime import datetime

from sqlmodel import Session

from broker.context import BrokerContext
from broker.errors import MandateNotFound
from broker.observability import request_id_var
from broker.schemas.mandates import MandateCreate, RepresentativeCreate
from broker.security.registry import Partner
from broker.services import dossier
from broker.services.client_scope import ClientScope, client_refs
from broker.services.consents import network_of
from broker.services.presence import prove_presence
from broker.services.relations import require_valid_relation
from broker.store import crypto
from broker.store.audit_events import AuditEvent
from consent import control_store
from consent.controls import Mandate, MandateRole, check_mandate
from consent.models import Proof


def _labels_aad(mandate_id: str) -> bytes:
    return b"gbo-broker/mandate-labels/" + mandate_id.encode()


def _event(kind: str, m: Mandate, *, partner: str | None = None,
           worker: str | None = None) -> AuditEvent:
    return AuditEvent(kind=f"mandate.{kind}", network=m.network, client=m.client_ref,
                      partner=partner, worker=worker, request_id=request_id_var.get(),
                      facts={"mandate_id": m.id, "mandatary": m.mandatary_ref, "role": m.role,
                             "proof": m.proof})


def _make(session: Session, ctx: BrokerContext, *, network: str, client_insz: str,
          mandatary_insz: str, role: MandateRole, proof: Proof, partner: str | None,
          worker: str | None, valid_until: datetime, names: dict[str, str | None],
          now: datetime) -> Mandate:
    client_ref = ctx.keyring.client_ref(network, client_insz)
    mandatary_ref = ctx.keyring.client_ref(network, mandatary_insz)
    check_mandate(client_ref=client_ref, mandatary_ref=mandatary_ref, valid_until=valid_until,
                  now=now)
    mandate_id = f"m-{uuid.uuid4().hex}"
    labels_ct = None
    if any(names.values()):
        client = dossier.get_or_create_client(session, keyring=ctx.keyring, network=network,
                                              insz=client_insz, now=now)
        labels_ct = crypto.encrypt(ctx.keyring.data_key(client), json.dumps(names).encode(),
                                   _labels_aad(mandate_id))
    mandate = Mandate(id=mandate_id, network=network, client_ref=client_ref,
                      mandatary_ref=mandatary_ref, role=role, proof=proof,
                      recorded_by_partner=partner, valid_from=now, valid_until=valid_until,
                      created_at=now, labels_ct=labels_ct)
    ctx.audit.append(_event("created", mandate, partner=partner, worker=worker),
                     never_contains=(client_insz, mandatary_insz), now=now)
    control_store.add_mandate(session=session, mandate=mandate)
    session.commit()
    return mandate


def give(*, session: Session, ctx: BrokerContext, insz: str, body: MandateCreate,
         now: datetime) -> Mandate:
    """``POST /v1/me/mandates``: the client (acting for themselves) names a trusted person.
    Raises ``NetworkRequired``, ``UnknownNetwork``, ``SelfMandate``, the period errors,
    ``AuditUnavailable``."""
    network = network_of(ctx, ClientScope(refs=client_refs(ctx, insz), actor_insz=insz),
                         body.network)
    return _make(session, ctx, network=network, client_insz=insz, mandatary_insz=body.insz,
                 role="trusted_person", proof="client", partner=None, worker=None,
                 valid_until=body.valid_until,
                 names={"mandatary": body.trusted_person_name, "client": body.my_name}, now=now)


def record_representative(*, session: Session, ctx: BrokerContext, partner: Partner,
                          worker: str, body: RepresentativeCreate, now: datetime) -> Mandate:
    """``POST /v1/mandates``: a legal representative, recorded at the desk of a partner that
    helps the client, proven by the representative's own eID. Raises ``NoValidHelpRelation``,
    ``PresenceNotProven``, ``SelfMandate``, the period errors, ``AuditUnavailable``."""
    network = partner.network
    require_valid_relation(session=session, network=network,
                           client_ref=ctx.keyring.client_ref(network, body.insz),
                           partner=partner.id, now=now)
    prove_presence(session=session, keyring=ctx.keyring, anchors=ctx.eid_anchors,
                   presence=body.presence, partner=partner.id, network=network,
                   insz=body.representative_insz, now=now)
    return _make(session, ctx, network=network, client_insz=body.insz,
                 mandatary_insz=body.representative_insz, role="legal_representative",
                 proof="eid", partner=partner.id, worker=worker, valid_until=body.valid_until,
                 names={"mandatary": body.representative_name, "client": body.client_name},
                 now=now)


def names_of(ctx: BrokerContext, session: Session, m: Mandate) -> dict[str, str | None]:
    """The names stored with the mandate (none after the client's erasure)."""
    if m.labels_ct is None:
        return {}
    client = dossier.find_client_by_ref(session, network=m.network, client_ref=m.client_ref)
    if client is None or client.data_key_wrapped is None:
        return {}
    data = json.loads(crypto.decrypt(ctx.keyring.data_key(client), m.labels_ct,
                                     _labels_aad(m.id)))
    return {k: v for k, v in data.items() if isinstance(v, str)} if isinstance(data, dict) else {}


def of_person(*, session: Session, ctx: BrokerContext,
              insz: str) -> tuple[list[Mandate], list[Mandate]]:
    """(the mandates this person gave, the mandates this person holds)."""
    given: list[Mandate] = []
    held: list[Mandate] = []
    for network, ref in client_refs(ctx, insz).items():
        given += control_store.mandates_given(session=session, network=network, client_ref=ref)
        held += control_store.mandates_held(session=session, network=network, mandatary_ref=ref)
    return given, held


def revoke(*, session: Session, ctx: BrokerContext, insz: str, mandate_id: str,
           now: datetime) -> Mandate:
    """The client who gave it, or the trusted person who holds it, ends a mandate. Raises
    ``MandateNotFound`` (unknown, someone else's, or ended already), ``AuditUnavailable``."""
    m = control_store.get_mandate(session=session, mandate_id=mandate_id)
    if m is None or m.network not in ctx.registry.networks or not m.valid(now):
        raise MandateNotFound()
    me = ctx.keyring.client_ref(m.network, insz)
    if me not in (m.client_ref, m.mandatary_ref):
        raise MandateNotFound()
    ctx.audit.append(_event("revoked", m), never_contains=(insz,), now=now)
    control_store.revoke_mandate(session=session, mandate_id=mandate_id, now=now)
    session.commit()
    return replace(m, revoked_at=now)
