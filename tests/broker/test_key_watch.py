"""A running broker's watched key files (DESIGN §6 key rotation without a restart)."""

from __future__ import annotations

import json
from pathlib import Path

from broker.errors import ConfigurationError
from broker.security.key_watch import WatchedFile
from broker.security.keys import replace_secret_json


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _load(path: Path) -> str:
    try:
        return str(json.loads(path.read_text())["kid"])
    except (ValueError, KeyError) as exc:
        raise ConfigurationError("malformed") from exc


def test_a_replaced_key_file_is_loaded_at_the_next_look(tmp_path: Path) -> None:
    path, clock = tmp_path / "k.json", Clock()
    replace_secret_json(path, {"kid": "k-1"})
    watched = WatchedFile(path, lambda: _load(path), interval=10, clock=clock)
    replace_secret_json(path, {"kid": "k-2"})
    assert watched.get() == "k-1"  # not looked at yet
    clock.now = 10
    assert watched.get() == "k-2"


def test_refresh_looks_at_once(tmp_path: Path) -> None:
    path = tmp_path / "k.json"
    replace_secret_json(path, {"kid": "k-1"})
    watched = WatchedFile(path, lambda: _load(path), interval=3600, clock=Clock())
    replace_secret_json(path, {"kid": "k-2"})
    assert watched.refresh() == "k-2"


def test_a_changed_file_that_does_not_load_keeps_the_keys_in_use(tmp_path: Path) -> None:
    path = tmp_path / "k.json"
    replace_secret_json(path, {"kid": "k-1"})
    watched = WatchedFile(path, lambda: _load(path), interval=0, clock=Clock())
    path.unlink()
    path.write_text("{half a file")
    assert watched.get() == "k-1"
    replace_secret_json(path, {"kid": "k-3"})
    assert watched.get() == "k-3"
