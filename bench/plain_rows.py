"""Benchmark: what reading a client's consent versions costs per row, ORM against plain rows.

DESIGN §4 no existence leak: the access flow reads a client's records with padding rows in the
same statement (``consent.store.padded_records``), so that a client without records costs what
one with a few does. This measures, on the existence benchmark's scenario (SQLite; the existing
client has three open consent versions and two help relations), the CPU time
(``time.process_time``) per call of the ORM select of the open versions (each row an ORM
instance), the same select with the conversion to records, the plain-row read
(``consent.store.open_consents``: a compiled Core statement, tuples), and the padded read of the
access flow (relations and consents, each padded to a bucket of four). Printed per call for the
existing and the never-seen client, and the difference per row of the existing client's
consents.

Run: .venv/bin/python bench/plain_rows.py [--calls 2000]
"""

from __future__ import annotations

import argparse
import gc
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import existence_timing as scenario  # noqa: E402
from sqlmodel import Session, col, select  # noqa: E402

from broker.context import load_context  # noqa: E402
from consent import store  # noqa: E402
from consent.tables import ConsentVersionRow  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=2000)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="gbo-bench-rows-"))
    try:
        settings = scenario._prepare(tmp / "data")
        ctx = load_context(settings)
        network = ctx.registry.partners[scenario.REQUESTER].network
        refs = {"existing": ctx.keyring.client_ref(network, scenario.INSZ),
                "never-seen": ctx.keyring.client_ref(network, scenario.NEVER_SEEN)}

        def orm(session: Session, ref: str) -> list[Any]:
            return list(session.exec(select(ConsentVersionRow).where(
                ConsentVersionRow.network == network, ConsentVersionRow.client_ref == ref,
                col(ConsentVersionRow.revoked_at).is_(None))).all())

        cases: dict[str, Callable[[Session, str], object]] = {
            "ORM select": orm,
            "ORM select + records": lambda s, r: [store._stored(x).record for x in orm(s, r)],
            "plain rows + records": lambda s, r: store.open_consents(
                session=s, network=network, client_ref=r),
            "padded read": lambda s, r: store.padded_records(
                session=s, network=network, client_ref=r, relation_bucket=4, consent_bucket=4),
        }
        with Session(ctx.engine) as session:
            rows = len(store.open_consents(session=session, network=network,
                                           client_ref=refs["existing"]))
            print(f"{args.calls} calls each, CPU us per call; the existing client has {rows} "
                  "open consent versions, the never-seen one none")
            for name, fn in cases.items():
                cost = {}
                for side, ref in refs.items():
                    for _ in range(50):
                        fn(session, ref)
                    gc.disable()
                    started = time.process_time()
                    for _ in range(args.calls):
                        fn(session, ref)
                    cost[side] = 1e6 * (time.process_time() - started) / args.calls
                    gc.enable()
                diff = cost["existing"] - cost["never-seen"]
                print(f"RESULT {name:22s} existing {cost['existing']:7.1f}  never-seen "
                      f"{cost['never-seen']:7.1f}  difference {diff:+6.1f} ({diff / rows:+.1f} "
                      "per row)")
        ctx.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
