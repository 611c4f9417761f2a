"""Scenarios for the access decision table: relations, consents and entries written straight to
the store (so that expired or revoked states can exist), then one request through HTTP."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from broker.context import BrokerContext
from broker.services import dossier
from broker.store.db import session_scope
from consent import control_store
from consent import store as consent_store
from consent.controls import Exclusion
from consent.models import ConsentVersion, Evidence, HelpRelation, Recipient

INSZ = "85073003328"
NETWORK = "gbo-gent"
JUSTIFICATION = "Client bewusteloos aangetroffen, acuut gevaar voor het leven."

RELATION_STATES = {  # (start, end, ended) relative to now
    "valid": (timedelta(days=-30), timedelta(days=300), None),
    "expired": (timedelta(days=-400), timedelta(days=-1), None),
    "ended": (timedelta(days=-30), timedelta(days=300), timedelta(hours=-1)),
    "future": (timedelta(days=1), timedelta(days=300), None),
}
CONSENT_STATES = {  # (valid_from, valid_until, revoked) relative to now
    "active": (timedelta(days=-10), timedelta(days=300), None),
    "expired": (timedelta(days=-400), timedelta(days=-1), None),
    "revoked": (timedelta(days=-10), timedelta(days=300), timedelta(hours=-1)),
    "not_yet_valid": (timedelta(days=2), timedelta(days=300), None),
}


@dataclass(frozen=True)
class C:
    """A consent: recipients as (kind, id) pairs."""

    recipients: tuple[tuple[str, str], ...] = (("partner_type", "caw"),)
    purposes: tuple[str, ...] = ("rechtenverkenning",)
    sections: tuple[str, ...] = ("inkomen",)
    state: str = "active"
    bound_to: str | None = None  # a relation label: the consent ends with that relation
    proof: str = "client"  # DESIGN §9: client | eid | attested
    age: timedelta | None = None  # recorded this long ago (default: when it became valid)


@dataclass(frozen=True)
class R:
    partner: str
    state: str = "valid"
    label: str = ""
    proof: str = "eid"  # DESIGN §9: client | eid | attested | referral


@dataclass(frozen=True)
class E:
    label: str
    author: str
    section: str
    restricted: bool = False
    worker: str = "w-1"  # the token ``sub`` of the worker who wrote it (the factories' worker)


@dataclass(frozen=True)
class Case:
    id: str
    expect: dict[str, str | tuple[str, ...]]  # section -> "granted" or the sorted reason codes
    released: frozenset[str] = frozenset()  # entry labels
    requester: str = "caw-oost-vlaanderen"
    purpose: str = "rechtenverkenning"
    sections: tuple[str, ...] | None = ("inkomen",)
    justification: str | None = None
    relations: tuple[R, ...] = (R("caw-oost-vlaanderen"), R("ocmw-gent"))
    consents: tuple[C, ...] = (C(),)
    entries: tuple[E, ...] = (E("ocmw-inkomen", "ocmw-gent", "inkomen"),)
    break_glass: bool = False
    excluded: tuple[str, ...] = ()  # partners the client excluded (DESIGN §9)
    extra: dict[str, Any] = field(default_factory=dict)


def write_scenario(ctx: BrokerContext, case: Case, now: datetime, *, insz: str = INSZ,
                   relations: bool = True, consents: bool = True) -> dict[str, str]:
    """Store the scenario (or only some of it) for client ``insz``; returns label -> entry id."""
    ref = ctx.keyring.client_ref(NETWORK, insz)
    relation_ids: dict[str, str] = {}
    with session_scope(ctx.engine) as session:
        for rel in case.relations if relations else ():
            start, end, ended = RELATION_STATES[rel.state]
            rid = f"r-{uuid.uuid4().hex[:12]}"
            relation_ids[rel.label or rel.partner] = rid
            consent_store.add_relation(
                session=session, network=NETWORK, declared_by=rel.partner, now=now,
                relation=HelpRelation(id=rid, partner=rel.partner, client_ref=ref,
                                      start=now + start, end=now + end,
                                      ended_at=now + ended if ended is not None else None,
                                      proof=rel.proof),  # type: ignore[arg-type]
            )
        session.flush()  # relations first: a consent may be bound to one
        for c in case.consents if consents else ():
            valid_from, valid_until, revoked = CONSENT_STATES[c.state]
            recorded = now - c.age if c.age is not None else now + valid_from
            consent_store.add_consent_version(
                session=session, change="created", recorded_by_partner=None,
                version=ConsentVersion(
                    id=f"cs-{uuid.uuid4().hex}", version=1, previous_version_id=None,
                    client_ref=ref, network=NETWORK,
                    recipients=tuple(Recipient(kind=k, id=i) for k, i in c.recipients),  # type: ignore[arg-type]
                    purposes=c.purposes, sections=c.sections, valid_from=now + valid_from,
                    valid_until=now + valid_until, evidence=Evidence(method="portal"),
                    grantor=None, help_relation_id=relation_ids.get(c.bound_to or ""),
                    revoked_at=now + revoked if revoked is not None else None,
                    created_at=recorded, proof=c.proof, recorded_at=recorded,  # type: ignore[arg-type]
                ),
            )
        for partner in case.excluded if consents else ():
            control_store.add_exclusion(session=session, exclusion=Exclusion(
                id=f"x-{uuid.uuid4().hex[:12]}", network=NETWORK, client_ref=ref,
                partner=partner, created_at=now - timedelta(minutes=1)))
        session.commit()
        ids = {}
        for entry in case.entries:
            stored = dossier.store_entry(
                session=session, keyring=ctx.keyring, network=NETWORK, author=entry.author,
                worker=entry.worker, now=now,
                entry_in=dossier.NewEntry(insz=insz, section=entry.section,
                                          content={"label": entry.label},
                                          restricted=entry.restricted),
            )
            ids[entry.label] = stored.id
    return ids


def now() -> datetime:
    return datetime.now(UTC)
