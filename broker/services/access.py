"""The access flow (DESIGN §4–§7): gather, decide, audit durably, then release.

1. Resolve the client's pseudonym; gather help relations, open consent versions and the metadata
   of the client's entries in the requested sections (never content). DESIGN §4 no existence
   leak: a client the broker never saw costs the same queries, the same policy evaluation and
   the same key unwrapping as one it knows, and leaves the same kind of audit entry.
2. Ask the policy (fail closed: any failure denies every section with ``policy_error``). The
   decision names, per granted section, the consents it relied on (DESIGN §3).
3. Append the decision to the audit log and wait until it is durable (audit-before-release,
   DESIGN §6). If that fails the request fails with 503 and nothing is released.
4. Only then decrypt exactly the entries the decision's ``release`` names.

DESIGN §4 no existence leak, in time as well as in work: the reads and the decision (steps 1-2)
end no sooner than ``GBO_EXISTENCE_FLOOR_MS`` after they began (``_settle``). The same queries
over the client's stored rows or over stored padding still cost a little more for a client
with records (each stored record is read and decoded: about half a microsecond to a
microsecond each on SQLite, measured in process; bench/README.md), and so does collecting the
objects they leave; below the floor neither shows. Beyond it (a loaded worker) the time
varies by milliseconds between requests anyway.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import bindparam
from sqlalchemy import select as sa_select
from sqlmodel import Session

from audit.store import Appended
from broker.context import BrokerContext
from broker.errors import ClientErased
from broker.policy.decision import Decision, EntryMeta
from broker.policy.inputs import (
    NOBODY,
    PAD_BUCKETS,
    ConsultationFacts,
    build_input,
    consent_input,
    consultation_input,
    entry_input,
    pad_count,
    relation_input,
)
from broker.schemas.dossier import EntryPublic
from broker.security.auth import PartnerPrincipal
from broker.services import case_consultations, dossier
from broker.services.dossier import ClientKey, SealedEntry
from broker.store.audit_events import AuditEvent
from broker.store.keyring import Keyring
from broker.store.models import Entry
from consent import control_store
from consent import store as consent_store
from consent.errors import UnknownPurpose
from consent.models import ConsentVersion, HelpRelation
from consent.padding import PADDING, padded


@dataclass(frozen=True)
class AccessResult:
    request_id: str
    policy_version: str
    decision: Decision
    entries: dict[str, list[EntryPublic]]  # released entries by section
    appended: Appended


@dataclass(frozen=True)
class Gathered:
    """What the policy is asked about: never any entry content."""

    client_ref: str
    client: ClientKey | None
    entries: list[EntryMeta]
    policy_input: dict[str, Any]


# DESIGN §4 no existence leak: a client id no entry has, asked about when the client has no
# record, so that the entry query runs whether or not the client exists.
_NO_CLIENT = ""
# A Core statement compiled once, run on the connection: plain tuples (as the client's relations
# and consents, ``consent.store.padded_records``), with the sections as one expanding parameter,
# and stored padding entries in the same statement up to the input's bucket
# (``consent.padding``: the padding client's, in the section "-", read through the same index).
_ENTRY = Entry.__table__  # type: ignore[attr-defined]
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# DESIGN §4 no existence leak: what a missing consultation costs in Python (DESIGN §10).
_DECOY_CONSULTATION = ConsultationFacts(id=NOBODY, client_ref=NOBODY, participants=(NOBODY,),
                                        start=_EPOCH, until=_EPOCH, closed_at=None)
_ENTRY_METAS = padded(
    sa_select(_ENTRY.c.id, _ENTRY.c.section, _ENTRY.c.author, _ENTRY.c.restricted,
              _ENTRY.c.worker, _ENTRY.c.created_at)
    .where(_ENTRY.c.client_id == bindparam("client_id"),
           _ENTRY.c.section.in_(bindparam("sections", expanding=True))),
    padding=sa_select(_ENTRY.c.id, _ENTRY.c.section, _ENTRY.c.author, _ENTRY.c.restricted,
                      _ENTRY.c.worker, _ENTRY.c.created_at)
    .where(_ENTRY.c.client_id == PADDING), bucket=PAD_BUCKETS["entries"],
    order_by=("created_at", "id"))


# The released entries, read after the decision as plain rows (``dossier.SealedEntry``).
_RELEASE = sa_select(
    _ENTRY.c.id, _ENTRY.c.section, _ENTRY.c.author, _ENTRY.c.restricted, _ENTRY.c.created_at,
    _ENTRY.c.content_ct,
).where(_ENTRY.c.client_id == bindparam("client_id"),
        _ENTRY.c.id.in_(bindparam("ids", expanding=True)))


def _entry_metas(session: Session, *, keyring: Keyring, network: str, client: ClientKey | None,
                 sections: Sequence[str]) -> tuple[list[EntryMeta], list[EntryMeta]]:
    """The metadata of the client's entries in ``sections``, each with its worker as the keyed
    pseudonym (DESIGN §1: working notes go back only to their own worker), and the padding read
    with them, made into metadata the same way. The same query runs for a client without a
    record (it finds only padding)."""
    metas: tuple[list[EntryMeta], list[EntryMeta]] = ([], [])
    for r in session.connection().execute(_ENTRY_METAS, {
            "client_id": client.id if client is not None else _NO_CLIENT,
            "sections": list(sections)}):
        metas[r[6] != 0].append(EntryMeta(id=r[0], section=r[1], author=r[2], restricted=r[3],
                                          worker=keyring.worker_ref(network, r[2], r[4])))
    return metas


@dataclass(frozen=True)
class ClientFacts:
    """The client's side of every decision in one network: help relations, open consent
    versions and the partners the client excluded (DESIGN §4, §9)."""

    relations: list[HelpRelation]
    consents: list[ConsentVersion]
    exclusions: list[str]
    consultations: list[ConsultationFacts]  # DESIGN §10


def client_facts(session: Session, *, network: str, client_ref: str,
                 now: datetime) -> ClientFacts:
    return ClientFacts(
        relations=consent_store.relations_of_client(session=session, network=network,
                                                    client_ref=client_ref),
        consents=consent_store.open_consents(session=session, network=network,
                                             client_ref=client_ref),
        exclusions=control_store.excluded_partners(session=session, network=network,
                                                   client_ref=client_ref, now=now),
        consultations=case_consultations.policy_facts(session, network=network,
                                                      client_ref=client_ref),
    )


def _settle(until: float) -> None:
    """End the existence-dependent part of a request alike for every client (DESIGN §4): collect
    the young objects its reads left (so what comes next starts from the same collector state)
    and wait until ``until`` (``time.perf_counter()``), if it has not passed."""
    gc.collect(0)
    remaining = until - time.perf_counter()
    if remaining > 0:
        time.sleep(remaining)


def _floor(ctx: BrokerContext) -> float:
    return time.perf_counter() + ctx.settings.existence_floor_ms / 1000


def gather(*, ctx: BrokerContext, session: Session, principal: PartnerPrincipal, insz: str,
           purpose: str, justification: str | None, sections: Sequence[str],
           now: datetime) -> Gathered:
    """Relations, open consent versions, exclusions and entry metadata of the client in the
    requester's network, and the policy input built from them (reads only: indexed, no N+1)."""
    network = principal.partner.network
    client_ref = ctx.keyring.client_ref(network, insz)
    client = dossier.find_client_key(session, network=network, client_ref=client_ref)
    records = consent_store.padded_records(
        session=session, network=network, client_ref=client_ref,
        relation_bucket=PAD_BUCKETS["help_relations"], consent_bucket=PAD_BUCKETS["consents"])
    exclusions = control_store.excluded_partners(session=session, network=network,
                                                 client_ref=client_ref, now=now)
    metas, padding = _entry_metas(session, keyring=ctx.keyring, network=network, client=client,
                                  sections=sections)
    # DESIGN §4 no existence leak: the padding read with the client's records is made into
    # policy input as theirs is, then dropped (``build_input`` pads the input itself).
    for relation in records.padding_relations:
        relation_input(relation, ctx.registry)
    for consent in records.padding_consents:
        consent_input(consent)
    for meta in padding:
        entry_input(meta)
    consultations = case_consultations.policy_facts(session, network=network,
                                                    client_ref=client_ref)
    for _ in range(pad_count(len(consultations), PAD_BUCKETS["consultations"])):
        consultation_input(_DECOY_CONSULTATION)
    policy_input = build_input(
        requester=principal.partner,
        worker=ctx.keyring.worker_ref(network, principal.partner.id, principal.worker),
        client_ref=client_ref,
        relations=records.relations, consents=records.consents, exclusions=exclusions,
        consultations=consultations, purpose=purpose, justification=justification,
        sections=sections, entries=metas,
        registry=ctx.registry, now=now,
    )
    return Gathered(client_ref, client, metas, policy_input)


