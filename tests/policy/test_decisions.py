"""The access decision on the embedded engine (Regorus), loaded from the bundle: DESIGN §4."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
import regorus  # type: ignore[import-untyped]

from broker.policy.bundle import DECISION_RULE, INVOLVEMENT_RULE, load_bundle
from broker.policy.inputs import pad_input
from broker.policy.rego_tests import new_engine
from broker.settings import DEFAULT_POLICY_DIR
from tests.policy.decision_table import TABLE, Case
from tests.policy.factories import (
    CATALOGUE,
    NETWORK,
    REASON_CODES,
    make_consent,
    make_input,
    random_inputs,
    recipient,
    relation,
    without_entries,
)

RANDOM = random_inputs(300)


@pytest.fixture(scope="module")
def engine() -> Iterator[regorus.Engine]:
    yield new_engine(load_bundle(DEFAULT_POLICY_DIR))


def evaluate(engine: regorus.Engine, rule: str, inp: dict[str, Any]) -> Any:
    engine.set_input(inp)
    return engine.eval_rule(rule)


@pytest.mark.parametrize("case", TABLE, ids=[c.id for c in TABLE])
def test_decision_table(engine: regorus.Engine, case: Case) -> None:
    assert evaluate(engine, DECISION_RULE, case.input) == case.expected()


def test_table_covers_every_reason_code() -> None:
    seen = {
        code
        for case in TABLE
        for want in case.sections.values()
        if want != "granted"
        for code in want
    }
    assert seen == REASON_CODES


def test_random_corpus_is_not_vacuous(engine: regorus.Engine) -> None:
    decisions = [evaluate(engine, DECISION_RULE, inp) for inp in RANDOM]
    verdicts = [s["verdict"] for d in decisions for s in d["sections"].values()]
    assert verdicts.count("granted") >= 20
    assert verdicts.count("denied") >= 100
    assert any(d["break_glass"] for d in decisions)
    assert sum(len(d["release"]) for d in decisions) >= 20


@pytest.mark.parametrize("index", range(len(RANDOM)))
def test_random_decision_properties(engine: regorus.Engine, index: int) -> None:
    inp = RANDOM[index]
    decision = evaluate(engine, DECISION_RULE, inp)
    assert set(decision["sections"]) == set(inp["sections"])
    for name, result in decision["sections"].items():
        # granted iff no reason (DESIGN §10: but for the ground of a grant under a case
        # consultation, legal_basis); reasons sorted, unique, from the stable set
        grounds = ["legal_basis"] if inp["purpose"] == "casusoverleg" else []
        assert (result["verdict"] == "granted") == (result["reasons"] == grounds)
        assert result["reasons"] == sorted(set(result["reasons"]))
        assert set(result["reasons"]) - set(grounds) <= REASON_CODES
        if result["verdict"] == "granted":
            assert oracle_allows(inp, name), name
        # DESIGN §3: a grant names exactly the consents that cover it (none under break-glass)
        assert result["consents"] == (oracle_relied_on(inp, name)
                                      if result["verdict"] == "granted" else [])
    assert decision["release"] == expected_release(inp, decision)
    granted_any = any(r["verdict"] == "granted" for r in decision["sections"].values())
    assert decision["consultations"] == (oracle_open_consultations(inp) if granted_any
                                         and inp["purpose"] == "casusoverleg" else [])
    # DESIGN §4 no existence leak: the same answer without any entries
    bare = evaluate(engine, DECISION_RULE, without_entries(inp))
    assert {k: v for k, v in bare.items() if k != "release"} == {
        k: v for k, v in decision.items() if k != "release"
    }


def _instant(value: str) -> datetime:
    return datetime.fromisoformat(value)


def _valid(now: datetime, start: str, end: str) -> bool:
    return _instant(start) <= now < _instant(end)


def _in_force(inp: dict[str, Any], c: dict[str, Any], now: datetime) -> bool:
    """A consent is in force: not revoked by now, in its period, its bound relation valid."""
    revoked = c["revoked_at"] is not None and _instant(c["revoked_at"]) <= now
    bound = c["help_relation"] is None or any(
        r["id"] == c["help_relation"] and _valid(now, r["start"], r["end"])
        for r in inp["client"]["help_relations"]
    )
    return not revoked and bound and _valid(now, c["valid_from"], c["valid_until"])


ATTESTED_DAYS = timedelta(days=30)  # DESIGN §9


def _proof_opens(c: dict[str, Any], tier: str | None, now: datetime) -> bool:
    """DESIGN §9: the client's act or eID open everything; the worker's word basis, 30 days."""
    if c["proof"] in ("client", "eid"):
        return True
    return (c["proof"] == "attested" and tier == "basis"
            and now < _instant(c["recorded_at"]) + ATTESTED_DAYS)


def _covering(inp: dict[str, Any], section: str) -> list[str]:
    """The ids of the consents in force that cover this requester, purpose and section."""
    req, now = inp["requester"], _instant(inp["now"])
    tier = CATALOGUE["sections"].get(section, {}).get("tier")
    found = []
    for c in inp["consents"]:
        covers_requester = any(
            (r["kind"], r["id"])
            in {
                ("partner", req["partner"]),
                ("partner_type", req["type"]),
                ("network", req["network"]),
            }
            for r in c["recipients"]
        )
        covers_section = section in c["sections"] or (
            "*" in c["sections"] and tier in ("basis", "vertrouwelijk")
        )
        if (_in_force(inp, c, now) and covers_requester and inp["purpose"] in c["purposes"]
                and covers_section and _proof_opens(c, tier, now)):
            found.append(c["id"])
    return sorted(found)


def oracle_relied_on(inp: dict[str, Any], section: str) -> list[str]:
    return [] if inp["purpose"] in ("noodsituatie", "casusoverleg") else _covering(inp, section)


def oracle_open_consultations(inp: dict[str, Any]) -> list[str]:
    """DESIGN §10: the open consultations about this client the requester takes part in."""
    now = _instant(inp["now"])
    return sorted(c["id"] for c in inp.get("consultations", [])
                  if c["client"] == inp["client"]["ref"]
                  and inp["requester"]["partner"] in c["participants"]
                  and _valid(now, c["start"], c["until"])
                  and (c["closed_at"] is None or now < _instant(c["closed_at"])))


def oracle_allows(inp: dict[str, Any], section: str) -> bool:
    """Independent restatement of DESIGN §4's grant conditions (the `only if` direction)."""
    req, now = inp["requester"], _instant(inp["now"])
    purpose = CATALOGUE["purposes"].get(inp["purpose"])
    tier = CATALOGUE["sections"].get(section, {}).get("tier")
    if not (req["active"] and req["bound_by_secrecy"] and req["network"] == NETWORK):
        return False
    if not any(
        r["partner"] == req["partner"] and _valid(now, r["start"], r["end"])
        for r in inp["client"]["help_relations"]
    ):
        return False
    if purpose is None or section not in purpose["sections"] or tier == "geheim":
        return False
    if req["partner"] in inp["client"].get("exclusions", []):
        return False  # DESIGN §9: an excluded partner gets nothing
    if inp["purpose"] == "noodsituatie":
        own = [r for r in inp["client"]["help_relations"]
               if r["partner"] == req["partner"] and _valid(now, r["start"], r["end"])]
        proven = any(r["proof"] in ("client", "eid", "referral") for r in own)
        attested = any(r["proof"] == "attested" and tier == "basis"
                       and now < _instant(r["start"]) + ATTESTED_DAYS for r in own)
        return len((inp["justification"] or "").strip()) >= 30 and (proven or attested)
    if inp["purpose"] == "casusoverleg":  # DESIGN §10: only inside an open consultation
        return bool(oracle_open_consultations(inp))
    return bool(_covering(inp, section))


