"""Benchmark: access throughput on PostgreSQL with 1 and 2 workers and both policy engines, and
where each request's time goes in the database (for docs/scale-out.md).

Per configuration (``--engines`` embedded / opa-server x ``--workers``): ``gbo-broker serve`` on
the benchmark's own PostgreSQL database (``_broker.py``), closed loop at ``--connections`` (16,
keep-alive) for ``--seconds`` after a warm-up, while ``pg_stat_activity`` is sampled every 20 ms
for that database's sessions. Prints 200s per second, p50/p99, the broker's CPU per 200 (all its
processes), the CPU of the database sessions per 200 (from /proc: the server is on this machine),
and what the sessions were doing: running a query, idle in a transaction (waiting for the broker:
its Python, or its interpreter lock), or waiting on a lock or I/O, each by wait event, with the
statement kind: the audit sequencer (``pg_advisory_xact_lock``), the audit append (leaf and node
inserts), the single-use ``jti`` insert, the rate-limit bucket, the reads of the gather.

The opa-server engine runs against the test suite's OPA server (tests/policy/opa_rest_server.py:
the real OPA engine, through its Go bindings, behind OPA's REST API on a Python HTTP server);
its cost per decision is that server's, not a production ``opa run --server``'s.

Run: .venv/bin/python bench/scale_out.py [--engines embedded,opa-server] [--workers 1,2]
     [--seconds 15] [--connections 16] [--rounds 1] [--policy-timeout-ms MS] [--postgres URL]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _broker import (  # noqa: E402
    DATABASE,
    DEFAULT_POSTGRES,
    PARTNER,
    ROOT,
    Broker,
    load_average,
    prepare,
)
from _load import TokenSupply, closed_loop  # noqa: E402
from load_sweep import database_for, free_port, measured, target  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402

sys.path.insert(0, str(ROOT))

KINDS = (  # statement text -> what it is, first match wins
    ("pg_advisory_xact_lock", "audit sequencer lock"),
    ("audit_leaf", "audit append"),
    ("audit_node", "audit append"),
    ("audit_checkpoint", "checkpoint"),
    ("used_token", "jti insert"),
    ("rate_bucket", "rate-limit bucket"),
    ("COMMIT", "commit"),
    ("SELECT", "gather reads"),
)


def kind_of(query: str) -> str:
    for marker, kind in KINDS:
        if marker.lower() in query.lower():
            return kind
    return "other"


class Sampler:
    """``pg_stat_activity`` of the benchmark database every ``interval`` s, in a thread."""

    def __init__(self, server_url: str, interval: float = 0.02) -> None:
        self.engine = create_engine(server_url)
        self.interval = interval
        self.samples = 0
        self.states: Counter[str] = Counter()
        self.pids: set[int] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        query = text("SELECT pid, state, wait_event_type, wait_event, query FROM "
                     "pg_stat_activity WHERE datname = :db AND pid <> pg_backend_pid() "
                     "AND backend_type = 'client backend'")
        with self.engine.connect() as conn:
            while not self._stop.is_set():
                for pid, state, wtype, wevent, q in conn.execute(query, {"db": DATABASE}):
                    self.pids.add(pid)
                    if state == "idle":
                        continue
                    if state == "idle in transaction":
                        label = f"idle in transaction (after {kind_of(q or '')})"
                    elif wtype:
                        label = f"waiting {wtype}:{wevent} in {kind_of(q or '')}"
                    else:
                        label = f"running {kind_of(q or '')}"
                    self.states[label] += 1
                conn.rollback()
                self.samples += 1
                time.sleep(self.interval)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        self.engine.dispose()


def backend_cpu(pids: set[int]) -> float:
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
        except OSError:
            pass
    return total


async def one(args: argparse.Namespace, tmp: Path, engine: str, workers: int,
              round_no: int) -> None:
    data = tmp / f"{engine}-{workers}-{round_no}"
    env = prepare(data, database_for("postgresql", args.postgres))
    extra: dict[str, str] = {}
    if args.policy_timeout_ms:
        extra["GBO_POLICY_TIMEOUT_MS"] = str(args.policy_timeout_ms)
    opa = None
    if engine == "opa-server":
        from tests.policy.opa_servers import start_rest_server

        opa = start_rest_server()
        extra["GBO_OPA_URL"] = opa.url
    broker = Broker(env, free_port(), workers, tmp / f"{engine}-{workers}-{round_no}.log")
    broker.start(extra)
    tokens = TokenSupply(data, PARTNER, chunk=4000, initial=4000)
    try:
        await closed_loop(target(broker), tokens, connections=args.connections, seconds=3,
                          timeout=args.timeout)
        sampler = Sampler(args.postgres)
        sampler.start()
        time.sleep(0.2)  # the sessions are known before counting their CPU
        db_before = backend_cpu(sampler.pids)
        opa_before = _cpu_of(opa.process.pid) if opa else 0.0
        run = await measured(broker, f"{engine:10s} workers={workers} c={args.connections} "
                             f"round {round_no}", args.timeout,
                             closed_loop(target(broker), tokens, connections=args.connections,
                                         seconds=args.seconds, timeout=args.timeout))
        # Sessions first seen during the run (the pool growing) count from their start.
        db_cpu = backend_cpu(sampler.pids) - db_before
        opa_cpu = (_cpu_of(opa.process.pid) - opa_before) if opa else 0.0
        sampler.stop()
        f = run.figures()
        ok = f["ok"] or 1
        print(f"RESULT {run.label}: {f['rps']:.1f} req/s  p50 {f['p50']:.1f} ms  p99 "
              f"{f['p99']:.1f} ms | 5xx {f['5xx']} policy-failed {f['policy_failed']} | broker "
              f"CPU {run.cpu_ms_per_ok:.2f} ms/200, database sessions "
              f"{1000 * db_cpu / ok:.2f} ms/200"
              + (f", OPA server {1000 * opa_cpu / ok:.2f} ms/200" if opa else "")
              + f" | load {run.load}", flush=True)
        busy = sum(sampler.states.values())
        print(f"       database sessions busy on average: {busy / max(1, sampler.samples):.2f} "
              f"of {len(sampler.pids)} (samples {sampler.samples})")
        for label, n in sampler.states.most_common(12):
            print(f"       {100 * n / max(1, busy):5.1f}%  {label}")
        causes = Counter(json.loads(line).get("cause", "?") for line in
                         broker.log_path.read_text(errors="replace").splitlines()
                         if "policy evaluation failed closed" in line)
        if causes:
            print(f"       decisions failed closed, by cause (whole run): {dict(causes)}")
    finally:
        tokens.close()
        broker.stop()
        if opa is not None:
            opa.stop()


def _cpu_of(pid: int) -> float:
    from _broker import cpu_seconds

    return cpu_seconds(pid)


async def main_async(args: argparse.Namespace, tmp: Path) -> None:
    for round_no in range(args.rounds):
        for engine in args.engines:
            for workers in args.workers:
                await one(args, tmp, engine, workers, round_no)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--engines", default="embedded,opa-server")
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=5.0)
    parser.add_argument("--policy-timeout-ms", type=int, default=0,
                        help="GBO_POLICY_TIMEOUT_MS for the broker (default: the broker's)")
    parser.add_argument("--postgres", default=os.environ.get("GBO_TEST_POSTGRES_URL",
                                                             DEFAULT_POSTGRES))
    args = parser.parse_args()
    args.engines = args.engines.split(",")
    args.workers = [int(w) for w in args.workers.split(",")]
    tmp = Path(tempfile.mkdtemp(prefix="gbo-scale-"))
    print(f"load {load_average()}", flush=True)
    try:
        asyncio.run(main_async(args, tmp))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"load {load_average()}")


if __name__ == "__main__":
    main()
