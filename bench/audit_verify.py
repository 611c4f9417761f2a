"""Whole-log verification throughput vs raw SHA-256 over the same leaves (SQLite).

- A, ``audit verify``: what the command runs against the database, without the progress bar:
  ``broker.services.audit_verify.database_source`` (leaves with their query columns as pages of
  plain rows, stored subtree hashes, checkpoints) and ``verify`` (checkpoint signatures, then
  ``audit.verify.verify_rows``: index check, query columns recomputed from the leaf, leaf hash,
  every stored subtree hash compared, RFC 6962 root at every checkpoint).
- B, the floor: the same leaves read the same way (``AuditStore.iter_leaves``) and hashed with
  ``hashlib.sha256(0x00 || leaf)``, nothing else.

A and B alternate for several rounds; the ratio is A / B throughput (target: >= 0.5).

- E, the strict floor: the leaves read as A reads them (``AuditStore.iter_leaf_rows``: pages of
  plain driver tuples, no object per leaf; here without the query columns) and hashed. A / E
  is printed beside A / B: B pays for a ``StoredLeaf`` per leaf, which A no longer builds.

- C, the auditor portal's "verify now": A with the portal's progress callback
  (``broker.portal.audit_integrity.ProgressThrottle``, called per leaf, a step per 1 % / 0.2 s).
  C / A shows what showing progress costs (it should stay close to 1).

    .venv/bin/python bench/audit_verify.py [--size 100000] [--rounds 5] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import tempfile
import time
from pathlib import Path

from _common import create_log, median, sample_entry
from sqlalchemy import create_engine

from audit.keys import Ed25519Signer
from audit.log import TransparencyLog
from audit.store import AuditStore
from broker.portal.audit_integrity import ProgressThrottle
from broker.services.audit_verify import database_source, verify

BUILD_BATCH = 10_000
TARGET = 0.5


def build(path: Path, size: int, signer: Ed25519Signer) -> None:
    """A log of ``size`` entries with a signed checkpoint every tenth of the way."""
    url = f"sqlite:///{path}"
    create_log(url)
    engine = create_engine(url)
    log = TransparencyLog(engine=engine, signer=signer, checkpoint_interval=0)
    try:
        step = max(1, size // 10)
        for start in range(0, size, BUILD_BATCH):
            count = min(BUILD_BATCH, size - start)
            log.store.append_batch([sample_entry(start + i) for i in range(count)])
            if (start + count) % step == 0 or start + count == size:
                log.checkpoint_now()
    finally:
        log.close()
        engine.dispose()


def run_verify(store: AuditStore, signer: Ed25519Signer, *, with_progress: bool = False,
               stored_hashes: bool = True) -> float:
    progress = ProgressThrottle(store.size(), lambda step: None) if with_progress else None
    source = database_source(store)
    if not stored_hashes:  # the leaves against the checkpoints only
        source = dataclasses.replace(source, stored_nodes=None)
    t0 = time.perf_counter()
    report = verify(source, signer.verifier, state=None, progress=progress).report
    elapsed = time.perf_counter() - t0
    return report.leaves / elapsed


def run_sha256(store: AuditStore) -> float:
    t0 = time.perf_counter()
    count = 0
    for item in store.iter_leaves():
        hashlib.sha256(b"\x00" + item.leaf).digest()
        count += 1
    elapsed = time.perf_counter() - t0
    return count / elapsed


def run_sha256_rows(store: AuditStore) -> float:
    """The strict floor: the leaves read as A reads them (pages of plain driver tuples,
    ``AuditStore.iter_leaf_rows``, without the query columns), hashed, nothing else."""
    t0 = time.perf_counter()
    count = 0
    sha256 = hashlib.sha256
    for page in store.iter_leaf_rows():
        for row in page:
            sha256(b"\x00" + row[1]).digest()
        count += len(page)
    elapsed = time.perf_counter() - t0
    return count / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    signer = Ed25519Signer.generate("bench.example/audit-log")
    with tempfile.TemporaryDirectory(prefix="audit-verify-") as tmp:
        path = (args.workdir or Path(tmp)) / f"verify-{args.size}.db"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.unlink(missing_ok=True)  # the checkpoints are signed by this run's key
        t0 = time.perf_counter()
        build(path, args.size, signer)
        print(f"built {args.size:,} entries in {time.perf_counter() - t0:.1f} s")
        engine = create_engine(f"sqlite:///{path}")
        store = AuditStore(engine)
        try:
            run_sha256(store)  # warm the page cache
            a, b, c, d, e = [], [], [], [], []
            for _ in range(args.rounds):
                a.append(run_verify(store, signer))
                b.append(run_sha256(store))
                c.append(run_verify(store, signer, with_progress=True))
                d.append(run_verify(store, signer, stored_hashes=False))
                e.append(run_sha256_rows(store))
        finally:
            engine.dispose()
    ratios = [x / y for x, y in zip(a, b, strict=True)]
    print(f"whole-log verification of {args.size:,} leaves, {args.rounds} rounds A/B (medians)")
    print(f"  audit verify (database source + verify_log)  {median(a):10,.0f} leaves/s")
    print(f"  read + hashlib.sha256 only                   {median(b):10,.0f} leaves/s")
    print(f"  verify now (A + the portal's progress steps) {median(c):10,.0f} leaves/s")
    print(f"  A without the stored subtree-hash checks     {median(d):10,.0f} leaves/s")
    print(f"  plain rows (as A reads them) + sha256 only   {median(e):10,.0f} leaves/s")
    for i, values in enumerate(zip(a, b, c, d, e, strict=True)):
        print(f"  round {i}: " + "  ".join(f"{k} {v:,.0f}" for k, v in zip("ABCDE", values,
                                                                          strict=True)))
    ratio = median(ratios)
    verdict = "met" if ratio >= TARGET else "MISSED"
    print(
        f"RESULT verify / raw sha256: {ratio:.2f} (rounds {min(ratios):.2f}..{max(ratios):.2f}; "
        f"target >= {TARGET}: {verdict})"
    )
    strict = [x / y for x, y in zip(a, e, strict=True)]
    print(f"RESULT verify / sha256 over the plain rows A reads: {median(strict):.2f} "
          f"(rounds {min(strict):.2f}..{max(strict):.2f})")
    shown = [x / y for x, y in zip(c, a, strict=True)]
    print(f"RESULT verify now / audit verify: {median(shown):.2f} "
          f"(rounds {min(shown):.2f}..{max(shown):.2f})")
    checks = [x / y for x, y in zip(a, d, strict=True)]
    print(f"RESULT audit verify / without the stored-hash checks: {median(checks):.2f} "
          f"(rounds {min(checks):.2f}..{max(checks):.2f})")


if __name__ == "__main__":
    main()