SHAREABLE_TIERS = ("basis", "vertrouwelijk", "bijzonder")


def expected_release(inp: dict[str, Any], decision: dict[str, Any]) -> list[str]:
    """DESIGN §4: own entries (a working note only to its own worker, DESIGN §1), plus
    unrestricted entries of granted sections."""
    req = inp["requester"]
    released = set()
    for e in inp["entries"]:
        result = decision["sections"].get(e["section"])
        if result is None:
            continue
        own = (req["active"] and e["author"] == req["partner"]
               and req["partner"] not in inp["client"].get("exclusions", []))
        if CATALOGUE["sections"].get(e["section"], {}).get("tier") not in SHAREABLE_TIERS:
            # DESIGN §1: working notes (and, failing closed, an entry of an unknown section) go
            # back only to the worker who wrote them
            own = own and bool(e.get("worker")) and e.get("worker") == req.get("worker")
        if own or (result["verdict"] == "granted" and e.get("restricted") is False):
            released.add(e["id"])
    return sorted(released)


def _involvement_input(purpose: str, consents: list[dict[str, Any]]) -> dict[str, Any]:
    rels = [relation("caw-oost-vlaanderen"), relation("ocmw-gent"), relation("dmw-cm")]
    return make_input(
        purpose=purpose,
        consents=consents,
        client={"ref": "p-1", "network": NETWORK, "help_relations": rels},
    )


