"""An independent C2SP witness for the tests: ``aics-witness`` (PyPI), run as its own process on
loopback, with its own SQLite state.

This project did not write it: it verifies the log's signature and the RFC 6962 consistency
proof from the size it last cosigned, keeps that size in its database across restarts (409 for
any other old size), and answers with Ed25519 ``cosignature/v1`` lines. It needs Python 3.12+,
so ``make test`` installs it in its own virtual environment (``.venv-witness``); where it is
missing, the tests that need it are skipped, or fail with ``REQUIRE_WITNESS=1`` (CI).
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
WITNESS_BIN = Path(os.environ.get("GBO_TEST_WITNESS_BIN",
                                  ROOT / ".venv-witness" / "bin" / "aics-witness"))
TILES_BIN = WITNESS_BIN.with_name("aics-tlog")
REQUIRE_WITNESS = os.environ.get("REQUIRE_WITNESS") == "1"
READY_TIMEOUT_S = 15


def require_witness_tools() -> None:
    if WITNESS_BIN.exists() and TILES_BIN.exists():
        return
    message = f"aics-witness / aics-tlog not installed at {WITNESS_BIN.parent} (make test)"
    if REQUIRE_WITNESS:
        pytest.fail(message + " (REQUIRE_WITNESS=1)", pytrace=False)
    pytest.skip(message)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class WitnessProcess:
    """One witness: its state directory, name, vkey and URL."""

    home: Path
    name: str
    vkey: str
    port: int
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def config(self) -> str:
        return f"{self.vkey} {self.url}"

    def _env(self) -> dict[str, str]:
        return {**os.environ, "AICS_WITNESS_CONFIG": str(self.home / "witness.json")}

    def start(self) -> None:
        """Serve (again, with the state it kept) and wait until ``/healthz`` answers."""
        with (self.home / "serve.log").open("ab") as log:
            self.process = subprocess.Popen(
                [str(WITNESS_BIN), "serve", "--listen", f"127.0.0.1:{self.port}"],
                env=self._env(), stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + READY_TIMEOUT_S
        while True:  # readiness: a bounded poll of /healthz
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=1) as answer:  # noqa: S310
                    if answer.status == 200:
                        return
            except OSError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError((self.home / "serve.log").read_text()[-2000:])
            time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        self.process = None


def make_witness(home: Path, *, name: str, origin: str, log_vkey: str,
                 port: int | None = None) -> WitnessProcess:
    """A new witness identity that trusts the log ``origin`` with key ``log_vkey``."""
    require_witness_tools()
    home.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "AICS_WITNESS_CONFIG": str(home / "witness.json")}
    made = subprocess.run([str(WITNESS_BIN), "init", "--name", name], env=env, check=True,
                          capture_output=True, text=True)
    vkey = made.stdout.strip().splitlines()[-1]
    subprocess.run([str(WITNESS_BIN), "add-log", "--origin", origin, "--vkey", log_vkey],
                   env=env, check=True, capture_output=True)
    return WitnessProcess(home=home, name=name, vkey=vkey, port=port or free_port())


@contextmanager
def running_witness(home: Path, *, name: str, origin: str, log_vkey: str,
                    start: bool = True) -> Iterator[WitnessProcess]:
    witness = make_witness(home, name=name, origin=origin, log_vkey=log_vkey)
    try:
        if start:
            witness.start()
        yield witness
    finally:
        witness.stop()
