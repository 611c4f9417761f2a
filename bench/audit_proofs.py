"""Inclusion-proof time at 10^3, 10^5 and 10^6 entries (SQLite): proofs stay O(log n).

Each log is built through the store's own append path (``AuditStore.append_batch`` in big
batches, the same leaf and subtree-hash rows the broker writes), then many random inclusion proofs
``AuditStore.inclusion_proof(index, size)`` are timed per size, the sizes taking turns round by
round so machine drift hits all of them alike. A sample of proofs is checked against the root
(outside the timing). Target: the 10^6 proof within 3x of the 10^3 one.

    .venv/bin/python bench/audit_proofs.py [--rounds 5] [--proofs 500] [--workdir DIR]

``--workdir`` keeps the databases (10^6 entries is ~1.3 GB and a few minutes to build) for reruns.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path

from _common import create_log, median, percentile, sample_entry
from sqlalchemy import Engine, create_engine

from audit.merkle import leaf_hash, verify_inclusion
from audit.store import AuditStore, writer_engine

SIZES = (10**3, 10**5, 10**6)
BUILD_BATCH = 10_000
TARGET = 3.0


def build(path: Path, size: int) -> Engine:
    """The log of ``size`` entries at ``path`` (reused if it is already complete)."""
    url = f"sqlite:///{path}"
    if not path.exists():
        create_log(url)
    engine = create_engine(url)
    store = AuditStore(engine)
    if store.size() < size:
        writer = writer_engine(url)
        appender = AuditStore(engine, writer=writer)
        t0 = time.perf_counter()
        try:
            while (done := appender.size()) < size:
                count = min(BUILD_BATCH, size - done)
                appender.append_batch([sample_entry(done + i) for i in range(count)])
        finally:
            writer.dispose()
        elapsed = time.perf_counter() - t0
        print(f"  built {size:>9,} entries in {elapsed:6.1f} s ({size / elapsed:,.0f}/s)")
    assert store.size() == size, f"{path} holds {store.size()} entries, not {size}"
    return engine


def time_proofs(store: AuditStore, size: int, count: int, rng: random.Random) -> list[float]:
    indices = [rng.randrange(size) for _ in range(count)]
    times = []
    for index in indices:
        t0 = time.perf_counter()
        store.inclusion_proof(index, size)
        times.append(time.perf_counter() - t0)
    return times


def check_sample(store: AuditStore, size: int, rng: random.Random) -> None:
    root = store.root(size)
    for _ in range(20):
        index = rng.randrange(size)
        stored = store.leaf(index)
        assert stored is not None
        proof = store.inclusion_proof(index, size)
        verify_inclusion(leaf_hash(stored.leaf), index, size, proof, root)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--proofs", type=int, default=500, help="proofs per size per round")
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="audit-proofs-") as tmp:
        workdir = args.workdir or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        print("building logs (SQLite, WAL, synchronous=FULL)")
        engines = {n: build(workdir / f"log-{n}.db", n) for n in SIZES}
        stores = {n: AuditStore(engine) for n, engine in engines.items()}
        rng = random.Random(2026)
        try:
            for n, store in stores.items():
                check_sample(store, n, rng)
                time_proofs(store, n, 100, rng)  # warm the connection and the page cache
            times: dict[int, list[float]] = {n: [] for n in SIZES}
            for _ in range(args.rounds):
                for n, store in stores.items():
                    times[n] += time_proofs(store, n, args.proofs, rng)
        finally:
            for engine in engines.values():
                engine.dispose()
    print(f"inclusion proofs, {args.rounds} x {args.proofs} random indices per size")
    for n in SIZES:
        t = times[n]
        print(
            f"  {n:>9,} entries   median {median(t) * 1e6:7.1f} us   "
            f"p99 {percentile(t, 99) * 1e6:7.1f} us   mean {sum(t) / len(t) * 1e6:7.1f} us"
        )
    ratio = median(times[10**6]) / median(times[10**3])
    verdict = "met" if ratio <= TARGET else "MISSED"
    print(f"RESULT proof time 10^6 / 10^3: {ratio:.2f} (target <= {TARGET}: {verdict})")


if __name__ == "__main__":
    main()
