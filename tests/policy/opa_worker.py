"""Evaluate rules on the real OPA engine (opa-golib-python-bindings) in a child process.

Run as a script by test_parity.py: it reads one JSON job on stdin and writes the results on stdout.
It runs in its own process because the bindings' Go runtime hangs in any child forked after it was
loaded: the pytest process never loads it, so other tests may fork freely.

Job: {"modules": [[path, text]], "data": {...}, "rules": ["gbo.access.decision", ...],
      "inputs": [...], "tests": ["gbo.access_test.test_x", ...]}
Result: {"outcomes": [[outcome per rule] per input], "tests": {test: outcome}}, where an outcome is
{"value": v}, {"undefined": true} or {"error": message}.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from opa_bindings import (  # type: ignore[import-untyped]
    OpaEngine,
    OpaError,
    OpaUndefinedError,
)


def outcome(engine: OpaEngine, rule: str, inp: Any) -> dict[str, Any]:
    try:
        return {"value": engine.eval_document(rule, inp)}
    except OpaUndefinedError:
        return {"undefined": True}
    except OpaError as exc:
        return {"error": str(exc)}


def main() -> None:
    job = json.load(sys.stdin)
    with OpaEngine() as engine:
        for path, text in job["modules"]:
            engine.add_policy(path, text)
        engine.add_data(job["data"])
        result = {
            "outcomes": [
                [outcome(engine, rule, inp) for rule in job["rules"]] for inp in job["inputs"]
            ],
            "tests": {test: outcome(engine, test, None) for test in job["tests"]},
        }
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
