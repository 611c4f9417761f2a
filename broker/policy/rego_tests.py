"""Run the bundle's Rego unit tests (``*_test.rego``) on the embedded Regorus engine.

A test is a rule without arguments whose name starts with ``test_``, defined in a test module.
It passes iff it evaluates to ``true``; ``false``, undefined or an error is a failure, and a
bundle without any test does not pass (an empty set of checks proves nothing).

Regorus engines are bound to the thread that created them (another thread, even through
``Engine.clone()``, gets a ``PanicException``), so everything here runs on the calling thread.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import regorus  # type: ignore[import-untyped]

from broker.errors import PolicyBundleError
from broker.policy.bundle import PolicyBundle, load_bundle


@dataclass(frozen=True)
class RegoTestResult:
    package: str
    name: str
    passed: bool
    detail: str = ""

    @property
    def rule(self) -> str:
        return f"data.{self.package}.{self.name}"


@dataclass(frozen=True)
class RegoTestReport:
    bundle_version: str
    results: tuple[RegoTestResult, ...]
    error: str = ""

    @property
    def failed(self) -> tuple[RegoTestResult, ...]:
        return tuple(r for r in self.results if not r.passed)

    @property
    def ok(self) -> bool:
        return not self.error and bool(self.results) and not self.failed


def new_engine(bundle: PolicyBundle, *, with_tests: bool = False) -> regorus.Engine:
    """A Regorus engine loaded with the bundle's policies and data (and tests if asked).

    Raises RuntimeError from Regorus on a parse error.
    """
    engine = regorus.Engine()
    for path, text in bundle.policies + (bundle.tests if with_tests else ()):
        engine.add_policy(path, text)
    engine.add_data(dict(bundle.data))
    return engine


def discover_tests(engine: regorus.Engine, test_paths: Sequence[str]) -> list[tuple[str, str]]:
    """(package, rule name) of every test rule in the modules loaded from ``test_paths``."""
    found: dict[tuple[str, str], None] = {}
    for module in json.loads(engine.get_ast_as_json()):
        if module["source"]["file"] not in test_paths:
            continue
        package = _ref_name(module["ast"]["package"]["refr"])
        for rule in module["ast"]["rules"]:
            head = rule.get("Spec", {}).get("head", {})
            # Compr heads are `name if ...` / `name := ...`; functions and sets are not tests.
            name = _ref_name(head["Compr"]["refr"]) if "Compr" in head else ""
            if name.startswith("test_") and "." not in name:
                found[(package, name)] = None
    return list(found)


def run_rego_tests(bundle: PolicyBundle) -> RegoTestReport:
    """Evaluate every test rule of ``bundle`` on a fresh engine per test (cloned on this thread)."""
    try:
        base = new_engine(bundle, with_tests=True)
    except RuntimeError as exc:
        return RegoTestReport(bundle.version, (), error=f"cannot load bundle: {exc}")
    tests = discover_tests(base, [path for path, _ in bundle.tests])
    return RegoTestReport(bundle.version, tuple(_run_one(base, pkg, name) for pkg, name in tests))


def _run_one(base: regorus.Engine, package: str, name: str) -> RegoTestResult:
    engine = base.clone()
    try:
        value = engine.eval_rule(f"data.{package}.{name}")
    except Exception as exc:
        return RegoTestResult(package, name, False, _first_line(exc))
    except BaseException as exc:
        # pyo3's PanicException derives from BaseException; only that one is a test failure.
        if type(exc).__name__ != "PanicException":
            raise
        return RegoTestResult(package, name, False, f"engine panic: {_first_line(exc)}")
    if value is True:
        return RegoTestResult(package, name, True)
    return RegoTestResult(package, name, False, "undefined" if value is None else f"= {value!r}")


def _ref_name(ref: dict[str, Any]) -> str:
    """Dotted name of a Regorus AST reference made of Var and RefDot nodes."""
    return ".".join(_ref_parts(ref))


def _ref_parts(ref: dict[str, Any]) -> Iterator[str]:
    if "Var" in ref:
        yield ref["Var"]["value"]
    elif "RefDot" in ref:
        yield from _ref_parts(ref["RefDot"]["refr"])
        yield ref["RefDot"]["field"][1]
    else:
        yield "?"


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def render(report: RegoTestReport) -> str:
    lines = [
        f"{'PASS' if r.passed else 'FAIL'} {r.rule}" + (f": {r.detail}" if r.detail else "")
        for r in report.results
    ]
    if report.error:
        lines.append(f"ERROR {report.error}")
    elif not report.results:
        lines.append("ERROR no test rules found")
    passed = len(report.results) - len(report.failed)
    total = len(report.results)
    lines.append(f"{passed}/{total} Rego tests passed, bundle {report.bundle_version}")
    return "\n".join(lines)


def main(bundle_dir: Path) -> int:
    """``gbo-broker policy test``: print every result; exit status 1 unless all tests pass."""
    try:
        report = run_rego_tests(load_bundle(bundle_dir))
    except PolicyBundleError as exc:
        print(f"ERROR {exc.code}: {exc}", file=sys.stderr)
        return 1
    print(render(report))
    return 0 if report.ok else 1

