"""The per-test databases (``tests/databases.py``) are what a fresh migration makes: a test on a
copy sees the same tables, triggers, ``alembic_version`` and sequences, and no other test's rows."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Connection, create_engine, inspect, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import ProgrammingError

from broker.store.db import current_revision, head_revision, make_engine, upgrade
from consent.padding import STORED
from tests.databases import PostgresSchemas

LEAF = ("INSERT INTO audit_leaf (idx, leaf, kind, time, break_glass) "
        "VALUES (0, :leaf, 'test', '2026-01-01T00:00:00Z', false)")
NOTIFICATION = ("INSERT INTO consent_notification (partner, network, consent_id, version, "
                "change, no_longer_covers, created_at) VALUES ('p', 'n', 'c', 1, 'created', "
                "'[]', '2026-01-01 00:00:00')")


def _sqlite_catalogue(conn: Connection) -> list[tuple[object, ...]]:
    # Alembic's batch mode writes a table's constraints in no fixed order: compare the lines.
    rows: list[tuple[object, ...]] = [
        (kind, name, table, sorted(line.strip().rstrip(",") for line in (sql or "").splitlines()))
        for kind, name, table, sql in conn.execute(text(
            "SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name"))]
    rows += [tuple(r) for r in conn.execute(text("SELECT version_num FROM alembic_version"))]
    rows += [tuple(r) for r in conn.execute(text("PRAGMA journal_mode"))]
    return rows


def _rows(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {t: conn.execute(text(f'SELECT count(*) FROM "{t}"')).scalar_one()  # noqa: S608
                for t in inspect(conn).get_table_names() if t != "alembic_version"}


# What the migrations write: the padding owner's stored records (migration 0012).
MIGRATED_ROWS = {"client": 1} | STORED


def _as_migrated(rows: dict[str, int]) -> bool:
    return all(n == MIGRATED_ROWS.get(t, 0) for t, n in rows.items())


def test_copy_is_the_freshly_migrated_database(
    engine: Engine, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    assert current_revision(engine) == head_revision(engine)
    assert _as_migrated(_rows(engine))
    if engine.dialect.name == "sqlite":
        reference = make_engine(f"sqlite:///{tmp_path / 'reference.sqlite3'}")
        try:
            upgrade(reference)
            with engine.connect() as copy, reference.connect() as new:
                assert _sqlite_catalogue(copy) == _sqlite_catalogue(new)
        finally:
            reference.dispose()
        return
    schemas: PostgresSchemas = request.getfixturevalue("postgres_schemas")
    admin: Engine = request.getfixturevalue("postgres_admin")
    with engine.connect() as conn:
        copy_schema = conn.execute(text("SELECT current_schema()")).scalar_one()
    reference_schema = f"{copy_schema}_reference"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{reference_schema}"'))
    try:
        reference = make_engine(schemas.url(reference_schema))
        upgrade(reference)
        reference.dispose()
        with admin.connect() as conn:
            assert (PostgresSchemas.catalogue_of(conn, copy_schema)
                    == PostgresSchemas.catalogue_of(conn, reference_schema))
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{reference_schema}" CASCADE'))


def test_a_used_schema_comes_back_empty_and_a_changed_one_not_at_all(
    postgres_schemas: PostgresSchemas,
) -> None:
    with postgres_schemas.fresh("migrated") as url:
        used = create_engine(url)
        with used.begin() as conn:
            conn.execute(text(LEAF), {"leaf": b"x"})
            conn.execute(text(NOTIFICATION))
        used.dispose()
    with postgres_schemas.fresh("migrated") as again:
        assert again == url  # emptied, not built anew
        engine = create_engine(again)
        assert _as_migrated(_rows(engine))  # and given back what the migrations wrote
        with engine.begin() as conn:
            conn.execute(text(NOTIFICATION))  # the sequence starts over
            assert conn.execute(text("SELECT max(id) FROM consent_notification")).scalar() == 1
            conn.execute(text("DROP TRIGGER audit_leaf_append_only ON audit_leaf"))
        engine.dispose()
    with postgres_schemas.fresh("migrated") as other:
        assert other != url  # a schema missing a trigger is not handed out again
        engine = create_engine(other)
        with engine.begin() as conn:
            conn.execute(text(LEAF), {"leaf": b"x"})
        with pytest.raises(ProgrammingError, match="append-only"), engine.begin() as conn:
            conn.execute(text("DELETE FROM audit_leaf"))
        engine.dispose()
