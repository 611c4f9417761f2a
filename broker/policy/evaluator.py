"""Asking the engine, with the fail-closed rules of DESIGN §4.

Evaluations run on the caller's thread: routes are synchronous, so that is one of the server's
worker threads, never the event loop. An engine error, an undefined or malformed result, or an
answer later than ``GBO_POLICY_TIMEOUT_MS`` each become :func:`deny_all`: every section denied with
``policy_error``, nothing released; the failure is logged and counted in ``/metrics``, and the
caller audits the (denied) decision like any other.

Why no separate thread pool to abandon a slow evaluation: Regorus holds the GIL while it
evaluates, so a waiting thread cannot act before the evaluation ends anyway (measured: a pool hop
cost ~6 ms per request under load for nothing). A late answer is treated as a timeout; the remote
OPA engine bounds its own calls with an HTTP timeout.

"Late" is the CPU time the evaluation spent on its thread (``time.thread_time``), not the wall
clock: the same input then gives the same verdict however busy the worker is. Under load the
wall clock also counts the time the thread waited for the interpreter lock (held in turn by the
worker's other request threads and its event loop) or for a CPU: measured with 16 requests in
flight on a loaded 2-core machine, 1-3 decisions in every few hundred took over 200 ms of wall
clock that way and were denied with ``policy_error`` although the engine had computed them in a
few milliseconds. A worker that is too busy refuses work before it starts (503 ``overloaded``,
docs/operations.md "Under load"); it does not deny decisions it has made.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any, TypeVar

from prometheus_client import CollectorRegistry, Counter, Histogram

from broker.errors import MalformedDecision, PolicyEngineError, PolicyUnavailable
from broker.policy.bundle import CLIENT_VIEW_RULE, DECISION_RULE, INVOLVEMENT_RULE
from broker.policy.decision import (
    Decision,
    EntryMeta,
    deny_all,
    parse_decision,
)
from broker.policy.engine import PolicyEngine

log = logging.getLogger("gbo.policy")
_T = TypeVar("_T")


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
        started, computing = time.perf_counter(), time.thread_time()
        try:
            result = self.engine.evaluate(rule, input_doc)
        finally:
            computed = time.thread_time() - computing
            self.seconds.observe(time.perf_counter() - started)
        if computed > self.timeout:  # STYLE "Errors": a late result is a deny (module doc)
            raise TimeoutError("policy evaluation answered too late")
        return result

    def _ask(self, rule: str, input_doc: Mapping[str, Any],
             parse: Callable[[Any], _T]) -> tuple[_T | None, str | None]:
        """``parse`` of ``rule``'s value, or None and the failure cause (logged and counted):
        ``undefined``, ``timeout``, ``engine_error`` or ``malformed`` (``parse`` raised
        ``MalformedDecision``). The one fail-closed path of every question to the engine."""
        try:
            raw = self.evaluate(rule, input_doc)
            if raw is None:
                return self._failed("undefined")
            return parse(raw), None
        except TimeoutError:
            return self._failed("timeout")
        except PolicyEngineError:
            return self._failed("engine_error")
        except MalformedDecision:
            return self._failed("malformed")

    def _failed(self, cause: str) -> tuple[None, str]:
        # Never log the engine's message or the input: both can carry client data.
        log.error("policy evaluation failed closed", extra={"cause": cause})
        self.failures.labels(cause).inc()
        return None, cause

    def ask(self, rule: str, input_doc: Mapping[str, Any],
            parse: Callable[[Any], _T]) -> tuple[_T | None, str | None]:
        """Another rule of the bundle (e.g. DESIGN §10's), through the same fail-closed path."""
        return self._ask(rule, input_doc, parse)

    def decide(self, input_doc: Mapping[str, Any], *, requested: Sequence[str], requester: str,
               entries: Sequence[EntryMeta]) -> tuple[Decision, str | None]:
        """The decision, and the failure cause when it failed closed (``None`` when it did not):
        then every section is denied with ``policy_error`` (``deny_all``)."""
        consent_ids = {c.get("id") for c in input_doc.get("consents") or ()}
        consultation_ids = {c.get("id") for c in input_doc.get("consultations") or ()}
        decision, failure = self._ask(DECISION_RULE, input_doc, lambda raw: parse_decision(
            raw, requested=requested, requester=requester, entries=entries,
            consent_ids={c for c in consent_ids if isinstance(c, str)},
            consultation_ids={c for c in consultation_ids if isinstance(c, str)}))
        return (deny_all(requested) if decision is None else decision), failure

    def involvement(self, input_doc: Mapping[str, Any],
                    known: Collection[str]) -> tuple[list[str], str | None]:
        """The partners whose involvement may be disclosed (``INVOLVEMENT_RULE``), sorted, and
        the failure cause when it failed closed (then nobody is disclosed). A name outside
        ``known`` (the registry) makes the answer malformed."""
        def parse(raw: Any) -> list[str]:
            if not isinstance(raw, list) or not all(isinstance(p, str) and p in known
                                                    for p in raw):
                raise MalformedDecision("involvement is not a list of registered partners")
            return sorted(set(raw))

        disclosed, failure = self._ask(INVOLVEMENT_RULE, input_doc, parse)
        return disclosed or [], failure

    def client_view(self, entries: Sequence[EntryMeta]) -> list[str]:
        """The ids of ``entries`` (all of one client's) the client may read themselves
        (``CLIENT_VIEW_RULE``, DESIGN §4). Raises ``PolicyUnavailable`` when it failed closed:
        there is no partial view to show instead."""
        asked = {e.id for e in entries}

        def parse(raw: Any) -> list[str]:
            release = raw.get("release") if isinstance(raw, dict) else None
            if not isinstance(release, list) or not set(release) <= asked:
                raise MalformedDecision("client_view does not release a subset of the entries")
            return [str(e) for e in release]

        input_doc = {"entries": [{"id": e.id, "section": e.section, "author": e.author,
                                  "restricted": e.restricted} for e in entries]}
        released, failure = self._ask(CLIENT_VIEW_RULE, input_doc, parse)
        if released is None:
            raise PolicyUnavailable(f"client view failed closed ({failure})")
        return released

    def close(self) -> None:
        self.engine.close()
