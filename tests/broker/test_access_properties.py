"""Property-based tests of the access flow (DESIGN §4), through HTTP on SQLite and PostgreSQL.

Random partners, relations, consents, entries and requests. The oracle is written independently
of the Rego policy, from DESIGN §4 and the consent library's own rules:

- an entry of another partner is returned if and only if the requester is bound by secrecy and
  has a valid help relation, the section is requested, shareable and needed for the purpose, the
  entry is not restricted, and an active consent covers requester, purpose and section — or it is
  a valid break-glass request (then no consent is needed);
- the requester's own entries in requested sections are always returned;
- a denied response is byte-identical with and without other partners' data in denied sections.

Each example uses its own client (a fresh INSZ), so examples share the database safely.
"""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from broker.context import BrokerContext
from broker.security.registry import Partner
from broker.settings import Settings
from consent.models import ConsentVersion, Evidence, HelpRelation, Recipient
from consent.rules import relation_is_valid
from tests.broker.access_scenarios import (
    CONSENT_STATES,
    JUSTIFICATION,
    NETWORK,
    RELATION_STATES,
    C,
    Case,
    E,
    R,
    write_scenario,
)
from tests.factories import partner_auth

PARTNERS = {"ocmw-gent": "ocmw", "caw-oost-vlaanderen": "caw", "dmw-cm": "dmw",
            "dmw-solidaris": "dmw", "buurtwerk-gent": "other"}
SECTIONS = ["identiteit", "contact", "inkomen", "huisvesting", "schulden", "hulpvraag",
            "gezondheid", "justitie", "werkaantekeningen"]
PURPOSES = ["rechtenverkenning", "rechtenrealisatie", "hulpvraagverheldering",
            "gezamenlijke_begeleiding", "noodsituatie"]
RECIPIENTS = [("partner", p) for p in PARTNERS] + [
    ("partner_type", t) for t in ("ocmw", "caw", "dmw", "other")] + [
    ("network", "gbo-gent"), ("network", "gbo-brugge")]
_counter = itertools.count(1)
NEEDS = {  # DESIGN §3's purpose -> needed sections, for the generator's bias only
    "rechtenverkenning": {"identiteit", "contact", "inkomen", "huisvesting"},
    "rechtenrealisatie": {"identiteit", "contact", "inkomen", "huisvesting", "schulden"},
    "hulpvraagverheldering": {"identiteit", "contact", "hulpvraag"},
    "gezamenlijke_begeleiding": set(SECTIONS) - {"werkaantekeningen"},
    "noodsituatie": {"identiteit", "contact", "gezondheid"},
}


ATTESTED_DAYS = timedelta(days=30)  # DESIGN §9


def _fresh_insz() -> str:
    body = 100_000_000 + next(_counter) * 7919 % 800_000_000
    return f"{body:09d}{97 - body % 97:02d}"


