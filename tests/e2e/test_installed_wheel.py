"""The built package runs where the checkout is not: the sdist is built from the source tree, the
wheel from the unpacked sdist, and the wheel is installed in a fresh virtual environment. From
another directory ``gbo-broker demo``, ``serve``, one access request and ``audit verify`` run
on what was installed, with the policy bundle read as package data (DESIGN §4).

Building needs setuptools (the project's build backend, newer than the test environment's) from
the package registry, once per run, in a build environment of its own. The fresh environment
gets the wheel alone (``--no-deps``) and finds its dependencies through a ``.pth`` line naming the
test environment's site-packages: ``--system-site-packages`` would only show the base
interpreter's packages, not a virtual environment's, and ``--no-index --find-links`` would need
wheels of every dependency, which are not on disk. A path in a ``.pth`` file is added to
``sys.path`` without processing the ``.pth`` files found there, so the checkout's editable
install stays invisible; the test checks that ``broker`` is imported from the fresh environment.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from broker.policy.bundle import load_bundle
from broker.settings import DEFAULT_POLICY_DIR
from tests.e2e.conftest import DemoBroker, demo_broker_at

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("broker", "consent", "audit")
# What a checkout holds that is not source: never copied into the build.
NOT_SOURCE = shutil.ignore_patterns(".git", ".venv*", "var", "build", "dist", "*.egg-info",
                                    "__pycache__", "*.pyc", ".*_cache", "test-artefacts")
BUILD_BACKEND = "setuptools>=77"
TIMEOUT_S = 300


@dataclass(frozen=True)
class Installed:
    sdist: Path
    wheel: Path
    command: Path  # the installed gbo-broker
    python: Path
    sources: frozenset[str]  # the package files of the source tree (relative POSIX paths)


def _run(*args: str | Path, cwd: Path | None = None) -> str:
    done = subprocess.run([str(a) for a in args], cwd=cwd, capture_output=True, text=True,
                          timeout=TIMEOUT_S)
    assert done.returncode == 0, f"{args} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def _package_files(root: Path) -> frozenset[str]:
    return frozenset(
        p.relative_to(root).as_posix() for name in PACKAGES for p in (root / name).rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    )


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installed]:
    tmp = tmp_path_factory.mktemp("installed-wheel")
    source = tmp / "source"
    shutil.copytree(ROOT, source, ignore=NOT_SOURCE)
    base_python = getattr(sys, "_base_executable", sys.executable)

    build_env = tmp / "build-env"
    _run(base_python, "-m", "venv", build_env)
    _run(build_env / "bin" / "pip", "install", "--quiet", BUILD_BACKEND, "wheel")
    dist = tmp / "dist"
    build = ("import sys; from setuptools import build_meta as b; "
             "print(getattr(b, 'build_' + sys.argv[1])(sys.argv[2]))")
    sdist = dist / _run(build_env / "bin" / "python", "-c", build, "sdist", dist,
                        cwd=source).strip().splitlines()[-1]
    with tarfile.open(sdist) as tar:
        tar.extractall(tmp / "unpacked", filter="data")
    [unpacked] = (tmp / "unpacked").iterdir()
    wheel = dist / _run(build_env / "bin" / "python", "-c", build, "wheel", dist,
                        cwd=unpacked).strip().splitlines()[-1]

    app_env = tmp / "app-env"
    _run(base_python, "-m", "venv", "--without-pip", app_env)
    python = app_env / "bin" / "python"
    _run(sys.executable, "-m", "pip", "--python", python, "install", "--quiet", "--no-deps",
         "--no-index", wheel)
    purelib = Path(_run(python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))")
                   .strip())
    (purelib / "gbo_test_dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    yield Installed(sdist=sdist, wheel=wheel, command=app_env / "bin" / "gbo-broker",
                    python=python, sources=_package_files(source))


@pytest.fixture(scope="module")
def elsewhere(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A working directory with no checkout in it."""
    return tmp_path_factory.mktemp("elsewhere")


