"""Benchmark: tail latency of access requests under an open-loop (constant-rate) load.

A closed-loop tool (wrk, or ``load_sweep.py``'s sweep) sends the next request only when an answer
came back, so while the server stalls it sends nothing and the stall hardly shows in its
percentiles (coordinated omission). Here requests are scheduled at fixed times, ``rate`` per
second, sent when their time comes whatever the earlier ones are doing (each on an idle
keep-alive connection, or a new one), and each latency runs from the *scheduled* time to the
whole answer (``bench/_load.py``). No constant-rate tool comes from this project's registries:
Debian has no wrk2, vegeta or oha; PyPI's locust paces each user after its previous answer
(closed loop); npm's loadtest (``--rps``) times a request from when it was actually sent, not
from when it was due; k6 downloads a binary.

First the maximum: closed loop, 16 connections, ``--seconds``. Then ``--rounds`` rounds of
``--seconds`` each at ``--loads`` (0.5 and 0.8) of it, taking turns. Prints p50/p99/p99.9 of
the 200s, the slowest answer, non-200 counts, the generator's own worst lateness (how late it
sent a request; if that is large the client, not the server, was the limit) and the load
average. Target (the access flow's performance goal): p99 <= 25 ms at 0.8 of the maximum.

Run: .venv/bin/python bench/open_loop.py [--backend sqlite] [--workers 1] [--seconds 20]
     [--rounds 2] [--loads 0.5,0.8] [--rate MAX]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
from pathlib import Path
from statistics import median

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _broker import DEFAULT_POSTGRES, PARTNER, Broker, load_average, prepare  # noqa: E402
from _load import TokenSupply, closed_loop, open_loop  # noqa: E402
from load_sweep import database_for, free_port, measured, target  # noqa: E402


async def run(args: argparse.Namespace, tmp: Path) -> None:
    data = tmp / "data"
    env = prepare(data, database_for(args.backend, args.postgres))
    broker = Broker(env, free_port(), args.workers, tmp / "broker.log")
    broker.start()
    tokens = TokenSupply(data, PARTNER, chunk=4000, initial=4000)
    try:
        await closed_loop(target(broker), tokens, connections=16, seconds=3, timeout=args.timeout)
        if args.rate:
            maximum = args.rate
            print(f"maximum given: {maximum:.1f} req/s", flush=True)
        else:
            peak = await measured(broker, f"max {args.backend} workers={args.workers} c=16",
                                  args.timeout, closed_loop(target(broker), tokens,
                                                            connections=16,
                                                            seconds=args.seconds,
                                                            timeout=args.timeout))
            print("RESULT " + peak.line(), flush=True)
            maximum = peak.figures()["rps"]
        p99: dict[float, list[float]] = {load: [] for load in args.loads}
        for round_no in range(args.rounds):
            order = args.loads if round_no % 2 == 0 else list(reversed(args.loads))
            for load in order:
                rate = load * maximum
                r = await measured(broker, f"open {load:.1f} x max = {rate:.1f}/s round "
                                   f"{round_no}", args.timeout,
                                   open_loop(target(broker), tokens, rate=rate,
                                             seconds=args.seconds, timeout=args.timeout))
                f = r.figures()
                p99[load].append(f["p99"])
                print(f"RESULT {r.label}: p50 {f['p50']:.1f} ms  p99 {f['p99']:.1f} ms  "
                      f"p99.9 {f['p999']:.1f} ms  max {f['max']:.1f} ms | n {f['requests']} "
                      f"200 {f['ok']} 503 {f['503']} 500 {f['500']} timeouts {f['timeouts']} "
                      f"policy-failed {f['policy_failed']} | generator lag max "
                      f"{1000 * r.result.lag_max:.1f} ms, token waits {r.result.token_waits} | "
                      f"server CPU {r.cpu_ms_per_ok:.2f} ms/200 | load {r.load}", flush=True)
        for load, values in p99.items():
            print(f"p99 at {load:.1f} x max: median {median(values):.1f} ms (rounds "
                  f"{', '.join(f'{v:.1f}' for v in values)}); target <= 25 ms at 0.8")
    finally:
        tokens.close()
        broker.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backend", default="sqlite", choices=["sqlite", "postgresql"])
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--loads", default="0.5,0.8")
    parser.add_argument("--rate", type=float, default=0.0,
                        help="the maximum throughput (req/s) to take fractions of; default: "
                        "measured first")
    parser.add_argument("--timeout", type=float, default=5.0)
    parser.add_argument("--postgres", default=os.environ.get("GBO_TEST_POSTGRES_URL",
                                                             DEFAULT_POSTGRES))
    args = parser.parse_args()
    args.loads = [float(x) for x in args.loads.split(",")]
    tmp = Path(tempfile.mkdtemp(prefix="gbo-open-"))
    print(f"load {load_average()}", flush=True)
    try:
        asyncio.run(run(args, tmp))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"load {load_average()}")


if __name__ == "__main__":
    main()
