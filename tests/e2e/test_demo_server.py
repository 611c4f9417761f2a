"""The README's path as a new user walks it: set up the demo, serve, mint a token, post an entry.

Real processes: ``gbo-broker demo``, ``gbo-broker serve`` on a free loopback port, and the CLI's
token, exactly as the README shows them.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import httpx2 as httpx

from tests.e2e.conftest import CLI, demo_broker_at


def test_new_user_posts_an_entry_with_a_cli_token(tmp_path: Path) -> None:
    with demo_broker_at(tmp_path) as (broker, server):
        # The demo seed gives An Peeters (85073003328) a help relation with ocmw-gent.
        token = broker.cli("token", "partner", "--partner", "ocmw-gent", "--worker", "w-1")
        response = httpx.post(
            f"{broker.base}/v1/entries",
            headers={"Authorization": f"Bearer {token}"},
            json={"insz": "85073003328", "section": "hulpvraag",
                  "content": {"vraag": "huurachterstal e2e-marker"}},
        )
        assert response.status_code == 201, response.text
        assert response.json()["id"].startswith("e-")
        server.terminate()  # the access line is written after the response: stop, then read
        server.wait(timeout=10)
    logged = broker.log.read_text()
    lines = [json.loads(line) for line in logged.splitlines()]  # every line is JSON
    access = [entry for entry in lines if entry.get("log.logger") == "gbo.access"]
    assert any(e["url.path"] == "/v1/entries" and e["http.response.status_code"] == 201
               and e["gbo.partner"] == "ocmw-gent" for e in access)
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
