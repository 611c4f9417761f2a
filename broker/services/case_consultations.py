"""Case consultations (DESIGN §10: casusoverleg, art. 458ter Sw.).

The supervisor opens one about a client: legal basis (a catalogue code; ``procureur`` needs its
reference), goal, participants (registered partners of one network, active and bound by
secrecy) and an end at most ``catalogue.consultation.max_months`` (6) months ahead. While it is
open its participants may request the client's sections for purpose ``casusoverleg`` without
consent: that rule is the policy's (``broker/policies/consultation.rego``), fed by
:func:`policy_facts`. Closing it, or its end date, ends all access at once. Its goal and
reference are stored only encrypted with the client's data key. Every change is audited before
it is committed; the client is told once it ended, unless the authorisation defers it
(``client_notice`` ``deferred``, recorded and audited).
"""

from __future__ import annotations

import calendar
import json
import uuid
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session

from audit.entry import format_time
from broker.context import BrokerContext
from broker.errors import (
    CaseConsultationEnded,
    CaseConsultationNotFound,
    ClientErased,
    ConfigurationError,
    ConsultationEndInPast,
    ConsultationTooLong,
    LegalBasisReferenceRequired,
    ParticipantNotEligible,
    UnknownLegalBasis,
    UnknownPartnerId,
)
from broker.observability import request_id_var
from broker.policy.inputs import ConsultationFacts
from broker.schemas.case_consultations import CaseConsultationCreate
from broker.services import dossier
from broker.services.audit_scope import scope_filter, verified_rows
from broker.store import consultations as store
from broker.store import crypto
from broker.store.audit_events import AuditEvent, decode
from broker.store.consultations import CaseConsultation
from consent.catalogue import ConsultationInfo

ACTOR_MAX = 64  # opened_by / closed_by: an identity provider's `sub` may be longer
MAX_COUNTED = 100_000


@dataclass(frozen=True)
class Secret:
    """The free text of a consultation, decrypted (None once the client's data was erased)."""

    goal: str | None
    reference: str | None


def _aad(consultation_id: str) -> bytes:
    return b"gbo-broker/case-consultation/" + consultation_id.encode()


def info(ctx: BrokerContext) -> ConsultationInfo:
    found = ctx.catalogue.consultation
    if found is None:
        raise ConfigurationError("the policy catalogue has no case consultation data")
    return found


def add_months(moment: datetime, months: int) -> datetime:
    """``moment`` plus calendar months; a day past the target month's end is its last day."""
    month0 = moment.month - 1 + months
    year, month = moment.year + month0 // 12, month0 % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def is_open(c: CaseConsultation, now: datetime) -> bool:
    """For display only (status, the client's notice); access is the policy's decision."""
    return c.opened_at <= now < c.ends_at()


def _check(ctx: BrokerContext, body: CaseConsultationCreate, now: datetime) -> str:
    """The network of a valid opening. Raises ``UnknownLegalBasis``,
    ``LegalBasisReferenceRequired``, ``ConsultationEndInPast``, ``ConsultationTooLong``,
    ``UnknownPartnerId`` and ``ParticipantNotEligible``."""
    spec = info(ctx)
    basis = spec.legal_bases.get(body.legal_basis.code)
    if basis is None:
        raise UnknownLegalBasis()
    if basis.reference_required and body.legal_basis.reference is None:
        raise LegalBasisReferenceRequired()
    if body.until <= now:
        raise ConsultationEndInPast()
    if body.until > add_months(now, spec.max_months):
        raise ConsultationTooLong()
    networks = set()
    for partner_id in body.participants:
        partner = ctx.registry.partner(partner_id)
        if partner is None:
            raise UnknownPartnerId()
        if not (partner.active and partner.bound_by_secrecy):
            raise ParticipantNotEligible()
        networks.add(partner.network)
    if len(networks) != 1 or len(set(body.participants)) < 2:
        raise ParticipantNotEligible()
    return networks.pop()


def open_consultation(*, session: Session, ctx: BrokerContext, body: CaseConsultationCreate,
                      opened_by: str, now: datetime) -> CaseConsultation:
    """Raises the errors of ``_check``, ``ClientErased`` and ``AuditUnavailable``."""
    network = _check(ctx, body, now)
    client = dossier.get_or_create_client(session, keyring=ctx.keyring, network=network,
                                          insz=body.insz, now=now)
    data_key = ctx.keyring.data_key(client)  # ClientErased after erasure
    consultation_id = f"cc-{uuid.uuid4().hex}"
    secret = json.dumps({"goal": body.goal, "reference": body.legal_basis.reference}).encode()
    participants = sorted(set(body.participants))
    notice = "deferred" if body.legal_basis.defer_client_notice else "at_end"
    consultation = CaseConsultation(
        id=consultation_id, network=network, client_ref=client.ref, client_id=client.id,
        legal_basis=body.legal_basis.code,
        secret_ct=crypto.encrypt(data_key, secret, _aad(consultation_id)),
        participants=participants, client_notice=notice, opened_at=now,
        opened_by=opened_by[:ACTOR_MAX], until=body.until)
    ctx.audit.append(AuditEvent(
        kind="case_consultation.opened", network=network, client=client.ref,
        purpose=info(ctx).purpose, request_id=request_id_var.get(),
        facts={"consultation_id": consultation_id, "legal_basis": body.legal_basis.code,
               "participants": participants, "end": format_time(body.until),
               "client_notice": notice}),
        never_contains=(body.insz,), now=now)
    store.add(session, consultation)
    session.commit()
    return consultation


