"""The policy timeout (``GBO_POLICY_TIMEOUT_MS``) counts the evaluation's own computing, not
the time its thread waited for the interpreter lock or a CPU (broker/policy/evaluator.py): a
decision made in time is not denied because the worker was busy, and one that computes too long
still is."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from broker.policy.bundle import DECISION_RULE, load_bundle
from broker.policy.embedded import EmbeddedEngine
from broker.policy.evaluator import PolicyEvaluator
from broker.settings import DEFAULT_POLICY_DIR
from tests.policy.decision_table import TABLE

TIMEOUT_S = 0.05


class _Descheduled:
    """The real engine, whose thread then waits (as a thread does that lost the interpreter
    lock or its CPU) three times the timeout before the answer reaches the caller."""

    def __init__(self, engine: EmbeddedEngine) -> None:
        self.engine = engine
        self.kind, self.version = engine.kind, engine.version

    def evaluate(self, rule: str, input_doc: Mapping[str, Any]) -> Any:
        result = self.engine.evaluate(rule, input_doc)
        time.sleep(3 * TIMEOUT_S)  # waiting, not computing
        return result

    def ready(self) -> bool:
        return True

    def close(self) -> None:
        self.engine.close()


@pytest.mark.parametrize("case", TABLE[:3], ids=[c.id for c in TABLE[:3]])
def test_a_decision_whose_thread_waited_past_the_timeout_is_not_failed_closed(case: Any) -> None:
    engine = EmbeddedEngine(load_bundle(DEFAULT_POLICY_DIR))
    evaluator = PolicyEvaluator(_Descheduled(engine), timeout=TIMEOUT_S,
                                registry=CollectorRegistry())
    assert evaluator.evaluate(DECISION_RULE, case.input) == case.expected()


def test_an_evaluation_that_computes_past_the_timeout_fails_closed(tmp_path: Any) -> None:
    bundle = tmp_path / "slow"
    bundle.mkdir()
    (bundle / "catalogue.json").write_text((DEFAULT_POLICY_DIR / "catalogue.json").read_text())
    (bundle / "access.rego").write_text(
        "package gbo.access\n\n"
        "decision := {\"n\": count([x | some x in numbers.range(1, 500000)])}\n")
    evaluator = PolicyEvaluator(EmbeddedEngine(load_bundle(bundle)), timeout=TIMEOUT_S,
                                registry=CollectorRegistry())
    with pytest.raises(TimeoutError):
        evaluator.evaluate(DECISION_RULE, TABLE[0].input)
