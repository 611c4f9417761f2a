"""Where ``gbo-broker serve`` keeps the metrics of its workers (``multiprocess_metrics``).

That one scrape then counts every worker is checked with a real two-worker server in
``tests/e2e/test_serve_workers.py``; single-process metrics in ``test_operations.py``.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from broker.errors import ConfigurationError
from broker.observability import MULTIPROC_DIR_ENV, multiprocess_metrics
from tests.e2e.conftest import CLI


@pytest.fixture
def no_operator_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(MULTIPROC_DIR_ENV, raising=False)


@pytest.mark.usefixtures("no_operator_dir")
def test_one_worker_keeps_its_metrics_in_process() -> None:
    with multiprocess_metrics(1) as directory:
        assert directory is None
        assert MULTIPROC_DIR_ENV not in os.environ


@pytest.mark.usefixtures("no_operator_dir")
def test_several_workers_get_a_fresh_private_directory_per_start_removed_at_the_end() -> None:
    with multiprocess_metrics(2) as first:
        assert first is not None
        assert os.environ[MULTIPROC_DIR_ENV] == first  # what the spawned workers inherit
        assert list(Path(first).iterdir()) == []
        assert Path(first).stat().st_mode & 0o777 == 0o700
    assert not Path(first).exists()
    assert MULTIPROC_DIR_ENV not in os.environ
    with multiprocess_metrics(2) as second:
        assert second not in (None, first)
    assert second is not None and not Path(second).exists()


@pytest.mark.parametrize("workers", [1, 2])
def test_operators_metrics_directory_is_honoured_and_kept(
    workers: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(MULTIPROC_DIR_ENV, str(tmp_path))
    (tmp_path / "counter_1.db").write_bytes(b"")
    with multiprocess_metrics(workers) as directory:
        assert directory == str(tmp_path)
    assert (tmp_path / "counter_1.db").exists()
    assert os.environ[MULTIPROC_DIR_ENV] == str(tmp_path)


def test_operators_metrics_directory_that_does_not_exist_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(MULTIPROC_DIR_ENV, str(tmp_path / "missing"))
    with pytest.raises(ConfigurationError, match=MULTIPROC_DIR_ENV), multiprocess_metrics(2):
        pass


def test_serve_refuses_to_start_when_the_metrics_directory_does_not_exist(tmp_path: Path) -> None:
    env = {**os.environ, "GBO_DEMO": "1", "GBO_DATA_DIR": str(tmp_path / "var"),
           MULTIPROC_DIR_ENV: str(tmp_path / "missing")}
    env.pop("GBO_DATABASE_URL", None)
    done = subprocess.run([CLI, "serve", "--port", "9"], env=env, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 2
    assert f"{MULTIPROC_DIR_ENV}={tmp_path / 'missing'} is not a directory" in done.stderr