def secret_of(ctx: BrokerContext, session: Session, c: CaseConsultation) -> Secret:
    client = dossier.find_client_key(session, network=c.network, client_ref=c.client_ref)
    if client is None:
        return Secret(None, None)
    try:
        key = ctx.keyring.data_key(client)
    except ClientErased:
        return Secret(None, None)
    clear = json.loads(crypto.decrypt(key, c.secret_ct, _aad(c.id)))
    return Secret(goal=clear["goal"], reference=clear["reference"])


def for_participant(*, session: Session, partner: str, network: str,
                    consultation_id: str) -> CaseConsultation:
    """Raises ``CaseConsultationNotFound``, the same for an unknown id as for a consultation
    the partner does not take part in (DESIGN §4 no existence leak)."""
    found = store.get(session, consultation_id)
    if found is None or found.network != network or partner not in found.participants:
        raise CaseConsultationNotFound()
    return found


def close(*, session: Session, ctx: BrokerContext, consultation_id: str, closed_by: str,
          now: datetime) -> CaseConsultation:
    """End all access at once. Raises ``CaseConsultationNotFound``, ``CaseConsultationEnded``
    and ``AuditUnavailable``."""
    found = store.get(session, consultation_id)
    if found is None:
        raise CaseConsultationNotFound()
    if found.ends_at() <= now:
        raise CaseConsultationEnded()
    ctx.audit.append(AuditEvent(
        kind="case_consultation.closed", network=found.network, client=found.client_ref,
        purpose=info(ctx).purpose, request_id=request_id_var.get(),
        facts={"consultation_id": found.id, "client_notice": found.client_notice}), now=now)
    found.closed_at = now
    found.closed_by = closed_by[:ACTOR_MAX]
    session.add(found)
    session.commit()
    session.refresh(found)
    return found


def policy_facts(session: Session, *, network: str, client_ref: str) -> list[ConsultationFacts]:
    """The client's consultations in ``network`` as the policy reads them (DESIGN §10)."""
    return [ConsultationFacts(id=c_id, client_ref=ref, participants=tuple(participants),
                              start=opened_at, until=until, closed_at=closed_at)
            for c_id, ref, participants, opened_at, until, closed_at
            in store.facts_of_client(session, network=network, client_ref=client_ref)]


# --- auditors ---------------------------------------------------------------------------------


def in_scope(c: CaseConsultation, scope: str) -> bool:
    """``supervisor`` sees every consultation, ``network:<id>`` its network's,
    ``partner:<id>`` those the partner takes part in."""
    limits = scope_filter(scope)
    if "partner" in limits:
        return limits["partner"] in c.participants
    return c.network == limits.get("network", c.network)


def for_auditor(*, session: Session, scope: str) -> list[CaseConsultation]:
    limits = scope_filter(scope)
    rows = store.listing(session, network=limits.get("network"))
    return [c for c in rows if in_scope(c, scope)]


def relied_on(entry: Mapping[str, object]) -> list[str]:
    """The consultation ids an audit entry names (an access decision or a lifecycle event)."""
    facts = entry.get("facts")
    if not isinstance(facts, dict):
        return []
    ids = facts.get("consultation_ids", [])
    single = facts.get("consultation_id")
    out = [i for i in ids if isinstance(i, str)] if isinstance(ids, list) else []
    return out + ([single] if isinstance(single, str) else [])


def access_counts(ctx: BrokerContext, consultations: Iterable[CaseConsultation]) -> dict[str, int]:
    """The number of access decisions each consultation's grants relied on."""
    counts: dict[str, int] = {}
    for c in consultations:
        found = verified_rows(ctx.audit.log.store.find_leaves(
            clients=[(c.network, c.client_ref)], kind_prefix="access.decision",
            time_from=format_time(c.opened_at), limit=MAX_COUNTED))
        counts[c.id] = sum(c.id in relied_on(decode(s)) for s in found)
    return counts


# --- the client ---------------------------------------------------------------------------------


def told(c: CaseConsultation, now: datetime) -> bool:
    """DESIGN §10: the client is told once the consultation ended, unless deferred."""
    return c.client_notice == "at_end" and c.ends_at() <= now


def told_to_client(*, session: Session, refs: Collection[tuple[str, str]],
                   now: datetime) -> list[CaseConsultation]:
    return [c for c in store.of_clients(session, refs) if told(c, now)]


def untold_ids(*, session: Session, ids: Collection[str], now: datetime) -> set[str]:
    """Of ``ids``, the consultations the client is not told of (yet); an unknown id counts as
    untold."""
    found = store.by_ids(session, ids)
    return {i for i in ids if i not in found or not told(found[i], now)}