def request_access(*, ctx: BrokerContext, session: Session, principal: PartnerPrincipal,
                   insz: str, purpose: str, sections: Sequence[str] | None,
                   justification: str | None, request_id: str, now: datetime,
                   correlation_id: str | None = None) -> AccessResult:
    """``correlation_id``: the caller's own request id, kept only in the encrypted detail
    (DESIGN §9). Raises ``UnknownPurpose`` (no sections given for an unknown purpose) and
    ``AuditUnavailable`` (503: the decision could not be made durable; nothing released)."""
    partner = principal.partner
    if sections is None:
        info = ctx.catalogue.purposes.get(purpose)
        if info is None:
            raise UnknownPurpose(pointer="/purpose")
        sections = sorted(info.sections)
    requested = list(dict.fromkeys(sections))
    floor = _floor(ctx)
    facts_in = gather(ctx=ctx, session=session, principal=principal, insz=insz, purpose=purpose,
                      justification=justification, sections=requested, now=now)
    client, client_ref = facts_in.client, facts_in.client_ref
    decision, failure = ctx.policy.decide(facts_in.policy_input, requested=requested,
                                          requester=partner.id, entries=facts_in.entries)
    del facts_in  # DESIGN §4: the client's records are let go before the floor, not after it
    _settle(floor)
    # DESIGN §4 no existence leak: every decision carries an encrypted detail, under the
    # client's data key or, for a client without one, a decoy key unwrapped the same way
    # (``Keyring.detail_key``): the same work, and the same entry for an auditor to see.
    data_key = ctx.keyring.detail_key(client)
    detail: dict[str, Any] = {"released": list(decision.release)}
    if justification is not None:
        detail["justification"] = justification  # DESIGN §4: encrypted, never in clear
    if correlation_id is not None:
        detail["correlation_id"] = correlation_id  # DESIGN §9: free text, encrypted only
    facts: dict[str, Any] = {"obligations": list(decision.obligations)}
    if decision.consultations:  # DESIGN §10: the case consultations the grant relied on
        facts["consultation_ids"] = list(decision.consultations)
    if failure is not None:
        facts["policy_error"] = failure
    appended = ctx.audit.append(
        AuditEvent(
            kind="access.decision", network=partner.network, client=client_ref,
            partner=partner.id, worker=principal.worker, purpose=purpose,
            sections={s: {"verdict": v.verdict, "reasons": list(v.reasons)}
                      for s, v in decision.sections.items()},
            policy_version=ctx.policy.version, consent_ids=decision.relied_on,
            request_id=request_id, break_glass=decision.break_glass, facts=facts, detail=detail,
        ),
        data_key=data_key, never_contains=[insz], now=now,
    )
    # Audit-before-release: the entry above is durable; only now is anything decrypted.
    released: dict[str, list[EntryPublic]] = {}
    if decision.release and client is not None:
        rows = session.connection().execute(_RELEASE, {"client_id": client.id,
                                                       "ids": list(decision.release)})
        try:
            clear = dossier.decrypt_entries(keyring=ctx.keyring, client=client,
                                            entries=[SealedEntry(*r) for r in rows])
        except ClientErased:
            clear = []
        for entry in sorted(clear, key=lambda e: (e.created_at, e.id)):
            released.setdefault(entry.section, []).append(entry)
    return AccessResult(request_id=request_id, policy_version=ctx.policy.version,
                        decision=decision, entries=released, appended=appended)


