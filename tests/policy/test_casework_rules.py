"""Casework rules (DESIGN §10) on the embedded engine (Regorus) against the decision table, and
parity with the real OPA engine on the table and on random inputs turned to the new purposes."""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator
from typing import Any

import pytest
import regorus  # type: ignore[import-untyped]

from broker.policy.bundle import DECISION_RULE, load_bundle
from broker.policy.inputs import pad_input
from broker.policy.rego_tests import new_engine
from broker.services.coordination import RULE as COORDINATION_RULE
from broker.services.referrals import COVER_RULE
from broker.settings import DEFAULT_POLICY_DIR
from tests.policy.casework_table import (
    COORDINATION_CASES,
    COVER_CASES,
    HANDOVER_CASES,
    RuleCase,
)
from tests.policy.decision_table import Case
from tests.policy.factories import random_inputs
from tests.policy.test_parity import regorus_outcome, run_opa, same

RULES = (DECISION_RULE, COVER_RULE, COORDINATION_RULE)


@pytest.fixture(scope="module")
def engine() -> Iterator[regorus.Engine]:
    yield new_engine(load_bundle(DEFAULT_POLICY_DIR))


def _value(engine: regorus.Engine, rule: str, inp: Any) -> Any:
    engine.set_input(inp)
    return engine.eval_rule(rule)


@pytest.mark.parametrize("case", HANDOVER_CASES, ids=[c.id for c in HANDOVER_CASES])
def test_handover_decision_table(engine: regorus.Engine, case: Case) -> None:
    assert _value(engine, DECISION_RULE, case.input) == case.expected()


@pytest.mark.parametrize("case", COVER_CASES, ids=[c.id for c in COVER_CASES])
def test_referral_consent_cover_table(engine: regorus.Engine, case: RuleCase) -> None:
    assert _value(engine, COVER_RULE, case.input) == case.expected


@pytest.mark.parametrize("case", COORDINATION_CASES, ids=[c.id for c in COORDINATION_CASES])
def test_coordination_table(engine: regorus.Engine, case: RuleCase) -> None:
    assert _value(engine, COORDINATION_RULE, case.input) == case.expected


def test_padding_changes_no_casework_answer(engine: regorus.Engine) -> None:
    for case in COVER_CASES + COORDINATION_CASES:
        if case.input:
            rule = COVER_RULE if case in COVER_CASES else COORDINATION_RULE
            assert _value(engine, rule, pad_input(case.input)) == case.expected, case.id


# --- parity with the real OPA engine ---------------------------------------------------------


def _turned(inputs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Random inputs asked for the two casework purposes (and with relations by referral)."""
    out = []
    for index, inp in enumerate(inputs):
        purpose = "doorverwijzing" if index % 2 else "gezamenlijke_begeleiding"
        relations = [dict(r, proof="referral") if index % 3 == 0 and isinstance(r, dict) else r
                     for r in (inp.get("client") or {}).get("help_relations") or []]
        client = dict(inp.get("client") or {}, help_relations=relations)
        consents = inp.get("consents")
        if index % 4 < 2 and isinstance(consents, list):  # half name the purpose asked
            consents = [dict(c, purposes=[*c["purposes"], purpose])
                        if isinstance(c, dict) and isinstance(c.get("purposes"), list) else c
                        for c in consents]
        out.append(dict(inp, purpose=purpose, client=client, consents=consents))
    return out


TABLE_INPUTS = ([c.input for c in HANDOVER_CASES] + [c.input for c in COVER_CASES]
                + [c.input for c in COORDINATION_CASES])
CORPUS = TABLE_INPUTS + _turned(random_inputs(200, seed=20261201))

needs_opa = pytest.mark.skipif(
    importlib.util.find_spec("opa_bindings") is None and os.environ.get("REQUIRE_OPA") != "1",
    reason="real OPA engine missing: pip install --no-deps --ignore-requires-python "
    "opa-golib-python-bindings==0.4.4",
)


@pytest.fixture(scope="module")
def opa() -> dict[str, Any]:
    bundle = load_bundle(DEFAULT_POLICY_DIR)
    return run_opa(bundle, CORPUS, [], rules=RULES)


@needs_opa
def test_casework_rules_identical_on_regorus_and_opa(engine: regorus.Engine,
                                                     opa: dict[str, Any]) -> None:
    mismatches = []
    for index, inp in enumerate(CORPUS):
        for rule, theirs in zip(RULES, opa["outcomes"][index], strict=True):
            ours = regorus_outcome(engine, rule, inp)
            if not same(ours, theirs):
                mismatches.append((index, rule, ours, theirs))
    assert mismatches == []


@needs_opa
def test_opa_gives_the_tables_expected_values(opa: dict[str, Any]) -> None:
    outcomes = opa["outcomes"]
    handover = len(HANDOVER_CASES)
    for i, case in enumerate(HANDOVER_CASES):
        assert outcomes[i][0] == {"value": case.expected()}, case.id
    for i, rule_case in enumerate(COVER_CASES):
        want = {"undefined": True} if rule_case.expected is None else {
            "value": rule_case.expected}
        assert outcomes[handover + i][1] == want, rule_case.id
    start = handover + len(COVER_CASES)
    for i, rule_case in enumerate(COORDINATION_CASES):
        assert outcomes[start + i][2] == {"value": rule_case.expected}, rule_case.id


@needs_opa
def test_random_casework_corpus_is_not_vacuous(opa: dict[str, Any]) -> None:
    random_part = opa["outcomes"][len(TABLE_INPUTS):]
    allowed = sum(o[2].get("value", {}).get("allowed") is True for o in random_part)
    covered = sum(bool(o[1].get("value", {}).get("covered")) for o in random_part)
    assert allowed >= 5 and covered >= 5
