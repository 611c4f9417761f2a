"""Load the known-answer vectors copied from /work/shared/vectors into tests/assets/vectors."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

VECTORS = Path(__file__).resolve().parents[1] / "assets" / "vectors"


@cache
def load(name: str) -> Any:
    """The parsed JSON vector file ``name`` (e.g. ``"signed_notes.json"``)."""
    return json.loads((VECTORS / name).read_text(encoding="utf-8"))


def unhex(values: list[str]) -> list[bytes]:
    return [bytes.fromhex(v) for v in values]


def reference_leaves() -> list[bytes]:
    """The eight leaves of transparency-dev/merkle's reference tree."""
    return unhex(load("rfc6962_reference_tree.json")["leaves_hex"])


def note_vector(note_id: str) -> dict[str, Any]:
    notes = load("signed_notes.json")["notes"]
    matches = [n for n in notes if n["id"] == note_id]
    assert len(matches) == 1, note_id
    result: dict[str, Any] = matches[0]
    return result