def involvement(*, ctx: BrokerContext, session: Session, principal: PartnerPrincipal, insz: str,
                purpose: str, request_id: str, now: datetime) -> tuple[list[str], Appended]:
    """Which partners help this client, as far as policy discloses it (DESIGN §5).

    An undisclosed involvement is indistinguishable from none; a policy failure discloses
    nothing (it is logged and counted like any failed decision). The question itself is audited
    (kind ``access.involvement``).
    """
    floor = _floor(ctx)
    gathered = gather(ctx=ctx, session=session, principal=principal, insz=insz, purpose=purpose,
                      justification=None, sections=[], now=now)
    client_ref = gathered.client_ref
    disclosed, failure = ctx.policy.involvement(gathered.policy_input,
                                                known=ctx.registry.partners.keys())
    del gathered  # DESIGN §4: the client's records are let go before the floor, not after it
    _settle(floor)
    facts: dict[str, Any] = {"disclosed": len(disclosed)}
    if failure:
        facts["policy_error"] = failure
    appended = ctx.audit.append(
        AuditEvent(kind="access.involvement", network=principal.partner.network,
                   client=client_ref, partner=principal.partner.id,
                   worker=principal.worker, purpose=purpose, policy_version=ctx.policy.version,
                   request_id=request_id, facts=facts),
        never_contains=[insz], now=now,
    )
    return disclosed, appended
