"""Helpers for tests of the log in a database: entries shaped like the broker's, what a database
holds, and a whole-log verification against a freshly signed checkpoint.

Also imported by ``appender.py`` (run in child processes), so stdlib, SQLAlchemy and ``audit`` only.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, select, text

from audit.checkpoint import open_checkpoint
from audit.log import TransparencyLog
from audit.merkle import leaf_hash
from audit.schema import audit_leaf, audit_node
from audit.store import PG_ADVISORY_LOCK_KEY
from audit.verify import VerifyReport, verify_log


def sample_entry(n: int, *, source: str = "test") -> dict[str, Any]:
    """An entry shaped like the broker's access decision (DESIGN §7), unique by its ``id``."""
    return {
        "v": 1,
        "id": f"{source}-{n}-{uuid.uuid4()}",
        "kind": "access.decision",
        "time": f"2026-12-01T09:{n // 60 % 60:02d}:{n % 60:02d}.000000Z",
        "network": "gbo-gent",
        "partner": ("ocmw-gent", "dmw-cm", "caw-oost")[n % 3],
        "worker": f"w-{n % 17}",
        "client": f"c-{n % 101:04d}",
        "purpose": "rechtenverkenning",
        "sections": {
            "hulpvraag": {"verdict": "granted", "reasons": []},
            "gezondheid": {"verdict": "denied", "reasons": ["no_consent"]},
        },
        "policy_version": "2026.12.1",
        "consent_ids": [],
        "request_id": f"req-{n}",
        "break_glass": False,
        "facts": {},
        "detail": None,
    }


@contextmanager
def log_write_lock_held(engine: Engine) -> Iterator[None]:
    """Hold the log's write lock from another connection, as a second writer would, so the
    writer thread waits inside its append (``AuditStore.append_batch``) until the block ends:
    ``BEGIN IMMEDIATE`` on SQLite (readers go on, in WAL mode), the log's advisory lock on
    PostgreSQL (nothing else is locked)."""
    with engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql("PRAGMA journal_mode=WAL")  # as the log's writer sets it
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": PG_ADVISORY_LOCK_KEY})
        try:
            yield
        finally:
            conn.rollback()


def stored_entry_ids(engine: Engine) -> dict[str, int]:
    """``{entry id: index}`` of every stored leaf."""
    with engine.connect() as conn:
        rows = conn.execute(select(audit_leaf.c.idx, audit_leaf.c.leaf)).all()
    return {json.loads(bytes(row.leaf))["id"]: int(row.idx) for row in rows}


def stored_leaf_hashes(engine: Engine) -> dict[int, bytes]:
    """``{index: SHA-256(0x00 || leaf)}`` recomputed from every stored leaf."""
    with engine.connect() as conn:
        rows = conn.execute(select(audit_leaf.c.idx, audit_leaf.c.leaf)).all()
    return {int(row.idx): leaf_hash(bytes(row.leaf)) for row in rows}


def stored_node_indices(engine: Engine, level: int = 0) -> list[int]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(audit_node.c.idx).where(audit_node.c.level == level).order_by(audit_node.c.idx)
        ).all()
    return [int(row.idx) for row in rows]


def verify_against_fresh_checkpoint(log: TransparencyLog) -> VerifyReport:
    """Sign a checkpoint of the log as it is now and verify every leaf against it.

    Raises ``AuditIntegrityError`` if the log does not verify.
    """
    stored = log.checkpoint_now()
    checkpoint = open_checkpoint(stored.note, log.signer.verifier)
    return verify_log(
        log.store.iter_leaves(),
        checkpoints=[checkpoint],
        stored_nodes=log.store.node_rows,
    )
