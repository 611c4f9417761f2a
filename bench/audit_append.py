"""Durable append throughput: the audit log (group commit) vs a plain SQLite insert loop.

Both sides give the same guarantee: when a call returns, the row is committed to a SQLite database
in WAL mode with ``synchronous=FULL``.

- A, the log: ``audit.log.TransparencyLog`` (RFC 8785 encoding, leaf and node hashes, leaf +
  subtree-hash rows) with ``K`` threads, each calling ``append`` and waiting for it.
- B, the plain loop: the same ``K`` threads share one connection (taken in turn under a lock, so
  no busy-wait backoff), each inserting the same entry's leaf bytes, already encoded, as one
  ``INSERT`` committed on its own.

A and B alternate, a fresh database each run, for several rounds; the ratio is A / B throughput
(target: >= 0.8 with concurrent appends). Then a few ``max_batch`` / ``max_wait`` settings of the
group-commit writer are compared the same way.

    .venv/bin/python bench/audit_append.py [--rounds 5] [--appends 2000]
"""

from __future__ import annotations

import argparse
import sqlite3
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from _common import create_log, median, percentile, sample_entry
from sqlalchemy import create_engine

from audit.entry import encode_leaf
from audit.keys import Ed25519Signer
from audit.log import TransparencyLog

SIGNER = Ed25519Signer.generate("bench.example/audit-log")
THREADS = (1, 2, 4, 8, 16, 64)
TUNE_THREADS = (1, 4, 16, 64)
TARGET = 0.8


def _run_threads(
    threads: int, entries: list[dict[str, Any]], call: Callable[[dict[str, Any]], object]
) -> tuple[float, list[float]]:
    """Split ``entries`` over ``threads``; each thread calls ``call`` per entry and waits.
    Returns (appends per second, per-call latencies in seconds)."""
    share = [entries[t::threads] for t in range(threads)]
    start = threading.Barrier(threads + 1)

    def work(mine: list[dict[str, Any]]) -> list[float]:
        latencies = []
        start.wait()
        for entry in mine:
            t0 = time.perf_counter()
            call(entry)
            latencies.append(time.perf_counter() - t0)
        return latencies

    with ThreadPoolExecutor(threads) as pool:
        futures = [pool.submit(work, mine) for mine in share]
        start.wait()
        t0 = time.perf_counter()
        latencies = [x for f in futures for x in f.result()]
        elapsed = time.perf_counter() - t0
    return len(entries) / elapsed, latencies


def run_log(
    path: Path, threads: int, entries: list[dict[str, Any]], max_batch: int, max_wait: float
) -> tuple[float, list[float], float]:
    url = f"sqlite:///{path}"
    create_log(url)
    engine = create_engine(url)
    log = TransparencyLog(
        engine=engine,
        signer=SIGNER,
        max_batch=max_batch,
        max_wait=max_wait,
        checkpoint_interval=0,
    )
    try:
        rate, latencies = _run_threads(threads, entries, lambda e: log.append(e, timeout=60))
        stats = log.writer_stats
        mean_batch = stats.entries / max(1, stats.batches)
    finally:
        log.close()
        engine.dispose()
    return rate, latencies, mean_batch


def run_plain(path: Path, threads: int, entries: list[dict[str, Any]]) -> tuple[float, list[float]]:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("CREATE TABLE plain (idx INTEGER PRIMARY KEY, leaf BLOB NOT NULL)")
    leaves = {id(e): encode_leaf(e) for e in entries}
    lock = threading.Lock()

    def insert(entry: dict[str, Any]) -> None:
        with lock:  # autocommit: each INSERT is its own durable transaction
            conn.execute("INSERT INTO plain (leaf) VALUES (?)", (leaves[id(entry)],))

    try:
        return _run_threads(threads, entries, insert)
    finally:
        conn.close()


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


def compare(workdir: Path, rounds: int, appends: int, threads: int) -> float:
    entries = [sample_entry(n) for n in range(appends)]
    a_rates, b_rates, ratios, a_lat, b_lat, batches = [], [], [], [], [], []
    for r in range(rounds):
        a, lat_a, batch = run_log(workdir / f"a-{threads}-{r}.db", threads, entries, 512, 0.0)
        b, lat_b = run_plain(workdir / f"b-{threads}-{r}.db", threads, entries)
        a_rates.append(a)
        b_rates.append(b)
        ratios.append(a / b)
        a_lat += lat_a
        b_lat += lat_b
        batches.append(batch)
    ratio = median(ratios)
    print(
        f"  K={threads:>2}  log {median(a_rates):8.0f}/s   plain {median(b_rates):8.0f}/s   "
        f"ratio {ratio:5.2f} (rounds {min(ratios):.2f}..{max(ratios):.2f})   "
        f"log p50 {_ms(percentile(a_lat, 50))} p99 {_ms(percentile(a_lat, 99))}   "
        f"plain p50 {_ms(percentile(b_lat, 50))} p99 {_ms(percentile(b_lat, 99))}   "
        f"mean batch {median(batches):.1f}"
    )
    return ratio


def tune(workdir: Path, rounds: int, appends: int, threads: int) -> None:
    settings = [(512, 0.0), (64, 0.0), (8, 0.0), (512, 0.0002), (512, 0.0005), (512, 0.002)]
    entries = [sample_entry(n) for n in range(appends)]
    results: dict[tuple[int, float], list[tuple[float, list[float], float]]] = {
        s: [] for s in settings
    }
    for r in range(rounds):  # interleaved, so drift hits every setting alike
        for max_batch, max_wait in settings:
            path = workdir / f"t-{threads}-{max_batch}-{max_wait}-{r}.db"
            results[(max_batch, max_wait)].append(
                run_log(path, threads, entries, max_batch, max_wait)
            )
    best = max(settings, key=lambda s: median([rate for rate, _, _ in results[s]]))
    for s in settings:
        rates = [rate for rate, _, _ in results[s]]
        lat = [x for _, lats, _ in results[s] for x in lats]
        batch = median([b for _, _, b in results[s]])
        mark = "  <- best" if s == best else ""
        print(
            f"  K={threads:>2}  max_batch={s[0]:<4} max_wait={s[1] * 1000:4.1f} ms   "
            f"{median(rates):8.0f}/s   p50 {_ms(percentile(lat, 50))} "
            f"p99 {_ms(percentile(lat, 99))}   mean batch {batch:5.1f}{mark}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--appends", type=int, default=2000, help="appends per run")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="audit-append-") as tmp:
        workdir = Path(tmp)
        print(
            f"durable appends, SQLite WAL synchronous=FULL, {args.appends} per run, "
            f"{args.rounds} rounds A/B alternating (medians)"
        )
        ratios = {k: compare(workdir, args.rounds, args.appends, k) for k in THREADS}
        print("group-commit settings, log only (max_batch, max_wait):")
        for k in TUNE_THREADS:
            tune(workdir, max(3, args.rounds // 2), args.appends, k)
        met = [k for k, ratio in ratios.items() if ratio >= TARGET]
        summary = ", ".join(f"K={k}: {ratio:.2f}" for k, ratio in ratios.items())
        print(f"RESULT append throughput log/plain (target >= {TARGET}): {summary}")
        print(
            f"RESULT target met from K={min(met)} concurrent appenders"
            if met
            else "RESULT target MISSED at every K"
        )


if __name__ == "__main__":
    main()