INVOLVEMENT_CASES = [
    (
        "network_consent_joint_support",
        "gezamenlijke_begeleiding",
        [recipient("network", NETWORK)],
        ["dmw-cm", "ocmw-gent"],
    ),
    (
        "type_consent_referral",
        "doorverwijzing",
        [recipient("partner", "caw-oost-vlaanderen"), recipient("partner_type", "dmw")],
        ["dmw-cm"],
    ),
    (
        "consent_covers_requester_only",
        "doorverwijzing",
        [recipient("partner", "caw-oost-vlaanderen")],
        [],
    ),
    ("purpose_does_not_disclose", "rechtenverkenning", [recipient("network", NETWORK)], []),
]


@pytest.mark.parametrize(
    ("purpose", "recipients", "expected"),
    [c[1:] for c in INVOLVEMENT_CASES],
    ids=[c[0] for c in INVOLVEMENT_CASES],
)
def test_involvement(
    engine: regorus.Engine, purpose: str, recipients: list[dict[str, str]], expected: list[str]
) -> None:
    consent = make_consent(purposes=[purpose], recipients=recipients)
    assert evaluate(engine, INVOLVEMENT_RULE, _involvement_input(purpose, [consent])) == expected


def test_padding_the_facts_changes_no_decision(engine: regorus.Engine) -> None:
    """DESIGN §4 no existence leak: the broker pads the client's relations, consents and entries
    (``broker.policy.inputs.pad_input``) so that a client it never saw costs the policy the same
    as a small one; the padding must never change an answer."""
    for inp in [case.input for case in TABLE if case.input] + RANDOM:
        padded = pad_input(inp)
        assert len(padded["entries"]) >= 16 and len(padded["consents"]) >= 4
        for rule in (DECISION_RULE, INVOLVEMENT_RULE):
            assert evaluate(engine, rule, padded) == evaluate(engine, rule, inp), rule


def _values(engine: regorus.Engine, query: str) -> list[Any]:
    result = engine.eval_query(query)["result"]
    return [row["expressions"][0]["value"] for row in result]


def test_padding_takes_the_path_of_a_record_of_other_partners(engine: regorus.Engine) -> None:
    """DESIGN §4 no existence leak: the policy must not pass over padding faster than over real
    records that do not concern the requester. A padding consent is in force, as a real one
    is, and is then dropped only because its recipient is nobody; a padding entry is of a
    requested section and is dropped only because nobody wrote it; a padding relation names
    a partner that is never the requester."""
    inp = make_input(sections=["identiteit", "inkomen"])  # both granted, no entries
    padded = pad_input(inp)
    engine.set_input(padded)
    pad_consents = padded["consents"][1:]
    in_force = _values(engine, "[c | some c in input.consents; data.gbo.access.consent_valid(c)]")
    assert in_force == [padded["consents"]]
    assert _values(engine, "[c.id | some c in data.gbo.access.usable_consents]") == [
        [c["id"] for c in inp["consents"]]]
    assert pad_consents and all(c["id"] == "-" for c in pad_consents)
    assert {e["section"] for e in padded["entries"]} == {"identiteit", "inkomen"}
    granted = _values(engine, "[s | some s in data.gbo.access.granted_sections]")
    assert granted == [["identiteit", "inkomen"]]
    assert _values(engine, "[e | some e in data.gbo.access.released]") == [[]]
    assert all(r["partner"] != padded["requester"]["partner"]
               for r in padded["client"]["help_relations"][1:])
    assert evaluate(engine, DECISION_RULE, padded) == evaluate(engine, DECISION_RULE, inp)
