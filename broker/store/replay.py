"""Single-use partner-token ids (DESIGN §6): a ``jti`` seen once is refused until it expires.

Two guards, chosen by ``GBO_REPLAY_GUARD`` (``auto``: memory on SQLite, database on PostgreSQL):

- ``MemoryReplayGuard`` for one process (the SQLite deployment): no write on the request path.
  It knows nothing from before it started, so it refuses every token issued before that moment
  (minus the clock skew): a token captured before a restart cannot be replayed after it.
- ``DatabaseReplayGuard`` for several worker processes: the (issuer, jti) primary key makes the
  check atomic across processes.
"""

from __future__ import annotations

import heapq
import threading
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from broker.store.models import UsedToken

PURGE_EVERY = 1000  # inserts between purges of expired ids
SKEW = timedelta(seconds=30)


class MemoryReplayGuard:
    def __init__(self, *, started: datetime | None = None, skew: timedelta = SKEW) -> None:
        self._skew = skew
        self._not_before = (started or datetime.now(UTC)) - skew
        self._seen: set[tuple[str, str]] = set()
        self._expiry: list[tuple[datetime, tuple[str, str]]] = []
        self._lock = threading.Lock()

    def check_and_store(self, issuer: str, jti: str, expires_at: datetime,
                        issued_at: datetime | None = None) -> bool:
        now = datetime.now(UTC)
        if issued_at is None or issued_at < self._not_before:
            return False  # issued before this process could have seen it
        key = (issuer, jti)
        with self._lock:
            while self._expiry and self._expiry[0][0] < now:
                self._seen.discard(heapq.heappop(self._expiry)[1])
            if key in self._seen:
                return False
            self._seen.add(key)
            heapq.heappush(self._expiry, (expires_at + self._skew, key))
        return True


class DatabaseReplayGuard:
    """Remembers each (issuer, jti) in the database until its token expires."""

    def __init__(self, engine: Engine, *, skew: timedelta = SKEW) -> None:
        self._engine = engine
        self._skew = skew
        self._inserts = 0
        self._lock = threading.Lock()

    def check_and_store(self, issuer: str, jti: str, expires_at: datetime,
                        issued_at: datetime | None = None) -> bool:
        with Session(self._engine) as session:
            session.add(UsedToken(issuer=issuer, jti=jti, expires_at=expires_at + self._skew))
            try:
                session.commit()
            except IntegrityError:
                return False
        with self._lock:
            self._inserts += 1
            due = self._inserts % PURGE_EVERY == 0
        if due:
            self.purge(datetime.now(UTC))
        return True

    def purge(self, now: datetime) -> int:
        """Forget ids whose tokens can no longer be accepted anyway; returns how many."""
        with Session(self._engine) as session:
            result = session.exec(delete(UsedToken).where(col(UsedToken.expires_at) < now))
            session.commit()
            return int(result.rowcount or 0)


def make_replay_guard(kind: str, engine: Engine) -> MemoryReplayGuard | DatabaseReplayGuard:
    """``kind``: ``memory``, ``database`` or ``auto`` (memory on SQLite, else database)."""
    if kind == "auto":
        kind = "memory" if engine.dialect.name == "sqlite" else "database"
    if kind == "memory":
        return MemoryReplayGuard()
    if kind == "database":
        return DatabaseReplayGuard(engine)
    raise ValueError(f"unknown replay guard {kind!r}: use auto, memory or database")
