"""Benchmark: CPU time of one access request against one token-only request, in process.

The wrk benchmark (`access_requests.py`) measures throughput through a real server; on a shared
machine its figures move with everyone else's load. This one measures what a request costs the
broker's own process: `time.process_time()` (every thread of the process, the audit writer
included) over N requests sent through the ASGI app in process (no HTTP server, no load tool),
serially, for `POST /v1/access-requests` on the benchmark's scenario (6 sections, 3 consents,
2 relations, audit durable) and for a token-only endpoint (`POST /bench/token`, the same
partner-token check every partner route does). Each run is a fresh process; runs alternate.

With `--against DIR` (another checkout of the project, e.g. `git worktree add /tmp/before <commit>`)
the two checkouts alternate round by round, and the script prints the ratio of their CPU cost per
access request: how much a change costs the access flow.

Run: .venv/bin/python bench/access_cpu.py [--requests 300] [--rounds 7] [--against DIR]
"""

import argparse
import importlib.util
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from statistics import median

ROOT = Path(__file__).resolve().parent.parent


def _child(tree: Path, mode: str, count: int) -> None:
    """One run: set up the scenario with `tree`'s code, send `count` requests, print CPU ms each."""
    sys.path.insert(0, str(tree))
    spec = importlib.util.spec_from_file_location("bench_access", tree / "bench" /
                                                  "access_requests.py")
    assert spec and spec.loader
    scenario = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(scenario)
    from fastapi.testclient import TestClient

    from broker.app import create_app
    from broker.deps import CurrentPartner
    from broker.security.tokens import partner_token

    data_dir = Path(tempfile.mkdtemp(prefix="gbo-bench-cpu-"))
    # A partner's rate limit (DESIGN §6) must not refuse the run; the bucket is still taken.
    os.environ.update(GBO_DATA_DIR=str(data_dir), GBO_DEMO="1",
                      GBO_RATE_LIMIT_PARTNER_PER_SECOND="1000000",
                      GBO_RATE_LIMIT_PARTNER_BURST="1000000")
    settings = scenario._prepare(data_dir)
    app = create_app(settings)

    @app.post("/bench/token")
    def token_only(principal: CurrentPartner) -> dict[str, str]:
        return {}

    now = datetime.now(UTC)
    tokens = [partner_token(settings, partner="caw-oost-vlaanderen", worker="w-1", now=now,
                            lifetime=290) for _ in range(count + 5)]
    path, body = ("/v1/access-requests", scenario.BODY) if mode == "access" else \
        ("/bench/token", "{}")
    with TestClient(app) as client:
        for i, token in enumerate(tokens):
            if i == 5:  # the first requests pay one-off costs on both sides
                started = time.process_time()
            response = client.post(path, content=body, headers={
                "Authorization": f"Bearer {token}", "Content-Type": "application/json"})
            if response.status_code != 200:
                raise SystemExit(f"{path}: {response.status_code} {response.text}")
        cpu = time.process_time() - started
    print(f"{1000 * cpu / count:.4f}")


def _run(tree: Path, mode: str, count: int) -> float:
    out = subprocess.run(
        [sys.executable, __file__, "--child", str(tree), mode, str(count)],
        env={**os.environ, "PYTHONHASHSEED": "0"}, capture_output=True, text=True, check=True,
        timeout=600)
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--against", type=Path, help="another checkout to compare with")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(Path(args.child[0]), args.child[1], int(args.child[2]))
        return
    trees = {"this": ROOT} | ({"against": args.against.resolve()} if args.against else {})
    runs: dict[tuple[str, str], list[float]] = {(t, m): [] for t in trees
                                                for m in ("access", "token")}
    for r in range(args.rounds):
        for name, tree in trees.items():
            for mode in ("access", "token"):
                runs[name, mode].append(_run(tree, mode, args.requests))
        print(f"round {r + 1}: " + ", ".join(f"{t} {m} {v[-1]:.3f}" for (t, m), v in
                                               runs.items()), flush=True)
    print(f"{args.rounds} rounds x {args.requests} requests each, CPU ms per request "
          "(median; min-max):")
    for (name, mode), values in runs.items():
        print(f"  {name:8s} {mode:7s} {median(values):7.3f}  ({min(values):.3f}-{max(values):.3f})")
    for name in trees:
        ratios = [t / a for a, t in zip(runs[name, "access"], runs[name, "token"], strict=True)]
        print(f"RESULT {name}: token-only / access CPU = {median(ratios):.3f} "
              f"(per round {', '.join(f'{x:.2f}' for x in ratios)})")
    if args.against:
        ratios = [t / a for t, a in zip(runs["this", "access"], runs["against", "access"],
                                        strict=True)]
        of_medians = median(runs["this", "access"]) / median(runs["against", "access"])
        print(f"RESULT access CPU this / against = {median(ratios):.3f} "
              f"(per round {', '.join(f'{x:.2f}' for x in ratios)}; "
              f"ratio of medians {of_medians:.3f})")


if __name__ == "__main__":
    main()
