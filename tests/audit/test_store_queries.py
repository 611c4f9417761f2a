"""DESIGN §7: a client's access log costs O(k) — k the client's own leaves — at any log size.

Regression: SQLite, without statistics, answered ``find_leaves(clients=...)`` through the
``(network, idx)`` index, which also gives the order, walking every leaf of the network: with
10^6 leaves a client's access log took seconds (``bench/network_scale.py``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, event

from audit.store import AuditStore, writer_engine
from tests.audit.logdb import sample_entry


@pytest.fixture
def store(log_url: str, log_engine: Engine) -> Iterator[AuditStore]:
    writer = writer_engine(log_url)
    yield AuditStore(log_engine, writer=writer)
    writer.dispose()


def test_a_clients_leaves_are_found_in_index_order(store: AuditStore) -> None:
    store.append_batch([sample_entry(n) for n in range(400)])
    found = store.find_leaves(network="gbo-gent", clients=[("gbo-gent", "c-0007")],
                              kind_prefix="access.", limit=1000)
    assert [leaf.index for leaf in found] == [n for n in range(400) if n % 101 == 7]
    assert store.find_leaves(clients=[("gbo-antwerpen", "c-0007")]) == []


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("with_network", [False, True], ids=["clients", "clients_and_network"])
def test_sqlite_finds_a_clients_leaves_through_the_client_index(
    store: AuditStore, log_engine: Engine, with_network: bool
) -> None:
    store.append_batch([sample_entry(n) for n in range(300)])
    statements: list[tuple[str, Any]] = []

    def record(_conn: object, _cursor: object, sql: str, params: Any, *_: object) -> None:
        statements.append((sql, params))

    event.listen(log_engine, "before_cursor_execute", record)
    try:
        store.find_leaves(network="gbo-gent" if with_network else None,
                          clients=[("gbo-gent", "c-0007"), ("gbo-antwerpen", "c-0007")],
                          kind_prefix="access.", limit=1000)
    finally:
        event.remove(log_engine, "before_cursor_execute", record)
    (sql, params), = statements
    with log_engine.connect() as conn:
        plan = " | ".join(str(row[-1]) for row in
                          conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", params).all())
    assert "ix_audit_leaf_client_idx" in plan and "network_idx" not in plan, plan


def test_a_kind_filter_matches_whole_dotted_segments(store: AuditStore) -> None:
    kinds = ["consent.created", "consent_request.created", "consent", "access.decision"]
    store.append_batch([{**sample_entry(n), "kind": kind} for n, kind in enumerate(kinds)])

    def found(prefix: str) -> list[str]:
        return [kinds[leaf.index] for leaf in store.find_leaves(kind_prefix=prefix)]

    assert found("consent") == ["consent.created", "consent"]
    assert found("consent_request") == ["consent_request.created"]
    assert found("access.") == ["access.decision"]
    assert found("access.decision") == ["access.decision"]
    assert found("acc") == []
