"""Fixtures for the log in a database: an empty log on SQLite and on PostgreSQL.

Only the log's own tables and append-only triggers (``audit.schema``), no broker migrations: the
``audit`` package is a library and these tests hold it to that.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, create_engine, inspect

from audit.keys import Ed25519Signer
from audit.schema import create_log_tables


@pytest.fixture
def log_url(db_url: str) -> str:
    """``db_url`` holding the log's empty tables, append-only like the migrations make them."""
    engine = create_engine(db_url)
    try:
        if not inspect(engine).has_table("audit_leaf"):  # db_url made them, as a rule
            with engine.begin() as conn:
                create_log_tables(conn)
    finally:
        engine.dispose()
    return db_url


@pytest.fixture
def log_engine(log_url: str) -> Iterator[Engine]:
    """A plain engine on the log's database, for reads and for ``TransparencyLog(engine=...)``."""
    engine = create_engine(log_url)
    yield engine
    engine.dispose()


@pytest.fixture
def signer() -> Ed25519Signer:
    return Ed25519Signer.generate("example.org/audit-test-log")