consents_st = st.builds(
    C,
    recipients=st.lists(st.sampled_from(RECIPIENTS), min_size=1, max_size=2, unique=True)
    .map(tuple),
    purposes=st.lists(st.sampled_from(PURPOSES[:-1]), min_size=1, max_size=2, unique=True)
    .map(tuple),
    sections=st.lists(st.sampled_from([*SECTIONS[:-1], "*"]), min_size=1, max_size=4,
                      unique=True).map(tuple),
    state=st.sampled_from(sorted(CONSENT_STATES)),
    proof=st.sampled_from(["client", "eid", "attested", "attested"]),
    age=st.sampled_from([None, None, timedelta(days=40)]),
)
@st.composite
def cases_st(draw: st.DrawFn) -> Case:
    """Random scenarios biased towards the interesting region: the requester usually has a
    relation, one consent is often aimed at it and the purpose, entries sit in asked sections."""
    requester = draw(st.sampled_from(sorted(PARTNERS)))
    purpose = draw(st.sampled_from([*PURPOSES, "noodsituatie"]))  # break-glass twice as often
    needed = [sec for sec in SECTIONS if sec in NEEDS[purpose]]
    asked = draw(st.lists(st.sampled_from(needed * 3 + SECTIONS), min_size=1, max_size=4,
                          unique=True))
    rels = {p: draw(st.sampled_from(["none", "none", *RELATION_STATES])) for p in PARTNERS}
    rels[requester] = draw(st.sampled_from(["valid"] * 6 + ["none", *RELATION_STATES]))
    consents = draw(st.lists(consents_st, max_size=2))
    if draw(st.sampled_from([True, True, True, False])):  # a consent aimed at this request
        recipient = draw(st.sampled_from([("partner", requester),
                                          ("partner_type", PARTNERS[requester]),
                                          ("network", "gbo-gent")]))
        sections = draw(st.lists(st.sampled_from([*asked, "*"]), min_size=1, unique=True))
        state = draw(st.sampled_from(["active"] * 3 + sorted(CONSENT_STATES)))
        consents.append(C(recipients=(recipient,), purposes=(purpose,),
                          sections=tuple(sections), state=state,
                          proof=draw(st.sampled_from(["client", "eid", "attested"]))))
    entries = draw(st.lists(st.tuples(st.sampled_from(sorted(PARTNERS)),
                                      st.sampled_from(asked * 3 + SECTIONS[:2]), st.booleans()),
                            max_size=6))
    long_reason = draw(st.booleans())
    proofs = {p: draw(st.sampled_from(["eid", "client", "referral", "attested", "attested"]))
              for p in rels}
    excluded = tuple(p for p in sorted(PARTNERS) if draw(st.sampled_from([False] * 5 + [True])))
    return Case(
        "property", {}, requester=requester, purpose=purpose, sections=tuple(asked),
        justification=(JUSTIFICATION if long_reason else "te kort")
        if purpose == "noodsituatie" else None,
        relations=tuple(R(p, state, proof=proofs[p]) for p, state in rels.items()
                        if state != "none"),
        consents=tuple(consents), excluded=excluded,
        entries=tuple(E(f"e{i}", a, sec, r) for i, (a, sec, r) in enumerate(entries)),
    )


def _covers(c: ConsentVersion, partner: Partner, purpose: str, section: str, ctx: BrokerContext,
            now: datetime) -> bool:
    """DESIGN §4's consent rule restated: in force now, naming the requester (by partner, type or
    network), the purpose, and the section (a wildcard only for basis and vertrouwelijk); and
    DESIGN §9: a consent on the worker's word only opens basis sections, for 30 days."""
    in_force = c.valid_from <= now < c.valid_until and (c.revoked_at is None or now < c.revoked_at)
    tier = ctx.catalogue.sections[section].tier
    if c.proof == "attested" and not (tier == "basis" and now < c.recorded_at + ATTESTED_DAYS):
        return False
    own = {("partner", partner.id), ("partner_type", partner.type), ("network", partner.network)}
    names_requester = any((r.kind, r.id) in own for r in c.recipients)
    tier = ctx.catalogue.sections[section].tier
    names_section = section in c.sections or ("*" in c.sections
                                              and tier in ("basis", "vertrouwelijk"))
    return in_force and names_requester and purpose in c.purposes and names_section


