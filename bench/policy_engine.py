"""Benchmark: the embedded engine alone, on the access benchmark's policy input (DESIGN §4).

Times one decision (``data.gbo.access.decision``) on the input the broker builds for
`access_requests.py`'s scenario (padded as the broker pads it), alternating round by round:

- the broker's way: ``Engine.set_input(dict)`` + ``Engine.eval_rule`` (Regorus interpreter);
- the input as JSON text instead (``set_input_json`` of a msgspec encoding);
- Regorus's compiled VM (``regorus.Program`` / ``regorus.Rvm``, same pinned package), when the
  package has it.

It also asks the VM two questions the broker's fail-closed rule depends on (DESIGN §4, STYLE
"Errors"): what it answers when a builtin fails inside a negated condition (the interpreter and
OPA with strict builtin errors fail the evaluation; a deny for the broker), and whether it agrees
with the interpreter on the parity corpus of tests/policy.

With ``--against DIR`` (another checkout's ``broker/policies``) the two bundles' decisions are
timed round by round too: what a change of the policy costs the engine.

Run: .venv/bin/python bench/policy_engine.py [--rounds 15] [--evaluations 50] [--against DIR]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from statistics import median
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import msgspec  # noqa: E402
import regorus  # type: ignore[import-untyped]  # noqa: E402
from access_requests import _prepare, bench_input  # noqa: E402

from broker.policy.bundle import (  # noqa: E402
    CLIENT_VIEW_RULE,
    DECISION_RULE,
    INVOLVEMENT_RULE,
    PolicyBundle,
    load_bundle,
)
from broker.settings import DEFAULT_POLICY_DIR  # noqa: E402

RULES = (DECISION_RULE, INVOLVEMENT_RULE, CLIENT_VIEW_RULE)


def _bench_input() -> dict[str, Any]:
    return bench_input(_prepare(Path(tempfile.mkdtemp(prefix="gbo-bench-engine-"))))


def _interpreter(bundle: PolicyBundle) -> Any:
    engine = regorus.Engine()
    for path, text in bundle.policies:
        engine.add_policy(path, text)
    engine.add_data(dict(bundle.data))
    return engine


def _vm(modules: list[tuple[str, str]], data: Any, rules: tuple[str, ...]) -> Any:
    data_json = json.dumps(data)
    vm = regorus.Rvm()
    vm.load_program(regorus.Program.compile_from_modules(data_json, modules, list(rules)))
    vm.set_data_json(data_json)
    return vm


def _vm_outcome(vm: Any, rule: str, inp: Any) -> Any:
    try:
        vm.set_input_json(json.dumps(inp))
        value = json.loads(vm.execute_entry_point(rule))
    except BaseException:  # noqa: BLE001 - a panic too is an outcome here
        return "error"
    return None if value == "<undefined>" else value


def _interpreter_outcome(engine: Any, rule: str, inp: Any) -> Any:
    try:
        engine.set_input(inp)
        return engine.eval_rule(rule)
    except BaseException:  # noqa: BLE001
        return "error"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--evaluations", type=int, default=50)
    parser.add_argument("--against", type=Path, help="another bundle (a policies directory)")
    args = parser.parse_args()
    bundle = load_bundle(DEFAULT_POLICY_DIR)
    inp = _bench_input()
    engine = _interpreter(bundle)
    encode = msgspec.json.Encoder().encode
    has_vm = hasattr(regorus, "Rvm") and hasattr(regorus, "Program")
    vm: Any = _vm(list(bundle.policies), bundle.data, RULES) if has_vm else None

    def interpreter() -> None:
        engine.set_input(inp)
        engine.eval_rule(DECISION_RULE)

    def json_input() -> None:
        engine.set_input_json(encode(inp).decode())
        engine.eval_rule(DECISION_RULE)

    def compiled() -> None:
        vm.set_input_json(encode(inp).decode())
        vm.execute_entry_point(DECISION_RULE)

    variants = {"interpreter, set_input(dict)": interpreter,
                "interpreter, set_input_json": json_input} | (
        {"compiled VM, set_input_json": compiled} if has_vm else {})
    if args.against:
        other = _interpreter(load_bundle(args.against))

        def against() -> None:
            other.set_input(inp)
            other.eval_rule(DECISION_RULE)

        variants["interpreter, set_input(dict), --against bundle"] = against
    times: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(args.rounds):
        for name, run in variants.items():
            started = time.process_time()
            for _ in range(args.evaluations):
                run()
            times[name].append((time.process_time() - started) / args.evaluations)
    base = median(times["interpreter, set_input(dict)"])
    print(f"{args.rounds} rounds x {args.evaluations} decisions, CPU per decision (median):")
    for name, values in times.items():
        print(f"RESULT {name}: {1e6 * median(values):.0f} us ({median(values) / base:.2f} of "
              "the broker's way)")
    if vm is None:
        print("this regorus has no compiled VM")
        return
    probe = ("package p\n\nbad if to_number(\"not a number\") > 1\n\n"
             "r := \"granted\" if { not bad }\n")
    probe_engine = regorus.Engine()
    probe_engine.add_policy("p.rego", probe)
    print("a failing builtin under `not`: interpreter "
          f"{_interpreter_outcome(probe_engine, 'data.p.r', {})!r}, compiled VM "
          f"{_vm_outcome(_vm([('p.rego', probe)], {}, ('data.p.r',)), 'data.p.r', {})!r}")
    from tests.policy.test_parity import CORPUS

    differ = sum(_vm_outcome(vm, rule, item) != _interpreter_outcome(engine, rule, item)
                 for item in CORPUS for rule in RULES)
    print(f"RESULT compiled VM vs interpreter on the parity corpus: {differ} of "
          f"{len(CORPUS) * len(RULES)} answers differ")


if __name__ == "__main__":
    main()
