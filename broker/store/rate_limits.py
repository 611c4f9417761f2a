"""Token buckets for the rate limits (DESIGN §6; docs/operations.md "Rate limits").

A bucket holds at most ``burst`` tokens and refills at ``per_second``; a request takes one token
or is refused, and a refused request takes nothing. Two stores, chosen by ``GBO_RATE_LIMIT_STORE``
(``auto``: memory on SQLite, database on PostgreSQL), like the replay guard:

- ``MemoryBuckets`` for one process (the SQLite deployment): exact, no write on the request path.
- ``DatabaseBuckets`` for several worker processes: one statement takes a token atomically
  (``INSERT ... ON CONFLICT DO UPDATE ... WHERE <refilled> >= 1 RETURNING``; the row lock makes
  concurrent takers wait for each other), so every worker draws from the same budget.

Time is passed in (seconds since the epoch); refill counts only time going forward, so a worker
whose clock lags never adds tokens.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, text
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from broker.store.models import RateLimitRefusal

PURGE_EVERY = 1000  # takes between purges of buckets that have filled up again
KEEP_REFUSALS = timedelta(days=90)  # refusal counts older than this are deleted


@dataclass(frozen=True)
class Limit:
    """``per_second`` tokens flow in, up to ``burst``; ``per_second <= 0`` switches it off."""

    per_second: float
    burst: int

    @property
    def enabled(self) -> bool:
        return self.per_second > 0 and self.burst > 0

    @property
    def full_after(self) -> float:
        """Seconds after which an untouched bucket is full again (as good as no bucket)."""
        return self.burst / self.per_second


def refilled(tokens: float, updated: float, now: float, limit: Limit) -> float:
    """Tokens in a bucket that held ``tokens`` at ``updated``, at ``now``."""
    return min(float(limit.burst), tokens + max(0.0, now - updated) * limit.per_second)


def wait_for_token(available: float, limit: Limit) -> int:
    """Whole seconds until a bucket holding ``available`` tokens has one (RFC 9110 10.2.3:
    ``Retry-After`` is an integer), at least 1."""
    return max(1, math.ceil((1.0 - available) / limit.per_second))


class MemoryBuckets:
    """One process's buckets. ``keep_for``: seconds after which an untouched bucket is full
    again under every limit it serves, and may be forgotten."""

    def __init__(self, keep_for: float) -> None:
        self._keep_for = keep_for
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()
        self._takes = 0

    def take(self, bucket: str, limit: Limit, now: float) -> int | None:
        """Take a token: None when taken, else the seconds to wait."""
        with self._lock:
            tokens, updated = self._buckets.get(bucket, (float(limit.burst), now))
            available = refilled(tokens, updated, now, limit)
            if available < 1:
                return wait_for_token(available, limit)
            self._buckets[bucket] = (available - 1, max(updated, now))
            self._takes += 1
            if self._takes % PURGE_EVERY == 0:
                self._purge(now - self._keep_for)
        return None

    def _purge(self, before: float) -> None:
        for name in [k for k, (_, updated) in self._buckets.items() if updated < before]:
            del self._buckets[name]

    def __len__(self) -> int:
        return len(self._buckets)


class DatabaseBuckets:
    """Buckets in the ``rate_bucket`` table, shared by every process on the database."""

    def __init__(self, engine: Engine, keep_for: float) -> None:
        self._engine = engine
        self._keep_for = keep_for
        least, greatest = (("MIN", "MAX") if engine.dialect.name == "sqlite"
                           else ("LEAST", "GREATEST"))
        refill = (f"{least}(:burst, rate_bucket.tokens + "
                  f"{greatest}(0.0, :now - rate_bucket.updated) * :rate)")
        # Only fixed function names are formatted in; every value is a bound parameter.
        take = (
            "INSERT INTO rate_bucket (bucket, tokens, updated) "  # noqa: S608 - names only
            "VALUES (:bucket, :burst - 1.0, :now) "
            f"ON CONFLICT (bucket) DO UPDATE SET tokens = {refill} - 1.0, "
            f"updated = {greatest}(rate_bucket.updated, :now) "
            f"WHERE {refill} >= 1.0 RETURNING tokens"
        )
        self._take = text(take)
        self._postgresql = engine.dialect.name == "postgresql"
        self._async_commit = text("SET LOCAL synchronous_commit TO OFF")
        self._read = text("SELECT tokens, updated FROM rate_bucket WHERE bucket = :bucket")
        self._purge = text("DELETE FROM rate_bucket WHERE updated < :before")
        self._takes = 0
        self._lock = threading.Lock()

    def take(self, bucket: str, limit: Limit, now: float) -> int | None:
        """Take a token: None when taken, else the seconds to wait."""
        params = {"bucket": bucket, "burst": float(limit.burst), "rate": float(limit.per_second),
                  "now": float(now)}
        with self._engine.begin() as conn:
            if self._postgresql:
                # A bucket lost in a crash costs a few extra requests, never a secret: no need
                # to wait for the disk (the audit log and the replay guard still do).
                conn.execute(self._async_commit)
            if conn.execute(self._take, params).first() is not None:
                taken = True
            else:
                row = conn.execute(self._read, {"bucket": bucket}).first()
                available = 0.0 if row is None else refilled(float(row[0]), float(row[1]), now,
                                                             limit)
                taken = False
        if not taken:
            return wait_for_token(available, limit)
        with self._lock:
            self._takes += 1
            due = self._takes % PURGE_EVERY == 0
        if due:
            self.purge(now - self._keep_for)
        return None

    def purge(self, before: float) -> int:
        """Forget buckets untouched since ``before`` (full again by then); returns how many."""
        with self._engine.begin() as conn:
            return int(conn.execute(self._purge, {"before": before}).rowcount or 0)


def make_buckets(kind: str, engine: Engine, *,
                 keep_for: float) -> MemoryBuckets | DatabaseBuckets:
    """``kind``: ``memory``, ``database`` or ``auto`` (memory on SQLite, else database)."""
    if kind == "auto":
        kind = "memory" if engine.dialect.name == "sqlite" else "database"
    if kind == "memory":
        return MemoryBuckets(keep_for)
    if kind == "database":
        return DatabaseBuckets(engine, keep_for)
    raise ValueError(f"unknown rate limit store {kind!r}: use auto, memory or database")


def record_refusals(*, engine: Engine, partner: str, count: int, now: datetime) -> None:
    """Add ``count`` refusals of ``partner`` (a registry id) to today's row (UTC)."""
    table = RateLimitRefusal.metadata.tables[RateLimitRefusal.__tablename__]
    insert = sqlite_insert if engine.dialect.name == "sqlite" else postgresql_insert
    statement = insert(table).values(partner=partner, day=now.date().isoformat(), refused=count,
                                     first_at=now, last_at=now)
    statement = statement.on_conflict_do_update(
        index_elements=["partner", "day"],
        set_={"refused": table.c.refused + count, "last_at": now},
    )
    with engine.begin() as conn:
        conn.execute(statement)
        conn.execute(delete(table).where(table.c.day < (now - KEEP_REFUSALS).date().isoformat()))


def refusals(*, engine: Engine, partners: Collection[str], since: datetime
             ) -> list[RateLimitRefusal]:
    """The refusal rows of ``partners`` from the day of ``since`` on, newest day first."""
    with Session(engine) as db:
        return list(db.exec(
            select(RateLimitRefusal)
            .where(col(RateLimitRefusal.partner).in_(list(partners)),
                   col(RateLimitRefusal.day) >= since.date().isoformat())
            .order_by(col(RateLimitRefusal.day).desc(), col(RateLimitRefusal.partner))
        ).all())