def _oracle(case: Case, ctx: BrokerContext, now: datetime) -> tuple[dict[str, bool], set[str]]:
    """DESIGN §4 stated in Python, independently of the policy: which requested sections are
    granted, and which entries are released."""
    catalogue = ctx.catalogue
    partner = ctx.registry.partners[case.requester]
    relations = [HelpRelation(id=str(i), partner=r.partner, client_ref="c",
                              start=now + RELATION_STATES[r.state][0],
                              end=now + RELATION_STATES[r.state][1],
                              ended_at=(now + RELATION_STATES[r.state][2]
                                        if RELATION_STATES[r.state][2] is not None else None))
                 for i, r in enumerate(case.relations)]
    consents = [ConsentVersion(
        id=str(i), version=1, previous_version_id=None, client_ref="c", network=NETWORK,
        recipients=tuple(Recipient(kind=k, id=v) for k, v in c.recipients),  # type: ignore[arg-type]
        purposes=c.purposes, sections=c.sections,
        valid_from=now + CONSENT_STATES[c.state][0], valid_until=now + CONSENT_STATES[c.state][1],
        evidence=Evidence(method="portal"), grantor=None, help_relation_id=None,
        revoked_at=(now + CONSENT_STATES[c.state][2]
                    if CONSENT_STATES[c.state][2] is not None else None),
        created_at=now, proof=c.proof,  # type: ignore[arg-type]
        recorded_at=now - c.age if c.age is not None else now + CONSENT_STATES[c.state][0],
    ) for i, c in enumerate(case.consents)]
    valid_own = [(r, rel) for r, rel in zip(case.relations, relations, strict=True)
                 if rel.partner == partner.id and relation_is_valid(rel, now)]
    has_relation = bool(valid_own)
    proven_relation = any(r.proof in ("client", "eid", "referral") for r, _ in valid_own)
    attested_starts = [rel.start for r, rel in valid_own if r.proof == "attested"]

    def break_glass_reaches(section: str) -> bool:
        """DESIGN §9: break-glass on a relation on the worker's word only: basis, 30 days."""
        basis = catalogue.sections[section].tier == "basis"
        return proven_relation or (basis and any(now < s + ATTESTED_DAYS
                                                 for s in attested_starts))
    purpose = catalogue.purposes.get(case.purpose)
    break_glass = (purpose is not None and purpose.break_glass and case.justification is not None
                   and len(case.justification.strip()) >= 30)
    granted = {}
    for section in case.sections or ():
        info = catalogue.sections[section]
        granted[section] = bool(
            partner.bound_by_secrecy and has_relation and info.is_shareable
            and purpose is not None and section in purpose.sections
            and (break_glass and break_glass_reaches(section) or (
                not purpose.break_glass and any(
                    _covers(c, partner, case.purpose, section, ctx, now) for c in consents)))
            and partner.id not in case.excluded
        )
    released = set()
    for entry in case.entries:
        if entry.section not in granted:
            continue
        if partner.id in case.excluded:
            continue  # DESIGN §9: an excluded partner gets nothing, its own entries included
        if entry.author == partner.id:
            released.add(entry.label)  # DESIGN §4: a partner always sees its own entries
        elif granted[entry.section] and not entry.restricted:
            released.add(entry.label)
    return granted, released


def _ask(api: TestClient, settings: Settings, case: Case, insz: str) -> Any:
    body: dict[str, Any] = {"insz": insz, "purpose": case.purpose,
                            "sections": list(case.sections or ())}
    if case.justification is not None:
        body["justification"] = case.justification
    response = api.post("/v1/access-requests", json=body,
                        headers=partner_auth(settings, case.requester))
    assert response.status_code == 200, response.text
    return response.json()


@hsettings(max_examples=60, deadline=None,
           suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(case=cases_st())
def test_sections_granted_and_entries_released_exactly_when_design_4_allows(
    api: TestClient, settings: Settings, ctx: BrokerContext, case: Case
) -> None:
    insz, now = _fresh_insz(), datetime.now(UTC)
    ids = write_scenario(ctx, case, now, insz=insz)
    body = _ask(api, settings, case, insz)
    labels = {v: k for k, v in ids.items()}
    granted, released = _oracle(case, ctx, now)
    assert {s: v["verdict"] == "granted" for s, v in body["sections"].items()} == granted
    got = {labels[e["id"]] for s in body["sections"].values() for e in s.get("entries", [])}
    assert got == released


@hsettings(max_examples=25, deadline=None,
           suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(case=cases_st())
def test_denied_sections_answer_the_same_with_and_without_data(
    api: TestClient, settings: Settings, ctx: BrokerContext, case: Case
) -> None:
    insz, now = _fresh_insz(), datetime.now(UTC)
    bare = Case("bare", {}, requester=case.requester, purpose=case.purpose,
                sections=case.sections, justification=case.justification,
                relations=case.relations, consents=case.consents, entries=())
    write_scenario(ctx, bare, now, insz=insz)
    before = _ask(api, settings, bare, insz)["sections"]
    denied = [s for s, v in before.items() if v["verdict"] == "denied"]
    others = [p for p in PARTNERS if p != case.requester]
    data = Case("data", {}, relations=(), consents=(), entries=tuple(
        E(f"d{i}", others[i % len(others)], s, i % 2 == 0) for i, s in enumerate(denied)))
    write_scenario(ctx, data, now, insz=insz)
    after = _ask(api, settings, bare, insz)["sections"]
    assert json.dumps(before, sort_keys=True) == json.dumps(after, sort_keys=True)