def test_the_sdist_and_the_wheel_hold_every_file_of_the_packages(installed: Installed) -> None:
    """Policies, catalogue, Rego tests, migrations, templates, static files, demo YAML: every
    file of broker/, consent/ and audit/ in the source tree is in both."""
    with tarfile.open(installed.sdist) as tar:
        in_sdist = {name.split("/", 1)[1] for name in tar.getnames() if "/" in name}
    with zipfile.ZipFile(installed.wheel) as whl:
        in_wheel = set(whl.namelist())
    assert {"broker/policies/access.rego", "broker/policies/access_test.rego",
            "broker/policies/catalogue.json", "broker/demo/registry.yaml",
            "broker/portal/templates/audit/base.html"} <= installed.sources
    assert installed.sources - in_sdist == set()
    assert installed.sources - in_wheel == set()


def test_the_installed_package_is_the_one_imported(installed: Installed, elsewhere: Path) -> None:
    where = _run(installed.python, "-c", "import broker.settings as s; print(s.__file__); "
                 "print(s.DEFAULT_POLICY_DIR)", cwd=elsewhere).splitlines()
    app_env = installed.python.parents[1]
    assert all(Path(line).is_relative_to(app_env) for line in where), where


def test_the_installed_rego_unit_tests_pass_on_the_checkouts_bundle(
    installed: Installed, elsewhere: Path
) -> None:
    """``gbo-broker policy test`` finds the shipped Rego tests, and the wheel's bundle is the
    checkout's, byte for byte (same version)."""
    last = _run(installed.command, "policy", "test", cwd=elsewhere).splitlines()[-1]
    passed, _, total = last.split()[0].partition("/")
    assert passed == total and int(total) > 0, last
    assert last.endswith(f"bundle {load_bundle(DEFAULT_POLICY_DIR).version}")


def test_gbo_policy_dir_overrides_the_shipped_bundle_for_the_demo_too(
    installed: Installed, elsewhere: Path, tmp_path: Path
) -> None:
    empty = tmp_path / "no-policies"
    empty.mkdir()
    env = {**os.environ, "GBO_DEMO": "1", "GBO_DATA_DIR": str(tmp_path / "var"),
           "GBO_POLICY_DIR": str(empty)}
    done = subprocess.run([installed.command, "demo"], env=env, cwd=elsewhere,
                          capture_output=True, text=True, timeout=TIMEOUT_S)
    assert done.returncode == 2, done.stderr
    assert "the bundle has no policy modules" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.fixture(scope="module")
def installed_broker(installed: Installed, elsewhere: Path,
                     tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoBroker]:
    path = f"{installed.command.parent}{os.pathsep}{os.environ.get('PATH', '')}"
    with demo_broker_at(tmp_path_factory.mktemp("installed-demo"), command=str(installed.command),
                        cwd=elsewhere, extra_env={"PATH": path}) as (broker, _):
        yield broker


def test_the_installed_broker_serves_the_demo_and_its_audit_log_verifies(
    installed_broker: DemoBroker,
) -> None:
    decision = installed_broker.access(partner="caw-oost-vlaanderen", worker="w-7",
                                       insz="85073003328", purpose="rechtenverkenning",
                                       sections=["hulpvraag", "inkomen"])
    assert decision["sections"]["inkomen"]["verdict"] == "granted", decision
    assert isinstance(decision["audit"]["index"], int)
    # The serving broker cuts checkpoints on its own cadence; the operator cuts one now, so
    # verification covers the access just made.
    installed_broker.cli("audit", "checkpoint")
    assert installed_broker.cli("audit", "verify").startswith("OK: ")


def test_the_demo_hints_name_the_installed_command(installed_broker: DemoBroker) -> None:
    hints = installed_broker.out.read_text()
    assert "$(GBO_DEMO=1 GBO_DATA_DIR=" in hints
    assert " gbo-broker token partner " in hints
    assert ".venv/bin" not in hints
