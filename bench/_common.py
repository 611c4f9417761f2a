"""Shared pieces of the benchmarks: realistic entries, an empty log database, percentiles."""

from __future__ import annotations

import statistics
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import create_engine

from audit.schema import create_log_tables


def sample_entry(n: int) -> dict[str, Any]:
    """An entry shaped like the broker's access decision (DESIGN §7), about 600 bytes as a leaf."""
    return {
        "v": 1,
        "id": str(uuid.UUID(int=n)),
        "kind": "access.decision",
        "time": f"2026-12-01T{n // 3600 % 24:02d}:{n // 60 % 60:02d}:{n % 60:02d}.000000Z",
        "network": "gbo-gent",
        "partner": ("ocmw-gent", "dmw-cm", "caw-oost")[n % 3],
        "worker": f"w-{n % 17}",
        "client": f"c-{n % 1009:04d}",
        "purpose": "rechtenverkenning",
        "sections": {
            "hulpvraag": {"verdict": "granted", "reasons": []},
            "gezondheid": {"verdict": "denied", "reasons": ["no_consent"]},
        },
        "policy_version": "2026.12.1",
        "consent_ids": [f"consent-{n % 7}"],
        "request_id": f"req-{n:08d}",
        "break_glass": False,
        "facts": {},
        "detail": {"alg": "A256GCM", "ct": "q" * 96},
    }


def create_log(url: str) -> None:
    """The log's tables and append-only triggers, as the migrations create them."""
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            create_log_tables(conn)
    finally:
        engine.dispose()


def percentile(values: Sequence[float], p: float) -> float:
    """The ``p``-th percentile (0-100) of ``values``, nearest rank."""
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(p / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def median(values: Sequence[float]) -> float:
    return statistics.median(values)
