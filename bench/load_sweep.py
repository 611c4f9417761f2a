"""Benchmark: access requests under load, across connections, workers and databases; a soak run.

DESIGN §2 (one process on SQLite, several workers on PostgreSQL) and docs/operations.md "Under
load": a worker refuses what it cannot do in time (503 ``overloaded`` with ``Retry-After``)
instead of stalling everyone, and ``/healthz`` answers however busy it is.

**Sweep** (default): ``gbo-broker serve --workers N`` as its own process, the scenario of
``access_requests.py`` (6 sections, 3 consents, 2 relations, 12 entries, a fresh partner token per
request, audit durable before the answer), closed-loop clients at each ``--connections`` (no
back-off: a refused client asks again at once, which is harsher than a client that honours
``Retry-After``), while ``/healthz`` is polled on a new connection every 0.2 s. Per run: 200s per
second, p50/p99/max latency of the 200s, counts of 5xx, 500, 503, timeouts (no answer within
``--timeout``, or an answer later than it), the worst ``/healthz`` latency, the server's CPU per
200 (all its processes) and the load average. SQLite runs one worker only (``serve`` refuses
more). The lines starting with ``RESULT`` are the figures; ``CHECK`` lines say whether each run
met: 0 answers 500, 0 requests over the timeout, ``/healthz`` within 1 s.

**Soak** (``--soak``): on one backend and worker count, the maximum throughput is measured
(closed loop, 16 connections), then requests are sent open-loop at ``--soak-load`` (0.8) of it for
``--soak-minutes`` (10), then at 4x it for ``--burst-seconds`` (30). Afterwards the server is
stopped and ``gbo-broker audit verify`` checks the whole log, and every 200's ``audit.index`` must
hold that request's own entry (its ``request_id``): no acknowledged entry is missing.

Run (from the repository root):
  .venv/bin/python bench/load_sweep.py [--backends sqlite,postgresql] [--workers 1,2]
      [--connections 1,16,64,256] [--seconds 10] [--timeout 5] [--postgres URL]
  .venv/bin/python bench/load_sweep.py --soak [--backends postgresql] [--workers 2]
      [--soak-minutes 10] [--burst-seconds 30]
PostgreSQL: the benchmark makes and uses its own database ``bench_load`` on the server of
``--postgres`` (default: GBO_TEST_POSTGRES_URL, else 127.0.0.1:5432).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Coroutine
from dataclasses import dataclass
from pathlib import Path
from statistics import median
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _broker import (  # noqa: E402
    DEFAULT_POSTGRES,
    GBO,
    PARTNER,
    Broker,
    bench_path,
    load_average,
    postgres_url,
    prepare,
    recreate_database,
)

bench_path()
from _load import (  # noqa: E402
    HealthPoller,
    Result,
    Target,
    TokenSupply,
    closed_loop,
    open_loop,
)
from access_requests import BODY  # noqa: E402

ACCESS = "/v1/access-requests"
HEALTH_LIMIT = 1.0  # seconds: /healthz must answer within this throughout


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Run:
    label: str
    result: Result
    health_worst_ms: float
    health_failures: int
    cpu_ms_per_ok: float
    load: str
    error_lines: int
    timeout: float

    def figures(self) -> dict[str, Any]:
        return self.result.summary(self.timeout)

    def line(self) -> str:
        f = self.figures()
        return (f"{self.label}: {f['rps']:7.1f} req/s  p50 {f['p50']:7.1f} ms  "
                f"p99 {f['p99']:7.1f} ms  max {f['max']:7.1f} ms | n {f['requests']} "
                f"5xx {f['5xx']} (500: {f['500']}, 503: {f['503']}) 4xx {f['4xx']} "
                f"timeouts {f['timeouts']} conn-errors {f['conn_errors']} policy-failed 200s "
                f"{f['policy_failed']} | healthz worst "
                f"{self.health_worst_ms:.0f} ms (failed {self.health_failures}) | server CPU "
                f"{self.cpu_ms_per_ok:.2f} ms/200 | error log lines {self.error_lines} | "
                f"load {self.load}")

    def passed(self) -> bool:
        f = self.figures()
        return (f["500"] == 0 and f["timeouts"] == 0 and self.health_failures == 0
                and self.health_worst_ms <= 1000 * HEALTH_LIMIT)


def error_lines(log_path: Path, offset: int) -> int:
    """Log lines at ERROR or above written since ``offset`` (tracebacks count as their line)."""
    with open(log_path, "rb") as fh:
        fh.seek(offset)
        text = fh.read().decode(errors="replace")
    return sum(1 for line in text.splitlines()
               if '"level": "ERROR"' in line or '"level": "CRITICAL"' in line
               or line.startswith("Traceback"))


async def measured(broker: Broker, label: str, timeout: float,
                   load: Coroutine[Any, Any, Result]) -> Run:
    """Await ``load`` (not started yet) with the health poller running and the CPU counted."""
    offset = broker.log_path.stat().st_size
    poller = HealthPoller("127.0.0.1", broker.port)
    poller.start()
    cpu_before = broker.cpu()
    result = await load
    cpu = broker.cpu() - cpu_before
    await poller.stop()
    ok = result.summary(timeout)["ok"]
    return Run(label, result, poller.worst_ms, poller.failures,
               1000 * cpu / ok if ok else float("nan"), load_average(),
               error_lines(broker.log_path, offset), timeout)


def target(broker: Broker) -> Target:
    return Target("127.0.0.1", broker.port, ACCESS, BODY.encode())


def database_for(backend: str, postgres: str) -> str | None:
    if backend == "sqlite":
        return None
    recreate_database(postgres)
    return postgres_url(postgres)


async def sweep(args: argparse.Namespace, tmp: Path) -> list[Run]:
    runs: list[Run] = []
    for backend in args.backends:
        for workers in args.workers:
            if backend == "sqlite" and workers > 1:
                print(f"skip {backend} x {workers} workers: SQLite serves one process",
                      flush=True)
                continue
            data = tmp / f"{backend}-{workers}"
            env = prepare(data, database_for(backend, args.postgres))
            broker = Broker(env, free_port(), workers, tmp / f"{backend}-{workers}.log")
            broker.start()
            tokens = TokenSupply(data, PARTNER, chunk=4000, initial=4000)
            try:
                # Warm-up, not counted: every worker's first requests, the pool filled.
                await closed_loop(target(broker), tokens, connections=16, seconds=3,
                                  timeout=args.timeout)
                for connections in args.connections:
                    label = f"{backend:10s} workers={workers} c={connections:3d}"
                    run = await measured(broker, label, args.timeout, closed_loop(
                        target(broker), tokens, connections=connections, seconds=args.seconds,
                        timeout=args.timeout))
                    runs.append(run)
                    print("RESULT " + run.line(), flush=True)
                    codes = run.result.codes()
                    if codes:
                        print(f"       non-200 by status and code: {dict(codes)}", flush=True)
                    await asyncio.sleep(args.pause)
            finally:
                tokens.close()
                broker.stop()
    return runs


def check_audit(env: dict[str, str], database_url: str | None, data: Path,
                acknowledged: dict[int, str]) -> tuple[bool, int]:
    """``audit verify`` over the whole log; (every acknowledged index holds its request, size)."""
    verify = subprocess.run([str(GBO), "audit", "verify"], env=env, capture_output=True,
                            text=True, timeout=1800)
    print(f"audit verify: exit {verify.returncode}: "
          f"{(verify.stdout + verify.stderr).strip().splitlines()[-1:]}", flush=True)
    from sqlalchemy import create_engine, text

    url = database_url or f"sqlite:///{data / 'broker.db'}"
    engine = create_engine(url)
    missing = 0
    try:
        with engine.connect() as conn:
            size = conn.execute(text("SELECT count(*) FROM audit_leaf")).scalar_one()
            found: dict[int, str] = {}
            indexes = sorted(acknowledged)
            for i in range(0, len(indexes), 5000):
                chunk = indexes[i:i + 5000]
                rows = conn.execute(text("SELECT idx, leaf FROM audit_leaf WHERE idx >= :lo "
                                         "AND idx <= :hi"), {"lo": chunk[0], "hi": chunk[-1]})
                for idx, leaf in rows:
                    if idx in acknowledged:
                        found[idx] = json.loads(bytes(leaf)).get("request_id", "")
            for idx, request_id in acknowledged.items():
                if found.get(idx) != request_id:
                    missing += 1
    finally:
        engine.dispose()
    print(f"acknowledged entries: {len(acknowledged)}, missing or not that request's: "
          f"{missing}; log size {size}", flush=True)
    return verify.returncode == 0 and missing == 0, size


async def soak(args: argparse.Namespace, tmp: Path) -> bool:
    backend, workers = args.backends[0], args.workers[0]
    data = tmp / f"soak-{backend}-{workers}"
    database_url = database_for(backend, args.postgres)
    env = prepare(data, database_url)
    broker = Broker(env, free_port(), workers, tmp / "soak.log")
    broker.start()
    tokens = TokenSupply(data, PARTNER, chunk=8000, initial=8000)
    runs: list[Run] = []
    try:
        await closed_loop(target(broker), tokens, connections=16, seconds=3, timeout=args.timeout)
        peak = await measured(broker, f"max   {backend} workers={workers} c=16", args.timeout,
                              closed_loop(target(broker), tokens, connections=16,
                                          seconds=args.seconds, timeout=args.timeout))
        print("RESULT " + peak.line(), flush=True)
        maximum = args.soak_rate or peak.figures()["rps"]
        rate = args.soak_load * maximum
        print(f"soak: {rate:.1f} req/s open loop for {args.soak_minutes} min "
              f"({args.soak_load} x {maximum:.1f}); then {4 * maximum:.1f} req/s for "
              f"{args.burst_seconds} s", flush=True)
        for name, r, seconds in (("soak ", rate, 60 * args.soak_minutes),
                                 ("burst", 4 * maximum, args.burst_seconds)):
            run = await measured(broker, f"{name} {backend} workers={workers} {r:.0f}/s",
                                 args.timeout, open_loop(target(broker), tokens, rate=r,
                                                         seconds=seconds, timeout=args.timeout))
            runs.append(run)
            print("RESULT " + run.line() + f" | generator lag max "
                  f"{1000 * run.result.lag_max:.0f} ms, token waits {run.result.token_waits}",
                  flush=True)
            codes = run.result.codes()
            if codes:
                print(f"       non-200 by status and code: {dict(codes)}", flush=True)
    finally:
        tokens.close()
        broker.stop()
    acknowledged: dict[int, str] = {}
    for run in [peak, *runs]:
        for s in run.result.samples:
            if s.status == 200 and s.index is not None:
                acknowledged[s.index] = s.request_id
    audit_ok, _ = check_audit(env, database_url, data, acknowledged)
    ok = audit_ok and all(run.passed() for run in runs)
    for run in runs:
        print(f"CHECK {run.label}: {'pass' if run.passed() else 'FAIL'}", flush=True)
    print(f"CHECK audit verifies and no acknowledged entry missing: "
          f"{'pass' if audit_ok else 'FAIL'}", flush=True)
    return ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--connections", default="1,16,64,256")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--timeout", type=float, default=5.0,
                        help="a request unanswered this long counts as timed out (s)")
    parser.add_argument("--pause", type=float, default=1.0, help="seconds between runs")
    parser.add_argument("--postgres", default=os.environ.get("GBO_TEST_POSTGRES_URL",
                                                             DEFAULT_POSTGRES))
    parser.add_argument("--soak", action="store_true")
    parser.add_argument("--soak-minutes", type=float, default=10)
    parser.add_argument("--soak-load", type=float, default=0.8)
    parser.add_argument("--soak-rate", type=float, default=0.0,
                        help="the maximum to take 0.8 of (default: measured first)")
    parser.add_argument("--burst-seconds", type=float, default=30)
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args()
    args.backends = args.backends.split(",")
    args.workers = [int(w) for w in args.workers.split(",")]
    args.connections = [int(c) for c in args.connections.split(",")]
    tmp = Path(tempfile.mkdtemp(prefix="gbo-load-"))
    print(f"load {load_average()}; timeout {args.timeout} s; work dir {tmp}", flush=True)
    try:
        if args.soak:
            ok = asyncio.run(soak(args, tmp))
        else:
            runs = asyncio.run(sweep(args, tmp))
            for run in runs:
                print(f"CHECK {run.label}: {'pass' if run.passed() else 'FAIL'}")
            ok = all(run.passed() for run in runs)
            by: dict[str, list[float]] = {}
            for run in runs:
                key = run.label.split(" c=")[0]
                by.setdefault(key, []).append(run.figures()["rps"])
            for key, values in by.items():
                print(f"max {key}: {max(values):.1f} req/s (median over connections "
                      f"{median(values):.1f})")
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    print(f"load {load_average()}")
    print("all checks passed" if ok else "SOME CHECKS FAILED")
    time.sleep(0)


if __name__ == "__main__":
    main()
