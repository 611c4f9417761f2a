"""Parity: the embedded engine (Regorus) and the real OPA engine decide the same (DESIGN §4).

Real OPA comes from opa-golib-python-bindings, installed in the test environment with
`pip install --no-deps --ignore-requires-python opa-golib-python-bindings==0.4.4`. It is driven in
a child process (opa_worker.py), see there why.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import regorus  # type: ignore[import-untyped]

from broker.policy.bundle import (
    CLIENT_VIEW_RULE,
    DECISION_RULE,
    INVOLVEMENT_RULE,
    PolicyBundle,
    load_bundle,
)
from broker.policy.inputs import pad_input
from broker.policy.rego_tests import discover_tests, new_engine
from broker.settings import DEFAULT_POLICY_DIR
from tests.policy.decision_table import TABLE
from tests.policy.factories import make_consent, make_input, random_inputs

# CI sets REQUIRE_OPA=1: there a missing engine fails the parity tests instead of skipping them.
pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("opa_bindings") is None and os.environ.get("REQUIRE_OPA") != "1",
    reason="real OPA engine missing: pip install --no-deps --ignore-requires-python "
    "opa-golib-python-bindings==0.4.4",
)

RULES = (DECISION_RULE, INVOLVEMENT_RULE, CLIENT_VIEW_RULE)

# Malformed inputs: both engines must agree on these too (same value, or both an error).
EDGE_INPUTS: list[Any] = [
    None,
    {"sections": "inkomen"},
    make_input(sections={"a": "inkomen"}),
    make_input(sections=["inkomen", 7, None]),
    make_input(entries=None, consents="x"),
    make_input(now=1795860000),
    make_input(requester=None),
    make_input(client={"help_relations": [{"partner": "caw-oost-vlaanderen"}]}),
    make_input(consents=[make_consent(valid_until=None)]),
    make_input(consents=[make_consent(valid_until="garbage")]),
    make_input(consents=[make_consent(valid_until="2026-02-30T00:00:00Z")]),
    make_input(now="2026-11-28 10:00:00Z"),
    make_input(justification=["a" * 40]),
]

# The broker pads the client's facts with inert items (DESIGN §4 no existence leak): both
# engines must ignore them alike.
CORPUS = ([case.input for case in TABLE] + random_inputs(300) + EDGE_INPUTS
          + [pad_input(case.input) for case in TABLE if case.input])


def regorus_outcome(engine: regorus.Engine, rule: str, inp: Any) -> dict[str, Any]:
    try:
        engine.set_input(inp)
        value = engine.eval_rule(rule)
    except RuntimeError as exc:
        return {"error": str(exc).splitlines()[0]}
    return {"undefined": True} if value is None else {"value": value}


def run_opa(bundle: PolicyBundle, inputs: list[Any], tests: list[str],
            rules: tuple[str, ...] = RULES) -> dict[str, Any]:
    job = {
        "modules": bundle.policies + bundle.tests,
        "data": bundle.data,
        "rules": [rule.removeprefix("data.") for rule in rules],
        "inputs": inputs,
        "tests": tests,
    }
    proc = subprocess.run(
        [sys.executable, str(Path(__file__).with_name("opa_worker.py"))],
        input=json.dumps(job),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    result: dict[str, Any] = json.loads(proc.stdout)
    return result


@pytest.fixture(scope="module")
def opa() -> dict[str, Any]:
    bundle = load_bundle(DEFAULT_POLICY_DIR)
    tests = discover_tests(new_engine(bundle, with_tests=True), [p for p, _ in bundle.tests])
    return run_opa(bundle, CORPUS, [f"{pkg}.{name}" for pkg, name in tests])


def same(regorus_result: dict[str, Any], opa_result: dict[str, Any]) -> bool:
    if "error" in regorus_result or "error" in opa_result:
        return "error" in regorus_result and "error" in opa_result
    return regorus_result == opa_result


def test_decisions_identical_on_regorus_and_opa(opa: dict[str, Any]) -> None:
    engine = new_engine(load_bundle(DEFAULT_POLICY_DIR))
    mismatches = []
    for index, inp in enumerate(CORPUS):
        for rule, theirs in zip(RULES, opa["outcomes"][index], strict=True):
            ours = regorus_outcome(engine, rule, inp)
            if not same(ours, theirs):
                mismatches.append((index, rule, ours, theirs))
    assert mismatches == []


def test_corpus_exercises_grants_and_errors(opa: dict[str, Any]) -> None:
    decisions = [o[0] for o in opa["outcomes"]]
    granted = sum(
        s["verdict"] == "granted"
        for d in decisions
        if "value" in d
        for s in d["value"]["sections"].values()
    )
    assert granted >= 50
    assert 0 < sum("error" in d for d in decisions) <= len(EDGE_INPUTS)
    assert any(o[1].get("value") for o in opa["outcomes"])


def test_rego_unit_tests_pass_on_opa(opa: dict[str, Any]) -> None:
    assert len(opa["tests"]) >= 40
    assert {t: o for t, o in opa["tests"].items() if o != {"value": True}} == {}
