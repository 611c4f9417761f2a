"""Asking the engine, with the fail-closed rules of DESIGN §4 (issue 5 item 2).

Evaluations run on the caller's thread: routes are synchronous, so that is one of the server's
worker threads, never the event loop. An engine error, an undefined or malformed result, or an
answer later than ``GBO_POLICY_TIMEOUT_MS`` each become :func:`deny_all`: every section denied with
``policy_error``, nothing released; the failure is logged and counted in ``/metrics``, and the
caller audits the (denied) decision like any other.

Why no separate thread pool to abandon a slow evaluation: Regorus holds the GIL while it
evaluates, so a waiting thread cannot act before the evaluation ends anyway (measured: a pool hop
cost ~6 ms per request under load for nothing). A late answer is treated as a timeout; the remote
OPA engine bounds its own calls with an HTTP timeout.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram

from broker.policy.bundle import DECISION_RULE
from broker.policy.decision import (
    Decision,
    EntryMeta,
    MalformedDecision,
    deny_all,
    parse_decision,
)
from broker.policy.engine import PolicyEngine, PolicyEngineError

log = logging.getLogger("gbo.policy")


class PolicyEvaluator:
    def __init__(self, engine: PolicyEngine, *, timeout: float,
                 registry: CollectorRegistry) -> None:
        self.engine = engine
        self.timeout = timeout
        self.failures = Counter("gbo_policy_failures", "Policy evaluations that failed closed",
                                ["cause"], registry=registry)
        self.seconds = Histogram("gbo_policy_evaluation_seconds", "Policy evaluation time",
                                 registry=registry)

    @property
    def version(self) -> str:
        return self.engine.version

    def evaluate(self, rule: str, input_doc: Mapping[str, Any]) -> Any:
        """The raw value of ``rule``. Raises ``PolicyEngineError`` or ``TimeoutError``."""
        started = time.perf_counter()
        try:
            result = self.engine.evaluate(rule, input_doc)
        finally:
            elapsed = time.perf_counter() - started
            self.seconds.observe(elapsed)
        if elapsed > self.timeout:  # STYLE "Errors": a late result is a deny
            raise TimeoutError("policy evaluation answered too late")
        return result

    def decide(self, input_doc: Mapping[str, Any], *, requested: Sequence[str], requester: str,
               entries: Sequence[EntryMeta]) -> tuple[Decision, str | None]:
        """The decision, and the failure cause when it failed closed (``None`` when it did not)."""
        try:
            raw = self.evaluate(DECISION_RULE, input_doc)
            if raw is None:
                return self._failed("undefined", requested)
            return parse_decision(raw, requested=requested, requester=requester,
                                  entries=entries), None
        except TimeoutError:
            return self._failed("timeout", requested)
        except PolicyEngineError:
            return self._failed("engine_error", requested)
        except MalformedDecision:
            return self._failed("malformed", requested)

    def _failed(self, cause: str, requested: Sequence[str]) -> tuple[Decision, str]:
        # Never log the engine's message or the input: both can carry client data.
        log.error("policy evaluation failed closed", extra={"cause": cause})
        self.failures.labels(cause).inc()
        return deny_all(requested), cause

    def close(self) -> None:
        self.engine.close()
