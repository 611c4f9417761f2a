"""The broker as the load benchmarks run it: `gbo-broker serve` in its own process, on SQLite or
on a PostgreSQL database of the benchmark's own, with the access benchmark's scenario.

``prepare`` makes the data directory (demo keys), the database (PostgreSQL: a database named
``bench_load``, or ``$GBO_BENCH_DATABASE``, on the server of ``--postgres``, dropped and made
anew; nothing else is touched),
migrates it and stores the scenario of ``access_requests.py``. ``Broker`` starts
``gbo-broker serve --workers N`` with it, waits for ``/healthz`` and stops it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
GBO = ROOT / ".venv" / "bin" / "gbo-broker"
DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
# The benchmark's own database on that server (another name lets two runs go side by side).
DATABASE = os.environ.get("GBO_BENCH_DATABASE", "bench_load")
PARTNER = "caw-oost-vlaanderen"


def postgres_url(server_url: str) -> str:
    """The benchmark's database on the server of ``server_url`` (any database there)."""
    return make_url(server_url).set(database=DATABASE).render_as_string(hide_password=False)


def recreate_database(server_url: str) -> None:
    """Drop and create the benchmark's own database (only that one)."""
    engine = create_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)"))
            conn.execute(text(f"CREATE DATABASE {DATABASE}"))
    finally:
        engine.dispose()


def prepare(data_dir: Path, database_url: str | None) -> dict[str, str]:
    """Demo keys, a migrated database holding the access scenario; the server's environment."""
    from access_requests import _prepare

    _prepare(data_dir, database_url=database_url)
    env = {**os.environ, "GBO_DATA_DIR": str(data_dir), "GBO_DEMO": "1",
           # The partner's rate limit is taken on every request (its cost is measured) but never
           # refuses: one partner sends the whole load here.
           "GBO_RATE_LIMIT_PARTNER_PER_SECOND": "1000000",
           "GBO_RATE_LIMIT_PARTNER_BURST": "1000000"}
    if database_url:
        env["GBO_DATABASE_URL"] = database_url
    return env


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of ``pid`` and its live descendants (from /proc)."""
    tick = os.sysconf("SC_CLK_TCK")
    children: dict[int, list[int]] = {}
    stats: dict[int, float] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry))
        stats[int(entry)] = (int(fields[11]) + int(fields[12])) / tick
    total, todo = 0.0, [pid]
    while todo:
        p = todo.pop()
        total += stats.get(p, 0.0)
        todo += children.get(p, [])
    return total


def load_average() -> str:
    with open("/proc/loadavg") as fh:
        return " ".join(fh.read().split()[:3])


@dataclass
class Broker:
    env: dict[str, str]
    port: int
    workers: int
    log_path: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, extra_env: dict[str, str] | None = None) -> None:
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        log = open(self.log_path, "ab")  # noqa: SIM115 - the process holds it
        self.process = subprocess.Popen(
            [str(GBO), "serve", "--host", "127.0.0.1", "--port", str(self.port),
             "--workers", str(self.workers)],
            env={**self.env, **(extra_env or {})}, stdout=log, stderr=log,
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"the broker exited ({self.process.returncode}); see "
                                 f"{self.log_path}")
            # Every worker has built its app (uvicorn logs this once per worker process).
            with open(self.log_path, "rb") as fh:
                fh.seek(offset)
                started = fh.read().count(b"Application startup complete")
            if started >= self.workers:
                try:
                    urllib.request.urlopen(self.url + "/readyz", timeout=2)  # noqa: S310
                    return
                except OSError:
                    pass
            time.sleep(0.2)
        self.stop()
        raise SystemExit(f"the broker did not become ready; see {self.log_path}")

    def cpu(self) -> float:
        assert self.process is not None
        return cpu_seconds(self.process.pid)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)


def bench_path() -> None:
    """Make ``bench/`` and the repository importable (for the scenario of access_requests)."""
    for p in (str(ROOT / "bench"), str(ROOT)):
        if p not in sys.path:
            sys.path.insert(0, p)
