"""The small protocol every policy engine implements (DESIGN §4).

An engine evaluates one rule of the loaded bundle for one input and returns the raw JSON value,
``None`` when the rule is undefined. Everything else — timeouts, malformed answers, fail-closed —
lives in ``broker.policy.evaluator`` so both engines get exactly the same treatment.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol


class PolicyEngine(Protocol):
    kind: str  # "embedded" | "opa-server"
    version: str  # the bundle version the engine evaluates

    def evaluate(self, rule: str, input_doc: Mapping[str, Any]) -> Any:
        """The value of ``rule`` (e.g. ``data.gbo.access.decision``) for ``input_doc``, or
        ``None`` if undefined. Raises ``PolicyEngineError``. Safe to call from any thread."""

    def ready(self) -> bool:
        """True when the engine can evaluate (for ``/readyz``)."""

    def close(self) -> None: ...
