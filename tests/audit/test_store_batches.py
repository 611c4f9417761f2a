"""A group commit mixes entries of different kinds in one batch: each keeps its own query columns.

Regression: the leaf rows of a batch once named only the fields an entry had, and an executemany
takes its column list from the first row. A batch whose first entry had no ``partner`` (an erasure,
say) stored the next entries' partner as NULL, hiding them from scoped auditors; the other way
round the whole batch, and so every waiting request, failed.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, select

from audit.schema import audit_leaf
from audit.store import AuditStore, writer_engine
from tests.audit.logdb import sample_entry


@pytest.fixture
def store(log_url: str, log_engine: Engine) -> Iterator[AuditStore]:
    writer = writer_engine(log_url)
    yield AuditStore(log_engine, writer=writer)
    writer.dispose()


def _erasure(n: int) -> dict[str, object]:
    """A network-level event: no partner, no worker; a client pseudonym only."""
    entry = sample_entry(n)
    entry.update(kind="client.erased", partner=None, worker=None, sections={})
    del entry["break_glass"]
    return entry


@pytest.mark.parametrize("erasure_first", [True, False], ids=["erasure_first", "erasure_last"])
def test_batch_mixing_entries_with_and_without_a_partner_indexes_each_by_its_own_fields(
    store: AuditStore, log_engine: Engine, erasure_first: bool
) -> None:
    decision = {**sample_entry(1), "partner": "dmw-cm", "break_glass": True}
    batch = [_erasure(0), decision] if erasure_first else [decision, _erasure(0)]
    appended = store.append_batch(batch)

    with log_engine.connect() as conn:
        rows = {
            row.idx: row
            for row in conn.execute(
                select(
                    audit_leaf.c.idx,
                    audit_leaf.c.kind,
                    audit_leaf.c.partner,
                    audit_leaf.c.client,
                    audit_leaf.c.break_glass,
                )
            )
        }
    for entry, done in zip(batch, appended, strict=True):
        row = rows[done.index]
        assert (row.kind, row.partner, row.client) == (
            entry["kind"],
            entry["partner"],
            entry["client"],
        )
        assert row.break_glass is bool(entry.get("break_glass"))
    found = store.find_leaves(partner="dmw-cm")
    assert [leaf.index for leaf in found] == [batch.index(decision)]


def test_storing_a_checkpoint_twice_keeps_the_first(log_engine: Engine) -> None:
    """Two processes may sign the same size; the second store is a no-op, not an error."""
    from audit.store import AuditStore, StoredCheckpoint

    store = AuditStore(log_engine)
    first = StoredCheckpoint(size=0, root=b"\x00" * 32, note="first", signed_at="t1")
    assert store.add_checkpoint(first) is True
    assert store.add_checkpoint(StoredCheckpoint(size=0, root=b"\x01" * 32, note="second",
                                                 signed_at="t2")) is False
    assert store.latest_checkpoint() == first
