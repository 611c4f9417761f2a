"""The README's path as a new user walks it: set up the demo, serve, mint a token, post an entry.

Real processes: ``gbo-broker demo``, ``gbo-broker serve`` on a free loopback port, and the CLI's
token, exactly as the README shows them.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx2 as httpx
import pytest

CLI = shutil.which("gbo-broker", path=str(Path(sys.executable).parent)) or "gbo-broker"
READY_TIMEOUT_S = 30


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def demo_server(tmp_path: Path) -> Iterator[tuple[str, dict[str, str], Callable[[], str]]]:
    env = {**os.environ, "GBO_DEMO": "1", "GBO_DATA_DIR": str(tmp_path / "var")}
    env.pop("GBO_DATABASE_URL", None)
    subprocess.run([CLI, "demo"], env=env, check=True, capture_output=True, timeout=60)
    port = _free_port()
    log = tmp_path / "server.log"  # stderr: the JSON log stream
    with log.open("wb") as err:
        proc = subprocess.Popen([CLI, "serve", "--port", str(port)], env=env,
                                stdout=subprocess.DEVNULL, stderr=err)
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
                pytest.fail(f"server did not become ready:\n{log.read_text()}")
            time.sleep(0.1)

        def stop() -> str:
            """Stop the server and return everything it logged."""
            proc.terminate()
            proc.wait(timeout=10)
            return log.read_text()

        yield base, env, stop
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=10)


def test_new_user_posts_an_entry_with_a_cli_token(
    demo_server: tuple[str, dict[str, str], Callable[[], str]],
) -> None:
    base, env, stop = demo_server
    token = subprocess.run(
        [CLI, "token", "partner", "--partner", "ocmw-gent", "--worker", "w-1"],
        env=env, check=True, capture_output=True, text=True, timeout=30,
    ).stdout.strip()
    response = httpx.post(
        f"{base}/v1/entries",
        headers={"Authorization": f"Bearer {token}"},
        json={"insz": "85073003328", "section": "hulpvraag",
              "content": {"vraag": "huurachterstal e2e-marker"}},
    )
    assert response.status_code == 201, response.text
    assert response.json()["id"].startswith("e-")

    logged = stop()
    lines = [json.loads(line) for line in logged.splitlines()]  # every line is JSON
    access = [entry for entry in lines if entry.get("name") == "gbo.access"]
    assert any(e["route"] == "/v1/entries" and e["status"] == 201 and e["partner"] == "ocmw-gent"
               for e in access)
    assert "85073003328" not in logged
    assert "e2e-marker" not in logged


def test_demo_setup_is_idempotent_and_keeps_keys(tmp_path: Path) -> None:
    env = {**os.environ, "GBO_DEMO": "1", "GBO_DATA_DIR": str(tmp_path / "var")}
    env.pop("GBO_DATABASE_URL", None)
    first = subprocess.run([CLI, "demo"], env=env, capture_output=True, text=True, timeout=60)
    kek = (tmp_path / "var" / "keys" / "kek.json").read_text()
    second = subprocess.run([CLI, "demo"], env=env, capture_output=True, text=True, timeout=60)
    assert "seeded" in first.stderr and "already set up" in second.stderr
    assert (tmp_path / "var" / "keys" / "kek.json").read_text() == kek
    assert oct((tmp_path / "var" / "keys" / "kek.json").stat().st_mode & 0o777) == "0o600"
