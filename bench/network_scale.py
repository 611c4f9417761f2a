"""Benchmark: does an access request cost the same when the network is large?

DESIGN §8 and the performance targets: the same access benchmark as ``access_requests.py`` (the
same client, 6 sections, 3 consents, 2 relations, 12 entries, a fresh signed partner token per
request, audit durable; wrk on loopback, one uvicorn worker, SQLite, embedded engine) against two
brokers side by side, rounds alternating:

- *small*: only that client;
- *large*: that client among ``--clients`` others (default 10^5) with ``--entries`` dossier
  entries (10^6), ``--consents`` consents (10^5), two help relations each, and ``--leaves`` audit
  leaves (10^6) about those clients.

The large database is built once by ``--build`` (rows of the measured client cloned under fresh
ids and pseudonyms with SQLite's executemany — the clones' ciphertext is never decrypted — and the
leaves appended through the audit store, so every Merkle node is real) and reused by later runs.
Target: large within 20% of small (throughput ratio >= 0.8). It also times, in process, an
inclusion proof and a client's access log in both (O(log n) and O(k): the large figures must not
grow with the log).

Build once (minutes):  .venv/bin/python bench/network_scale.py --build /var/tmp/gbo-large
Measure:               .venv/bin/python bench/network_scale.py --data /var/tmp/gbo-large \
                           [--seconds 8] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from statistics import median
from typing import Any

from _common import sample_entry
from access_requests import BODY, ROOT, _free_port, _mint, _prepare, _wrk

from audit.store import AuditStore, writer_engine
from broker.settings import Settings
from broker.store.db import make_engine
from consent.padding import PADDING

BATCH = 10_000


def _rows(db: sqlite3.Connection, table: str, where: str, *args: Any) -> list[dict[str, Any]]:
    db.row_factory = sqlite3.Row
    rows = [dict(r) for r in db.execute(f"SELECT * FROM {table} WHERE {where}", args)]  # noqa: S608
    db.row_factory = None
    return rows


def _insert(db: sqlite3.Connection, table: str, rows: list[dict[str, Any]]) -> None:
    if rows:
        columns = list(rows[0])
        db.executemany(
            f"INSERT INTO {table} ({', '.join(columns)}) "  # noqa: S608 - our own table names
            f"VALUES ({', '.join('?' for _ in columns)})",
            [tuple(r[c] for c in columns) for r in rows])


def build(data_dir: Path, clients: int, entries: int, consents: int, leaves: int) -> None:
    """The measured client (as ``access_requests``) among ``clients`` cloned others."""
    settings = _prepare(data_dir)
    db = sqlite3.connect(settings.data_dir / "gbo.sqlite3")
    # The measured client: the only one but the padding owner (migration 0012, DESIGN §4).
    (template,) = _rows(db, "client", "network <> ?", PADDING)
    entry_rows = _rows(db, "entry", "client_id = ?", template["id"])
    relation_rows = _rows(db, "help_relation", "client_ref = ?", template["ref"])
    consent_rows = _rows(db, "consent_version", "client_ref = ?", template["ref"])
    per_client_entries = max(1, entries // clients)
    per_client_consents = max(1, consents // clients)
    started = time.perf_counter()
    for first in range(0, clients, BATCH // per_client_entries):
        batch: dict[str, list[dict[str, Any]]] = {
            "client": [], "entry": [], "help_relation": [], "consent_version": []}
        for n in range(first, min(clients, first + BATCH // per_client_entries)):
            client_id, ref = uuid.uuid4().hex, f"bench-{n:07d}"
            batch["client"].append({**template, "id": client_id, "ref": ref})
            for i in range(per_client_entries):
                source = entry_rows[i % len(entry_rows)]
                batch["entry"].append({**source, "id": uuid.uuid4().hex, "client_id": client_id})
            relation_ids = {}
            for source in relation_rows:
                relation_ids[source["id"]] = f"r-{uuid.uuid4().hex[:12]}"
                batch["help_relation"].append(
                    {**source, "id": relation_ids[source["id"]], "client_ref": ref})
            for source in consent_rows[:per_client_consents]:
                batch["consent_version"].append({
                    **source, "consent_id": f"cs-{uuid.uuid4().hex}", "client_ref": ref,
                    "help_relation_id": relation_ids.get(source["help_relation_id"])})
        for table, rows in batch.items():
            _insert(db, table, rows)
        db.commit()
    db.close()
    print(f"{clients} clients, {clients * per_client_entries} entries, "
          f"{clients * per_client_consents} consents in {time.perf_counter() - started:.0f} s")
    started = time.perf_counter()
    store = AuditStore(make_engine(settings.resolved_database_url),
                       writer=writer_engine(settings.resolved_database_url))
    appended = store.size()
    while appended < leaves:
        count = min(BATCH, leaves - appended)
        store.append_batch([_leaf(appended + i, clients) for i in range(count)])
        appended += count
    print(f"{appended} audit leaves in {time.perf_counter() - started:.0f} s")


def _leaf(n: int, clients: int) -> dict[str, Any]:
    entry = sample_entry(n)
    entry["client"] = f"bench-{n % clients:07d}"
    return entry


def _serve(settings: Settings, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "GBO_DATA_DIR": str(settings.data_dir), "GBO_DEMO": "1",
           "GBO_RATE_LIMIT_PARTNER_PER_SECOND": "1000000",
           "GBO_RATE_LIMIT_PARTNER_BURST": "1000000"}
    server = subprocess.Popen([sys.executable, str(ROOT / "bench" / "access_server.py"),
                               "--port", str(port)], env=env)
    for _ in range(600):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1)  # noqa: S310
            return server
        except OSError:
            time.sleep(0.1)
    server.terminate()
    raise SystemExit("the broker did not start")


def _timed(call: Any, repeat: int = 200) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return median(times)


PROBE = ("gbo-gent", "scale-probe")  # a client with exactly PROBE_ACCESSES leaves in both logs
PROBE_ACCESSES = 10


def _in_process(settings: Settings) -> dict[str, float]:
    """Median ms of an inclusion proof (middle leaf, whole log) and of a client's access-log query
    (the leaves of one client with ``PROBE_ACCESSES`` accesses, each checked against its leaf as
    the broker does) — the same k in both logs, so only n differs."""
    from broker.services.audit_scope import verified_rows

    url = settings.resolved_database_url
    store = AuditStore(make_engine(url), writer=writer_engine(url))
    if not store.find_leaves(clients=[PROBE], limit=1):
        store.append_batch([{**sample_entry(i), "network": PROBE[0], "client": PROBE[1]}
                            for i in range(PROBE_ACCESSES)])
    size = store.size()
    proof = _timed(lambda: store.inclusion_proof(size // 2, size))
    log = _timed(lambda: verified_rows(store.find_leaves(
        clients=[PROBE], kind_prefix="access.", limit=1000)))
    return {"size": size, "proof_ms": 1000 * proof, "access_log_ms": 1000 * log}


def measure(large_dir: Path, seconds: int, rounds: int) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="gbo-scale-"))
    small = _prepare(tmp / "small")
    large = Settings(data_dir=large_dir, demo=True)
    ports = {"small": _free_port(), "large": _free_port()}
    servers = {"small": _serve(small, ports["small"]), "large": _serve(large, ports["large"])}
    results: dict[str, list[float]] = {"small": [], "large": []}
    latencies: dict[str, list[tuple[float, float]]] = {"small": [], "large": []}
    try:
        for round_no in range(rounds + 1):  # round 0 warms up and is not counted
            for name, settings in _alternating(round_no, small, large):
                prefix = tmp / f"tokens-{name}-{round_no}"
                _mint(settings, prefix, 4000 * seconds, 1)
                result = _wrk(f"http://127.0.0.1:{ports[name]}", "/v1/access-requests", "POST",
                              BODY, str(prefix), seconds, 16, 1)
                if round_no:
                    results[name].append(result["rps"])
                    latencies[name].append((result["p50"], result["p99"]))
    finally:
        for server in servers.values():
            server.terminate()
            server.wait(timeout=30)
    inside = {"small": _in_process(small), "large": _in_process(large)}
    shutil.rmtree(tmp, ignore_errors=True)
    ratios = [lg / sm for lg, sm in zip(results["large"], results["small"], strict=True)]
    print(f"{rounds} rounds x {seconds}s, wrk -t1 -c16, one uvicorn worker each, SQLite, "
          f"embedded engine; load average {os.getloadavg()[0]:.1f}")
    for name in ("small", "large"):
        p50 = median(p for p, _ in latencies[name])
        p99 = median(p for _, p in latencies[name])
        print(f"  {name:6s} {median(results[name]):7.0f} req/s  p50 {p50:6.2f} ms  "
              f"p99 {p99:6.2f} ms   log size {inside[name]['size']:>9,}  inclusion proof "
              f"{inside[name]['proof_ms']:.3f} ms  a client's access log (k=10) "
              f"{inside[name]['access_log_ms']:.3f} ms")
    print(f"  large / small access throughput: {median(ratios):.2f} "
          f"(per round {', '.join(f'{r:.2f}' for r in ratios)}; target >= 0.8)")


def _alternating(round_no: int, small: Settings, large: Settings) -> Iterator[
        tuple[str, Settings]]:
    pair = [("small", small), ("large", large)]
    yield from (pair if round_no % 2 else reversed(pair))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--build", type=Path, help="build the large database in this directory")
    parser.add_argument("--data", type=Path, help="a directory made by --build")
    parser.add_argument("--clients", type=int, default=100_000)
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--consents", type=int, default=100_000)
    parser.add_argument("--leaves", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if args.build:
        if args.build.exists():
            raise SystemExit(f"{args.build} exists: remove it or measure with --data")
        build(args.build, args.clients, args.entries, args.consents, args.leaves)
    elif args.data:
        measure(args.data, args.seconds, args.rounds)
    else:
        parser.error("--build DIR or --data DIR")


if __name__ == "__main__":
    main()
