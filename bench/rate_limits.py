"""The cost of a partner's rate-limit bucket on PostgreSQL, against the write every partner
request already makes: the replay guard's insert of the token's ``jti`` (DESIGN §6). Both are one
statement in one transaction on the same database; the rounds alternate so that drift hits both.

    GBO_BENCH_POSTGRES_URL=postgresql+psycopg://postgres@127.0.0.1:5432/test \\
        .venv/bin/python bench/rate_limits.py [--rounds 5] [--calls 500]

Prints ``RESULT take/replay-insert`` (time per call, lower is cheaper), and the same for the
in-memory buckets (one process, the SQLite deployment) against the in-memory replay guard.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from broker.store.db import make_engine, upgrade
from broker.store.rate_limits import DatabaseBuckets, Limit, MemoryBuckets
from broker.store.replay import DatabaseReplayGuard, MemoryReplayGuard

LIMIT = Limit(per_second=1e9, burst=10**9)  # never empty: measure the take itself


def _timed(calls: int, one: Callable[[int], object]) -> float:
    started = time.perf_counter()
    for n in range(calls):
        one(n)
    return (time.perf_counter() - started) / calls


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calls", type=int, default=500)
    args = parser.parse_args()
    url = os.environ.get("GBO_BENCH_POSTGRES_URL",
                         "postgresql+psycopg://postgres@127.0.0.1:5432/test")
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine = make_engine(make_url(url).update_query_dict(
        {"options": f"-csearch_path={schema}"}).render_as_string(hide_password=False))
    try:
        upgrade(engine)
        buckets, guard = DatabaseBuckets(engine, keep_for=60.0), DatabaseReplayGuard(engine)
        memory, memory_guard = MemoryBuckets(keep_for=60.0), MemoryReplayGuard()
        expires = datetime.now(UTC) + timedelta(minutes=5)
        sides: dict[str, list[float]] = {"take": [], "replay": [], "mem-take": [],
                                         "mem-replay": []}
        for _ in range(args.rounds):
            sides["replay"].append(_timed(args.calls, lambda _n: guard.check_and_store(
                "ocmw-gent", uuid.uuid4().hex, expires, datetime.now(UTC))))
            sides["take"].append(_timed(args.calls, lambda _n: buckets.take(
                "partner:ocmw-gent", LIMIT, time.time())))
            sides["mem-replay"].append(_timed(args.calls, lambda _n: memory_guard.check_and_store(
                "ocmw-gent", uuid.uuid4().hex, expires, datetime.now(UTC))))
            sides["mem-take"].append(_timed(args.calls, lambda _n: memory.take(
                "partner:ocmw-gent", LIMIT, time.time())))
        med = {k: statistics.median(v) for k, v in sides.items()}
        for k, v in med.items():
            print(f"{k:>10}: {v * 1e6:8.1f} us per call (median of {args.rounds} rounds)")
        print(f"RESULT postgresql take/replay-insert = {med['take'] / med['replay']:.2f}")
        print(f"RESULT memory take/replay-check = {med['mem-take'] / med['mem-replay']:.2f}")
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


if __name__ == "__main__":
    main()
