"""Single-use partner-token ids (DESIGN §6): both guards refuse a second use."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.engine import Engine

from broker.store.replay import DatabaseReplayGuard, MemoryReplayGuard, make_replay_guard


def test_memory_guard_refuses_a_second_use() -> None:
    guard = MemoryReplayGuard()
    now = datetime.now(UTC)
    assert guard.check_and_store("ocmw-gent", "jti-00000001", now + timedelta(minutes=2), now)
    assert not guard.check_and_store("ocmw-gent", "jti-00000001", now + timedelta(minutes=2), now)
    assert guard.check_and_store("dmw-cm", "jti-00000001", now + timedelta(minutes=2), now)


def test_memory_guard_refuses_tokens_issued_before_it_started() -> None:
    """After a restart the guard knows no earlier ids: a token from before could be a replay."""
    started = datetime.now(UTC)
    guard = MemoryReplayGuard(started=started)
    old = started - timedelta(seconds=31)
    assert not guard.check_and_store("ocmw-gent", "jti-old-00001", old + timedelta(minutes=2),
                                     old)
    within_skew = started - timedelta(seconds=20)
    assert guard.check_and_store("ocmw-gent", "jti-new-00001",
                                 within_skew + timedelta(minutes=2), within_skew)


def test_memory_guard_forgets_expired_ids() -> None:
    guard = MemoryReplayGuard(started=datetime.now(UTC) - timedelta(minutes=10))
    past = datetime.now(UTC) - timedelta(minutes=5)
    guard.check_and_store("ocmw-gent", "jti-expired-1", past, past - timedelta(minutes=2))
    guard.check_and_store("ocmw-gent", "jti-fresh-001", datetime.now(UTC) + timedelta(minutes=2),
                          datetime.now(UTC))
    assert len(guard._seen) == 1  # the expired id (past its expiry plus skew) is gone


def test_database_guard_refuses_a_second_use_and_purges(engine: Engine) -> None:
    guard = DatabaseReplayGuard(engine)
    now = datetime.now(UTC)
    assert guard.check_and_store("ocmw-gent", "jti-00000002", now + timedelta(minutes=2), now)
    assert not guard.check_and_store("ocmw-gent", "jti-00000002", now + timedelta(minutes=2))
    assert guard.purge(now + timedelta(minutes=10)) == 1
    assert guard.check_and_store("ocmw-gent", "jti-00000002", now + timedelta(minutes=2))


def test_auto_picks_memory_on_sqlite_and_database_otherwise(engine: Engine) -> None:
    guard = make_replay_guard("auto", engine)
    expected = MemoryReplayGuard if engine.dialect.name == "sqlite" else DatabaseReplayGuard
    assert isinstance(guard, expected)
    with pytest.raises(ValueError, match="unknown replay guard"):
        make_replay_guard("redis", engine)
