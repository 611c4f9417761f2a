"""DESIGN §7: `gbo-broker audit verify` catches an attacker with database access.

A log of 1,000 real entries (``broker.store.audit_events.build_entry``, detail encrypted with a
client data key) is signed by `gbo-broker audit checkpoint` at 500 and 1,000 leaves. The attacker
drops the append-only triggers, edits the tables, and puts the triggers back. Every edit must make
`audit verify` exit 1 naming the first bad index, as far as the verifier can know it: a changed,
deleted or swapped leaf at its own index; a truncated tail at the cut; a leaf rewritten together
with every stored hash above it at the start of the range the first failing checkpoint covers.
While the triggers stand, the database itself refuses UPDATE, DELETE and (PostgreSQL) TRUNCATE.
The same verification runs against a live broker over HTTP (``--url``), as an outside auditor.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Connection, delete, insert, select, text, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError
from typer.testing import CliRunner, Result

from audit.checkpoint import sign_checkpoint
from audit.keys import Ed25519Signer
from audit.merkle import CompactRange, leaf_hash, node_hash
from audit.schema import (
    LOG_TABLES,
    append_only_ddl,
    audit_checkpoint,
    audit_leaf,
    audit_node,
    drop_append_only_ddl,
)
from audit.store import AuditStore, writer_engine
from broker.cli import app
from broker.context import BrokerContext
from broker.security.keys import load_audit_signer
from broker.settings import Settings
from broker.store import crypto
from broker.store.audit_events import AuditEvent, build_entry
from broker.store.db import make_engine
from tests.databases import PostgresSchemas, SqliteFiles, copy_rows
from tests.factories import issuer_token
from tests.live_server import served

LOG_SIZE = 1000
FIRST_CHECKPOINT = 500
BATCH = 250
TAMPERED = 613  # inside the range [500, 1000) that only the second checkpoint covers
SWAPPED_WITH = 871
CUT = 900
READY_TIMEOUT_S = 10

runner = CliRunner()


def _env(settings: Settings) -> dict[str, str]:
    return {
        "GBO_DATA_DIR": str(settings.data_dir),
        "GBO_DEMO": "1",
        "GBO_DATABASE_URL": settings.resolved_database_url,
        "GBO_CHECKPOINT_INTERVAL": "0",  # checkpoints only where this test signs them
    }


def _cli(settings: Settings, *args: str) -> Result:
    return runner.invoke(app, list(args), env=_env(settings))


def _entries(start: int, count: int, data_key: bytes) -> list[dict[str, Any]]:
    """Access decisions as the broker logs them, one minute apart, detail encrypted."""
    t0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
    entries = []
    for n in range(start, start + count):
        event = AuditEvent(
            kind="access.decision",
            network="gbo-gent",
            client=f"c-{n % 37:04x}",
            partner=("ocmw-gent", "dmw-cm")[n % 2],
            worker=f"w-{n % 11}",
            purpose="rechtenverkenning",
            sections={
                "hulpvraag": {"verdict": "granted", "reasons": []},
                "gezondheid": {"verdict": "denied", "reasons": ["no_consent"]},
            },
            policy_version="2026.12.1",
            consent_ids=[f"consent-{n % 5}"],
            request_id=f"req-{n:05d}",
            detail={"released": [f"entry-{n}"]},
        )
        entries.append(build_entry(event, now=t0 + timedelta(minutes=n), data_key=data_key))
    return entries


def _sign_checkpoint(settings: Settings, size: int) -> str:
    result = _cli(settings, "audit", "checkpoint")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[1] == str(size)
    return result.stdout


def _build_log_of_1000(settings: Settings, engine: Engine) -> None:
    """1,000 entries, appended in batches; checkpoints signed at 500 and at 1,000 leaves."""
    data_key = crypto.new_data_key()
    writer = writer_engine(settings.resolved_database_url)
    try:
        store = AuditStore(engine, writer=writer)
        for start in range(0, LOG_SIZE, BATCH):
            store.append_batch(_entries(start, BATCH, data_key))
            if start + BATCH == FIRST_CHECKPOINT:
                _sign_checkpoint(settings, FIRST_CHECKPOINT)
    finally:
        writer.dispose()
    _sign_checkpoint(settings, LOG_SIZE)


@pytest.fixture(scope="module")
def built_logs() -> Iterator[tuple[dict[str, Engine], ExitStack]]:
    """The log of 1,000, built once per backend for this module (``log_of_1000``)."""
    with ExitStack() as stack:
        yield {}, stack


@pytest.fixture
def log_of_1000(settings: Settings, engine: Engine, tmp_path_factory: pytest.TempPathFactory,
                request: pytest.FixtureRequest,
                built_logs: tuple[dict[str, Engine], ExitStack]) -> Engine:
    """The log of 1,000 (``_build_log_of_1000``), built in a database of its own the first time
    on each backend, then copied row by row into this test's database. Every test's data
    directory holds the same demo keys (conftest), so the checkpoints verify here too."""
    built, stack = built_logs
    backend = engine.dialect.name
    if backend not in built:
        if backend == "sqlite":
            files: SqliteFiles = request.getfixturevalue("sqlite_files")
            url = files.fresh("migrated", tmp_path_factory.mktemp("log") / "gbo.sqlite3")
        else:
            schemas: PostgresSchemas = request.getfixturevalue("postgres_schemas")
            url = stack.enter_context(schemas.fresh("migrated"))
        source = make_engine(url)
        stack.callback(source.dispose)
        files_before = sorted(settings.data_dir.rglob("*"))
        _build_log_of_1000(Settings(data_dir=settings.data_dir, database_url=url, demo=True),
                           source)
        assert sorted(settings.data_dir.rglob("*")) == files_before  # the log is all there is
        built[backend] = source
    copy_rows(built[backend], engine)
    return engine


@contextmanager
def _attacker(engine: Engine) -> Iterator[Connection]:
    """Database access: drop the append-only triggers, tamper, put the triggers back."""
    with engine.begin() as conn:
        for statement in drop_append_only_ddl(conn.dialect.name):
            conn.execute(text(statement))
        yield conn
        for statement in append_only_ddl(conn.dialect.name):
            conn.execute(text(statement))


def _leaf(conn: Connection, index: int) -> bytes:
    return bytes(
        conn.execute(select(audit_leaf.c.leaf).where(audit_leaf.c.idx == index)).scalar_one()
    )


def _set_leaf(conn: Connection, index: int, leaf: bytes) -> None:
    conn.execute(update(audit_leaf).where(audit_leaf.c.idx == index).values(leaf=leaf))


def _one_byte_changed(leaf: bytes) -> bytes:
    """The leaf with the first letter of its purpose upper-cased: still canonical JSON, still
    claiming its own index, one byte different."""
    at = leaf.index(b'"purpose":"') + len(b'"purpose":"')
    changed = leaf[:at] + leaf[at : at + 1].upper() + leaf[at + 1 :]
    assert sum(a != b for a, b in zip(leaf, changed, strict=True)) == 1
    return changed


def _verify(settings: Settings, *args: str) -> Result:
    return _cli(settings, "audit", "verify", *args)


def _assert_tampering_at(result: Result, index: int) -> None:
    assert result.exit_code == 1, result.output
    assert f"TAMPERING DETECTED at leaf {index}:" in result.output


# --- the untouched log ------------------------------------------------------------------------


def test_untouched_log_verifies(settings: Settings, log_of_1000: Engine) -> None:
    result = _verify(settings)
    assert result.exit_code == 0, result.output
    assert f"OK: {LOG_SIZE} leaves verified" in result.stdout
    assert "(2 checkpoints checked, 0 newer leaves not yet signed)" in result.stdout


# --- an attacker with database access ---------------------------------------------------------


def test_verify_names_a_leaf_changed_by_one_byte(settings: Settings, log_of_1000: Engine) -> None:
    with _attacker(log_of_1000) as conn:
        _set_leaf(conn, TAMPERED, _one_byte_changed(_leaf(conn, TAMPERED)))
    _assert_tampering_at(_verify(settings), TAMPERED)


def test_verify_names_a_deleted_leaf(settings: Settings, log_of_1000: Engine) -> None:
    with _attacker(log_of_1000) as conn:
        conn.execute(delete(audit_leaf).where(audit_leaf.c.idx == TAMPERED))
    result = _verify(settings)
    _assert_tampering_at(result, TAMPERED)
    assert "missing" in result.output


def test_verify_names_the_first_of_two_swapped_leaves(
    settings: Settings, log_of_1000: Engine
) -> None:
    with _attacker(log_of_1000) as conn:
        a, b = _leaf(conn, TAMPERED), _leaf(conn, SWAPPED_WITH)
        _set_leaf(conn, TAMPERED, b)
        _set_leaf(conn, SWAPPED_WITH, a)
    _assert_tampering_at(_verify(settings), TAMPERED)


def test_verify_names_the_cut_of_a_truncated_tail_remembered_from_an_earlier_run(
    settings: Settings, log_of_1000: Engine
) -> None:
    assert _verify(settings).exit_code == 0  # the state file now remembers checkpoint 1,000
    with _attacker(log_of_1000) as conn:
        # Everything at or above the cut: leaves, subtree hashes reaching past it, checkpoints.
        conn.execute(delete(audit_leaf).where(audit_leaf.c.idx >= CUT))
        for level in range(LOG_SIZE.bit_length()):
            node = audit_node.c
            conn.execute(delete(audit_node).where(node.level == level, node.idx >= CUT >> level))
        conn.execute(delete(audit_checkpoint).where(audit_checkpoint.c.size > CUT))
    store = AuditStore(log_of_1000)
    assert store.size() == CUT
    assert store.root(CUT) == _recomputed_root(log_of_1000)  # a clean-looking log of 900
    result = _verify(settings)
    _assert_tampering_at(result, CUT)
    assert "truncated" in result.output


def _rewrite_leaf_and_every_hash_above_it(conn: Connection, index: int, leaf: bytes) -> None:
    """Store ``leaf`` and recompute its level-0 hash and each complete ancestor's hash, so the
    stored tree is consistent with the forgery and only a signed root can tell."""
    h, level, idx = leaf_hash(leaf), 0, index
    _set_leaf(conn, index, leaf)
    while True:
        node = audit_node.c
        conn.execute(update(audit_node).where(node.level == level, node.idx == idx).values(hash=h))
        if ((idx >> 1) + 1) << (level + 1) > LOG_SIZE:
            return  # the parent is not a complete subtree: nothing stored above
        sibling = bytes(
            conn.execute(
                select(node.hash).where(node.level == level, node.idx == idx ^ 1)
            ).scalar_one()
        )
        h = node_hash(sibling, h) if idx & 1 else node_hash(h, sibling)
        level, idx = level + 1, idx >> 1


def _recomputed_root(engine: Engine) -> bytes:
    cr = CompactRange()
    for item in AuditStore(engine).iter_leaves():
        cr.append(leaf_hash(item.leaf))
    return cr.root()


def test_verify_names_the_checkpointed_range_of_a_leaf_rewritten_with_its_hashes(
    settings: Settings, log_of_1000: Engine
) -> None:
    with _attacker(log_of_1000) as conn:
        forged = _one_byte_changed(_leaf(conn, TAMPERED))
        _rewrite_leaf_and_every_hash_above_it(conn, TAMPERED, forged)
    store = AuditStore(log_of_1000)
    assert store.root(LOG_SIZE) == _recomputed_root(log_of_1000)  # the stored tree agrees
    result = _verify(settings)
    # The checkpoint at 500 still matches; the one at 1,000 does not: the change is in [500, 1000).
    _assert_tampering_at(result, FIRST_CHECKPOINT)
    assert f"[{FIRST_CHECKPOINT}, {LOG_SIZE})" in result.output


def test_verify_reports_a_checkpoint_forged_with_another_key(
    settings: Settings, log_of_1000: Engine
) -> None:
    """The attacker rewrites history thoroughly and re-signs it under the log's name."""
    origin = load_audit_signer(settings)[0].name
    forger = Ed25519Signer.generate(origin)
    with _attacker(log_of_1000) as conn:
        forged = _one_byte_changed(_leaf(conn, TAMPERED))
        _rewrite_leaf_and_every_hash_above_it(conn, TAMPERED, forged)
        conn.execute(delete(audit_checkpoint))
    root = AuditStore(log_of_1000).root(LOG_SIZE)
    with log_of_1000.begin() as conn:  # inserting is allowed: no trigger needs to go
        conn.execute(
            insert(audit_checkpoint).values(
                size=LOG_SIZE,
                root=root,
                note=sign_checkpoint(origin, LOG_SIZE, root, forger),
                signed_at="2026-12-02T00:00:00.000000Z",
            )
        )
    result = _verify(settings)
    assert result.exit_code == 1, result.output
    assert "TAMPERING DETECTED: a checkpoint does not verify with the log key" in result.output


