"""DESIGN §7: proofs from the store agree with the reference tree for random sizes up to a few
thousand, and verify with ``audit.merkle``.

The store answers from O(log n) stored subtree hashes (``audit.plan``); ``audit.reference``
recomputes RFC 6962 2.1 from the leaves themselves. A log is appended in batches of random sizes,
alternating between store objects, so frontiers are both carried over and reloaded from the
database; then every size up to the log's is a tree the store must prove things about.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, event

from audit import reference
from audit.errors import ProofRequestError
from audit.merkle import leaf_hash, verify_consistency, verify_inclusion
from audit.store import AuditStore, writer_engine
from tests.audit.logdb import sample_entry

SEEDS = [11, 23]
MAX_SIZE = 3000
CHECKS = 60


@pytest.fixture
def store(log_url: str, log_engine: Engine) -> Iterator[tuple[AuditStore, AuditStore]]:
    """Two writable stores on the same log (another writer's appends make a frontier stale)."""
    writer = writer_engine(log_url)
    yield AuditStore(log_engine, writer=writer), AuditStore(log_engine, writer=writer)
    writer.dispose()


def _fill(stores: tuple[AuditStore, AuditStore], size: int, rng: random.Random) -> list[bytes]:
    while (done := stores[0].size()) < size:
        batch = min(size - done, rng.choice([1, 2, 3, 7, 64, 255, 256, 1000]))
        stores[rng.randrange(2)].append_batch([sample_entry(done + i) for i in range(batch)])
    return [item.leaf for item in stores[0].iter_leaves()]


@pytest.mark.parametrize("seed", SEEDS, ids=[f"seed{s}" for s in SEEDS])
def test_store_proofs_equal_the_reference_and_verify(
    store: tuple[AuditStore, AuditStore], seed: int
) -> None:
    rng = random.Random(seed)
    n = rng.randint(MAX_SIZE // 2, MAX_SIZE)
    leaves = _fill(store, n, rng)
    reader = store[0]
    assert len(leaves) == reader.size() == n
    # Edge sizes (1, powers of two and one past them, the whole log) plus random ones.
    sizes = {1, 2, 3, 4, 5, 1024, 1025, n - 1, n}
    sizes |= {rng.randint(1, n) for _ in range(CHECKS)}
    for size in sorted(sizes):
        root = reader.root(size)
        assert root == reference.mth(leaves[:size]), size
        for index in {0, size - 1, rng.randrange(size)}:
            path = reader.inclusion_proof(index, size)
            assert path == reference.path(index, leaves[:size]), (index, size)
            verify_inclusion(leaf_hash(leaves[index]), index, size, path, root)
        old = rng.randint(1, size)
        proof = reader.consistency_proof(old, size)
        assert proof == reference.proof(old, leaves[:size]), (old, size)
        verify_consistency(old, size, reader.root(old), root, proof)


def test_store_refuses_proofs_beyond_its_size(store: tuple[AuditStore, AuditStore]) -> None:
    reader, _ = store
    _fill(store, 10, random.Random(0))
    with pytest.raises(ProofRequestError):
        reader.inclusion_proof(3, 11)
    with pytest.raises(ProofRequestError):
        reader.consistency_proof(5, 11)
    with pytest.raises(ProofRequestError):
        reader.inclusion_proof(10, 10)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_sqlite_reads_proof_nodes_by_primary_key_not_by_scanning_the_tree(
    store: tuple[AuditStore, AuditStore], log_engine: Engine
) -> None:
    """A proof must cost O(log n) at any size: every statement it runs is an index search.
    (``(level, idx) IN (VALUES ...)`` once made SQLite scan every stored node per proof.)"""
    reader, _ = store
    _fill(store, 100, random.Random(0))
    statements: list[tuple[str, Any]] = []

    def record(_conn: object, _cursor: object, sql: str, params: Any, *_: object) -> None:
        statements.append((sql, params))

    event.listen(log_engine, "before_cursor_execute", record)
    try:
        reader.inclusion_proof(37, 100)
        reader.consistency_proof(37, 100)
        reader.root(100)
    finally:
        event.remove(log_engine, "before_cursor_execute", record)
    assert statements
    with log_engine.connect() as conn:
        for sql, params in statements:
            plan = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", params).all()
            scans = [row[-1] for row in plan if str(row[-1]).startswith("SCAN")]
            assert not scans, (sql, scans)
