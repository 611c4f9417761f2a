"""The Rego unit tests (broker/policies/*_test.rego) through the runner behind
`gbo-broker policy test`."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from broker.policy.bundle import load_bundle
from broker.policy.rego_tests import main, run_rego_tests
from broker.settings import DEFAULT_POLICY_DIR


def test_all_rego_unit_tests_pass() -> None:
    report = run_rego_tests(load_bundle(DEFAULT_POLICY_DIR))
    assert [r.rule for r in report.failed] == []
    assert len(report.results) >= 40
    assert report.ok


def _bundle_with(tmp_path: Path, test_source: str) -> Path:
    root = tmp_path / "policies"
    shutil.copytree(DEFAULT_POLICY_DIR, root)
    (root / "broken_test.rego").write_text(test_source, encoding="utf-8")
    return root


def test_failing_rego_test_is_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = _bundle_with(
        tmp_path,
        """package gbo.broken_test

import data.gbo.access

test_werkaantekeningen_granted if {
	d := access.decision with input as {"sections": ["werkaantekeningen"]}
	d.sections.werkaantekeningen.verdict == "granted"
}

test_false := false

test_error if 1 / 0 == 1
""",
    )
    report = run_rego_tests(load_bundle(root))
    failed = {r.name: r.detail for r in report.failed}
    assert set(failed) == {"test_werkaantekeningen_granted", "test_false", "test_error"}
    assert failed["test_werkaantekeningen_granted"] == "undefined"
    assert not report.ok
    assert main(root) == 1
    out = capsys.readouterr().out
    assert "FAIL data.gbo.broken_test.test_false: = False" in out


def test_main_exits_zero_when_all_pass(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(DEFAULT_POLICY_DIR) == 0
    assert "Rego tests passed" in capsys.readouterr().out


def test_bundle_without_tests_does_not_pass(tmp_path: Path) -> None:
    root = tmp_path / "policies"
    root.mkdir()
    (root / "p.rego").write_text("package p\n\nx := 1\n", encoding="utf-8")
    assert not run_rego_tests(load_bundle(root)).ok
    assert main(root) == 1


def test_unparsable_test_module_fails(tmp_path: Path) -> None:
    root = _bundle_with(tmp_path, "package gbo.x_test\n\ntest_a if {\n")
    report = run_rego_tests(load_bundle(root))
    assert report.error
    assert not report.ok


def test_policy_test_command_runs_the_rego_tests() -> None:
    from typer.testing import CliRunner

    from broker.cli import app

    result = CliRunner().invoke(app, ["policy", "test"])
    assert result.exit_code == 0, result.output
    assert "Rego tests passed" in result.output
