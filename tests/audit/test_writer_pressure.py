"""The group-commit writer under pressure (``audit.writer``): a bounded backlog that pushes back,
and entries whose caller gave up — withdrawn while queued, written once taken into a batch.

The database is really stalled: another connection holds the log's write lock
(``log_write_lock_held``), so the writer thread waits inside its append while the test acts.
"""

from __future__ import annotations

import time
from concurrent.futures import Future

import pytest
from sqlalchemy import Engine

from audit.errors import AuditPushback, AuditTimeout
from audit.keys import Ed25519Signer
from audit.log import TransparencyLog
from audit.store import Appended, AuditStore, writer_engine
from audit.writer import GroupCommitWriter
from tests.audit.logdb import (
    log_write_lock_held,
    sample_entry,
    stored_entry_ids,
    stored_leaf_hashes,
    verify_against_fresh_checkpoint,
)

MAX_PENDING = 8
WAIT_S = 30  # bounds every wait that must end long before it


def _taken(future: Future[Appended]) -> None:
    """Wait (bounded) until the writer took the entry into a batch: its future runs."""
    deadline = time.monotonic() + WAIT_S
    while not future.running():
        assert not future.done() and time.monotonic() < deadline, "the writer never took it"
        time.sleep(0.001)


def test_full_writer_refuses_at_once_with_pushback_and_loses_no_acknowledged_entry(
    log_engine: Engine, signer: Ed25519Signer
) -> None:
    log = TransparencyLog(
        engine=log_engine, signer=signer, checkpoint_interval=0, max_pending=MAX_PENDING
    )
    try:
        first = log.append(sample_entry(0, source="before"), timeout=WAIT_S)
        with log_write_lock_held(log_engine):
            accepted = [sample_entry(n, source="accepted") for n in range(MAX_PENDING)]
            futures = [log.submit(entry) for entry in accepted]
            refused = sample_entry(0, source="refused")
            # Refused at once although the wait allowed is long: waiting behind the stalled
            # database would have ended in AuditTimeout, not AuditPushback.
            with pytest.raises(AuditPushback) as info:
                log.append(refused, timeout=WAIT_S)
            assert info.value.code == "audit_pushback"
            assert not any(f.done() for f in futures)  # the database was still stalled
            assert log.writer_stats.pushed_back == 1
        results = [f.result(timeout=WAIT_S) for f in futures]  # every accepted entry commits
        ids = stored_entry_ids(log_engine)
        hashes = stored_leaf_hashes(log_engine)
        assert refused["id"] not in ids
        assert sorted(r.index for r in results) == list(range(1, MAX_PENDING + 1))
        for entry, appended in zip(accepted, results, strict=True):
            assert ids[entry["id"]] == appended.index
            assert hashes[appended.index] == appended.leaf_hash
        assert hashes[first.index] == first.leaf_hash
        # Drained, the writer accepts again, right after the last acknowledged entry.
        assert log.append(refused, timeout=WAIT_S).index == MAX_PENDING + 1
        assert verify_against_fresh_checkpoint(log).leaves == MAX_PENDING + 2
    finally:
        log.close()


def test_append_that_times_out_before_the_writer_took_it_is_withdrawn_and_never_written(
    log_engine: Engine, signer: Ed25519Signer
) -> None:
    # One entry per batch: the first entry's batch waits on the lock, the next stays queued.
    log = TransparencyLog(engine=log_engine, signer=signer, checkpoint_interval=0, max_batch=1)
    try:
        with log_write_lock_held(log_engine):
            ahead = log.submit(sample_entry(0, source="ahead"))
            gave_up = sample_entry(1, source="gave-up")
            with pytest.raises(AuditTimeout) as info:
                log.append(gave_up, timeout=0.2)
            assert info.value.withdrawn
            assert info.value.code == "audit_timeout"
        first = ahead.result(timeout=WAIT_S)
        later = log.append(sample_entry(2, source="later"), timeout=WAIT_S)  # queued after it
        assert gave_up["id"] not in stored_entry_ids(log_engine)
        assert later.index == first.index + 1  # no gap where the withdrawn entry was
        assert log.writer_stats.withdrawn == 1
        assert verify_against_fresh_checkpoint(log).leaves == 2
    finally:
        log.close()


def test_cancelled_submit_is_never_written(log_engine: Engine, signer: Ed25519Signer) -> None:
    log = TransparencyLog(engine=log_engine, signer=signer, checkpoint_interval=0, max_batch=1)
    try:
        with log_write_lock_held(log_engine):
            ahead = log.submit(sample_entry(0, source="ahead"))
            withdrawn_entry = sample_entry(1, source="cancelled")
            withdrawn = log.submit(withdrawn_entry)
            assert withdrawn.cancel()
        ahead.result(timeout=WAIT_S)
        log.append(sample_entry(2, source="later"), timeout=WAIT_S)
        ids = stored_entry_ids(log_engine)
        assert withdrawn_entry["id"] not in ids
        assert sorted(ids.values()) == [0, 1]
    finally:
        log.close()


def test_entry_taken_into_a_batch_is_written_although_its_caller_gave_up(
    log_url: str, log_engine: Engine
) -> None:
    """The module doc of ``audit.writer`` says why: the batch commits or fails as a whole."""
    engine = writer_engine(log_url)
    writer = GroupCommitWriter(AuditStore(log_engine, writer=engine))
    try:
        entry = sample_entry(0, source="taken")
        with log_write_lock_held(log_engine):
            future = writer.submit(entry)
            _taken(future)
            with pytest.raises(AuditTimeout) as info:
                writer.wait(future, timeout=0.05)
            assert not info.value.withdrawn
        appended = future.result(timeout=WAIT_S)
        assert stored_entry_ids(log_engine) == {entry["id"]: appended.index}
        assert writer.outstanding == 0
    finally:
        writer.close()
        engine.dispose()
