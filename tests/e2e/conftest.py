"""Fixtures for the end-to-end tests: a real demo broker (``gbo-broker demo`` + ``gbo-broker
serve`` on a free loopback port) and a headless Debian Chromium driven by Playwright.

The broker is module-scoped (each test module gets its own data directory); the browser is
shared by the whole session. Browser tests skip when Chromium or Playwright is missing, unless
``REQUIRE_BROWSER=1`` (CI), where they fail.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx2 as httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine, make_url

from tests.conftest import GENEROUS_RATE_LIMITS, POSTGRES_URL
from tests.e2e.browser import CHROMIUM, CHROMIUM_ARGS, REQUIRE_BROWSER, browser_missing

if TYPE_CHECKING:
    from playwright.sync_api import Browser

CLI = shutil.which("gbo-broker", path=str(Path(sys.executable).parent)) or "gbo-broker"
READY_TIMEOUT_S = 30


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class DemoBroker:
    """A running ``gbo-broker serve`` on the demo network."""

    base: str
    env: dict[str, str]
    log: Path
    out: Path  # the server's stdout (the demo's hints)
    command: str = CLI  # the gbo-broker executable it runs
    cwd: Path | None = None

    def cli(self, *args: str) -> str:
        """Run ``gbo-broker <args>`` against this broker's data directory; its stdout."""
        done = subprocess.run([self.command, *args], env=self.env, check=True,
                              capture_output=True, text=True, timeout=30, cwd=self.cwd)
        return done.stdout.strip()

    def post(self, *, partner: str, worker: str, path: str, body: dict[str, Any]) -> Any:
        """A partner system's POST to the v1 API with a fresh CLI-minted token; the answer's
        JSON (a 200 or 201)."""
        token = self.cli("token", "partner", "--partner", partner, "--worker", worker)
        response = httpx.post(f"{self.base}{path}", headers={"Authorization": f"Bearer {token}"},
                              json=body, timeout=10)
        assert response.status_code in (200, 201), response.text
        return response.json()

    def access(self, *, partner: str, worker: str, insz: str, purpose: str,
               sections: list[str], justification: str | None = None) -> dict[str, Any]:
        """A partner system's ``POST /v1/access-requests`` with a fresh CLI-minted token
        (single use); the decision as JSON."""
        token = self.cli("token", "partner", "--partner", partner, "--worker", worker)
        response = httpx.post(f"{self.base}/v1/access-requests",
                              headers={"Authorization": f"Bearer {token}"},
                              json={"insz": insz, "purpose": purpose, "sections": sections,
                                    "justification": justification},
                              timeout=10)
        assert response.status_code == 200, response.text
        decision: dict[str, Any] = response.json()
        return decision


def broker_env(**settings: str) -> dict[str, str]:
    """This process's environment without a broker database or metrics directory, plus
    ``settings``."""
    inherited = {k: v for k, v in os.environ.items()
                 if k not in ("GBO_DATABASE_URL", "PROMETHEUS_MULTIPROC_DIR")}
    return {**inherited, **settings}


@contextmanager
def serving(tmp: Path, env: dict[str, str], *, port: int | None = None, workers: int = 1,
            command: str = CLI, cwd: Path | None = None,
            ) -> Iterator[tuple[DemoBroker, subprocess.Popen[bytes]]]:
    """Run ``gbo-broker serve`` (``command``, in ``cwd``) with ``env`` on ``port`` (default: a
    free loopback port) with ``workers`` processes, wait (bounded) until ``/readyz`` answers 200;
    stop it on exit. Its stderr (the JSON log) goes to ``tmp/server.log``, its stdout to
    ``tmp/server.out``."""
    port = port or free_port()
    log, out = tmp / "server.log", tmp / "server.out"
    with log.open("wb") as err, out.open("wb") as stdout:
        proc = subprocess.Popen(
            [command, "serve", "--port", str(port), "--workers", str(workers)],
            env=env, stdout=stdout, stderr=err, cwd=cwd)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while True:  # wait for readiness, bounded
            try:
                if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the broker did not become ready:\n{log.read_text()}")
            time.sleep(0.1)
        yield DemoBroker(base=base, env=env, log=log, out=out, command=command, cwd=cwd), proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


@contextmanager
def demo_broker_at(tmp: Path, *, port: int | None = None, extra_env: dict[str, str] | None = None,
                   database_url: str | None = None, workers: int = 1, command: str = CLI,
                   cwd: Path | None = None,
                   ) -> Iterator[tuple[DemoBroker, subprocess.Popen[bytes]]]:
    """Set up the demo in ``tmp`` (``gbo-broker demo``) with ``extra_env`` added, on
    ``database_url`` (default: SQLite in ``tmp``), and serve it (``serving``)."""
    # Browser tests click faster than people: rate limits they never reach by accident.
    generous = {f"GBO_{k.upper()}": str(v) for k, v in GENEROUS_RATE_LIMITS.items()}
    env = broker_env(GBO_DEMO="1", GBO_DATA_DIR=str(tmp / "var"), **generous,
                     **(extra_env or {}))
    if database_url is not None:
        env["GBO_DATABASE_URL"] = database_url
    demo = subprocess.run([command, "demo"], env=env, capture_output=True, text=True,
                          timeout=60, cwd=cwd)
    if demo.returncode != 0:
        pytest.fail(f"gbo-broker demo failed:\n{demo.stderr}")
    with serving(tmp, env, port=port, workers=workers, command=command, cwd=cwd) as running:
        yield running


@contextmanager
def fresh_schema(admin: Engine) -> Iterator[str]:
    """The URL of a fresh PostgreSQL schema of its own, dropped afterwards."""
    schema = f"t_{uuid.uuid4().hex[:16]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(POSTGRES_URL).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))


@pytest.fixture
def postgres_url(postgres_admin: Engine) -> Iterator[str]:
    with fresh_schema(postgres_admin) as url:
        yield url


@pytest.fixture(scope="module")
def demo_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoBroker]:
    with demo_broker_at(tmp_path_factory.mktemp("demo-broker")) as (broker, _):
        yield broker


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """Debian's Chromium, headless (never ``playwright install``)."""
    missing = browser_missing()
    if missing is not None:
        if REQUIRE_BROWSER:
            pytest.fail(f"{missing} (REQUIRE_BROWSER=1)", pytrace=False)
        pytest.skip(missing)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                              args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()