def test_verify_fails_when_every_checkpoint_was_deleted(
    settings: Settings, log_of_1000: Engine
) -> None:
    with _attacker(log_of_1000) as conn:
        conn.execute(delete(audit_checkpoint))
    result = _verify(settings)
    assert result.exit_code == 1, result.output
    assert "no signed checkpoint" in result.output


# --- the database refuses while the triggers stand --------------------------------------------

TABLES = {table.name: table for table in (audit_leaf, audit_node, audit_checkpoint)}
assert set(TABLES) == set(LOG_TABLES)
CHANGES = {
    "audit_leaf": update(audit_leaf).values(partner="forged"),
    "audit_node": update(audit_node).values(idx=audit_node.c.idx + 1_000_000),
    "audit_checkpoint": update(audit_checkpoint).values(signed_at="forged"),
}


def _snapshot(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    with engine.connect() as conn:
        return {
            name: [tuple(row) for row in conn.execute(select(t).order_by(*t.primary_key))]
            for name, t in TABLES.items()
        }


@pytest.fixture
def small_log(settings: Settings, engine: Engine) -> Engine:
    writer = writer_engine(settings.resolved_database_url)
    try:
        AuditStore(engine, writer=writer).append_batch(_entries(0, 5, crypto.new_data_key()))
    finally:
        writer.dispose()
    _sign_checkpoint(settings, 5)
    return engine


@pytest.mark.parametrize("op", ["UPDATE", "DELETE"])
@pytest.mark.parametrize("table", LOG_TABLES)
def test_database_refuses_update_and_delete_on_log_tables(
    small_log: Engine, table: str, op: str
) -> None:
    before = _snapshot(small_log)
    statement = CHANGES[table] if op == "UPDATE" else delete(TABLES[table])
    with pytest.raises(DBAPIError, match="append-only"), small_log.begin() as conn:
        conn.execute(statement)
    assert _snapshot(small_log) == before


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
@pytest.mark.parametrize("table", LOG_TABLES)
def test_postgresql_refuses_truncate_on_log_tables(small_log: Engine, table: str) -> None:
    before = _snapshot(small_log)
    with pytest.raises(DBAPIError, match="append-only"), small_log.begin() as conn:
        conn.execute(text(f"TRUNCATE {table}"))
    assert _snapshot(small_log) == before


REPLACE_ROW = {  # overwrite the first stored row of each table with an upsert
    "audit_leaf": ("(idx, leaf, kind, time, break_glass) VALUES (0, :b, 'forged', 'forged', false)",
                   "(idx)", "leaf = excluded.leaf"),
    "audit_node": ("(level, idx, hash) VALUES (0, 0, :b)", "(level, idx)",
                   "hash = excluded.hash"),
    "audit_checkpoint": ("(size, root, note, signed_at) VALUES (5, :b, 'forged', 'forged')",
                         "(size)", "note = excluded.note"),
}


@pytest.mark.parametrize("table", LOG_TABLES)
def test_database_refuses_an_upsert_over_a_stored_row(small_log: Engine, table: str) -> None:
    """SQLite's INSERT OR REPLACE deletes the old row without firing DELETE triggers: a
    BEFORE INSERT trigger (migration 0004) refuses it. PostgreSQL's upsert is an UPDATE."""
    values, key, update = REPLACE_ROW[table]
    before = _snapshot(small_log)
    with small_log.connect() as probe:
        sqlite = probe.dialect.name == "sqlite"
    statement = (f"INSERT OR REPLACE INTO {table} {values}" if sqlite
                 else f"INSERT INTO {table} {values} ON CONFLICT {key} DO UPDATE SET {update}")
    with pytest.raises(DBAPIError, match="append-only"), small_log.begin() as conn:
        conn.execute(text(statement), {"b": b"\x00" * 32})
    assert _snapshot(small_log) == before


# --- an outside auditor over HTTP (--url) -----------------------------------------------------


@pytest.fixture
def live_broker(ctx: BrokerContext) -> Iterator[str]:
    """The broker served by uvicorn on a free loopback port, in a background thread."""
    with served(ctx, READY_TIMEOUT_S) as base:
        yield base


def _verify_url(settings: Settings, base: str) -> Result:
    token = issuer_token(settings, role="auditor", scope="supervisor")
    return _verify(settings, "--url", base, "--token", token)


def test_verify_over_http_accepts_the_untouched_log(
    settings: Settings, log_of_1000: Engine, live_broker: str
) -> None:
    result = _verify_url(settings, live_broker)
    assert result.exit_code == 0, result.output
    assert f"OK: {LOG_SIZE} leaves verified" in result.stdout


def _swap(conn: Connection) -> None:
    a, b = _leaf(conn, TAMPERED), _leaf(conn, SWAPPED_WITH)
    _set_leaf(conn, TAMPERED, b)
    _set_leaf(conn, SWAPPED_WITH, a)


def _change_one_byte(conn: Connection) -> None:
    _set_leaf(conn, TAMPERED, _one_byte_changed(_leaf(conn, TAMPERED)))


@pytest.mark.parametrize(
    ("tamper", "first_bad"),
    [
        (_swap, TAMPERED),
        # Over HTTP only the newest checkpoint and the leaves are known: the range it covers.
        (_change_one_byte, 0),
    ],
    ids=["swapped_leaves", "one_byte_changed"],
)
def test_verify_over_http_detects_tampering(
    settings: Settings, log_of_1000: Engine, live_broker: str, tamper: Any, first_bad: int
) -> None:
    with _attacker(log_of_1000) as conn:
        tamper(conn)
    _assert_tampering_at(_verify_url(settings, live_broker), first_bad)
