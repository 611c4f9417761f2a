"""A separate writer process for the concurrency and crash tests (run with a fresh interpreter).

    python tests/audit/appender.py DATABASE_URL --source NAME [--count N] [--threads T] [--wait]

Opens a ``TransparencyLog`` on the database, prints ``ready``, waits for a line on stdin if
``--wait`` is given, then appends from ``T`` threads (``N`` entries in all; forever with ``N=0``).
Each acknowledged append is printed, flushed, as ``<index> <leaf hash hex> <entry id>`` the moment
``append`` returns, so the parent knows exactly which entries the log promised to keep; an append
that raises is printed as ``failed <exception type> <entry id>`` (no promise). Prints ``done`` at
the end of a finite run.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import threading
from pathlib import Path

from sqlalchemy import create_engine

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from audit.keys import Ed25519Signer  # noqa: E402
from audit.log import TransparencyLog  # noqa: E402
from tests.audit.logdb import sample_entry  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("--source", required=True)
    parser.add_argument("--count", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--wait", action="store_true")
    args = parser.parse_args()

    engine = create_engine(args.url)
    log = TransparencyLog(
        engine=engine, signer=Ed25519Signer.generate("example.org/appender"), checkpoint_interval=0
    )
    numbers = itertools.count() if args.count == 0 else iter(range(args.count))
    take = threading.Lock()
    out = threading.Lock()

    def work() -> None:
        while True:
            with take:
                n = next(numbers, None)
            if n is None:
                return
            entry = sample_entry(n, source=args.source)
            try:
                appended = log.append(entry, timeout=60)
            except Exception as exc:  # noqa: BLE001 - reported to the parent, which judges it
                with out:
                    print("failed", type(exc).__name__, entry["id"], flush=True)
                continue
            with out:
                print(appended.index, appended.leaf_hash.hex(), entry["id"], flush=True)

    print("ready", flush=True)
    if args.wait:
        sys.stdin.readline()
    threads = [threading.Thread(target=work) for _ in range(args.threads)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    log.close()
    engine.dispose()
    print("done", flush=True)


if __name__ == "__main__":
    main()
