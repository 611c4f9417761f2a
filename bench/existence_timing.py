"""Benchmark: does the answer's timing tell whether the broker knows a client? (DESIGN §4)

DESIGN §4 "no existence leak": a partner that asks about a client it does not help gets the same
body whether or not the client exists; this measures whether it also gets it in the same time.
One server process (``bench/access_server.py``: the real app, uvicorn, one worker), SQLite, the
embedded engine. The *existing* client has help relations with two other partners, three consents
that do not name the requester and twelve entries; the *never-seen* client has an INSZ the broker
has never stored. The requester (caw-oost-vlaanderen) helps neither. Requests go over loopback
HTTP from this process with the standard library only, each with a fresh signed partner token
(minted outside the timed span), the two clients taking turns in a random order per pair so that
drift hits both alike; the first pairs warm up and are not counted.

For ``POST /v1/access-requests`` and ``POST /v1/involvement`` it prints the median time of each
side, the median of the paired differences (existing - never-seen, one pair per turn) with a 95%
bootstrap confidence interval (percentile method, pairs resampled), and the difference of the
medians with its own interval. The target: the paired interval contains 0 (the gap is within
noise). It also checks that the two bodies are the same but for the request id and
the audit receipt.

Run: .venv/bin/python bench/existence_timing.py [--requests 400] [--warmup 50] [--seed 1]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from statistics import median
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from access_requests import _free_port  # noqa: E402
from access_requests import _prepare as prepare_scenario  # noqa: E402

from broker.security.tokens import partner_token  # noqa: E402
from broker.settings import Settings  # noqa: E402
from tests.broker.access_scenarios import INSZ, C, Case, E, R  # noqa: E402

NEVER_SEEN = "01020312345"  # a valid INSZ (post-2000 check) the broker never stores here
REQUESTER = "caw-oost-vlaanderen"
SECTIONS = ["identiteit", "contact", "gezinssituatie", "inkomen", "huisvesting", "werk"]
EXISTING = Case(
    "existing", {}, relations=(R("ocmw-gent"), R("dmw-cm")),
    consents=(
        C(recipients=(("partner_type", "ocmw"),), sections=("identiteit", "inkomen",
                                                             "huisvesting")),
        C(recipients=(("partner", "dmw-cm"),), purposes=("doorverwijzing",),
          sections=("identiteit", "contact")),
        C(recipients=(("partner", "dmw-cm"),), purposes=("gezamenlijke_begeleiding",),
          sections=("gezondheid",)),
    ),
    entries=tuple(E(f"e{i}", "ocmw-gent", s, restricted=i % 5 == 4)
                  for i, s in enumerate(SECTIONS * 2)),
)
ENDPOINTS = {
    "access-requests": ("/v1/access-requests",
                        {"purpose": "rechtenverkenning", "sections": SECTIONS}),
    "involvement": ("/v1/involvement", {"purpose": "doorverwijzing"}),
}
VOLATILE = ("request_id", "audit")  # differ on every request, whoever it is about


def _prepare(data_dir: Path) -> Settings:
    return prepare_scenario(data_dir, EXISTING)


def _post(conn: http.client.HTTPConnection, settings: Settings, path: str,
          body: dict[str, Any]) -> tuple[float, int, dict[str, Any]]:
    """One request: (seconds from sending to the whole body read, status, body)."""
    token = partner_token(settings, partner=REQUESTER, worker="w-1", now=datetime.now(UTC))
    payload = json.dumps(body).encode()
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    started = time.perf_counter()
    conn.request("POST", path, body=payload, headers=headers)
    response = conn.getresponse()
    data = response.read()
    elapsed = time.perf_counter() - started
    return elapsed, response.status, json.loads(data)


def _bootstrap_ci(a: Sequence[float], b: Sequence[float], *, rounds: int,
                  rng: random.Random) -> tuple[float, float, float, float]:
    """95% percentile-bootstrap intervals (low, high) of the median paired difference
    median(a[i] - b[i]) (pairs resampled: a pair shares the machine's load of its moment), then
    of the difference of medians median(a) - median(b) (each side resampled)."""
    pairs = [x - y for x, y in zip(a, b, strict=True)]
    paired = sorted(median(rng.choices(pairs, k=len(pairs))) for _ in range(rounds))
    unpaired = sorted(median(rng.choices(a, k=len(a))) - median(rng.choices(b, k=len(b)))
                      for _ in range(rounds))
    low, high = int(0.025 * rounds), int(0.975 * rounds) - 1
    return paired[low], paired[high], unpaired[low], unpaired[high]


def _measure(conn: http.client.HTTPConnection, settings: Settings, path: str,
             body: dict[str, Any], *, requests: int, warmup: int,
             rng: random.Random) -> tuple[list[float], list[float]]:
    times: dict[str, list[float]] = {"existing": [], "never": []}
    shapes: dict[str, str] = {}
    for n in range(warmup + requests):
        order = [("existing", INSZ), ("never", NEVER_SEEN)]
        rng.shuffle(order)
        for side, insz in order:
            elapsed, status, answer = _post(conn, settings, path, {"insz": insz, **body})
            if status != 200:
                raise SystemExit(f"{path}: HTTP {status}: {answer}")
            shape = json.dumps({k: v for k, v in answer.items() if k not in VOLATILE},
                               sort_keys=True)
            if shapes.setdefault(side, shape) != shape:
                raise SystemExit(f"{path}: the answer about one client changed between requests")
            if n >= warmup:
                times[side].append(elapsed)
    if shapes["existing"] != shapes["never"]:
        raise SystemExit(f"{path}: the bodies differ between an existing and a never-seen "
                         f"client:\n  {shapes['existing']}\n  {shapes['never']}")
    return times["existing"], times["never"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=400, help="counted requests per side")
    parser.add_argument("--warmup", type=int, default=50, help="uncounted pairs first")
    parser.add_argument("--bootstrap", type=int, default=4000, help="bootstrap resamples")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    tmp = Path(tempfile.mkdtemp(prefix="gbo-bench-"))
    settings = _prepare(tmp / "data")
    port = _free_port()
    # A generous policy deadline: on a loaded machine a late evaluation fails closed, which
    # would change one answer and end the run (the deadline is not what is measured here).
    # The partner rate limit's bucket is taken on every request, the same for both clients,
    # but never empty (as in access_requests.py).
    env = {**os.environ, "GBO_DATA_DIR": str(settings.data_dir), "GBO_DEMO": "1",
           "GBO_POLICY_TIMEOUT_MS": "5000", "GBO_RATE_LIMIT_PARTNER_PER_SECOND": "1000000",
           "GBO_RATE_LIMIT_PARTNER_BURST": "1000000"}
    server = subprocess.Popen([sys.executable, str(ROOT / "bench" / "access_server.py"),
                               "--port", str(port)], env=env)
    results: dict[str, tuple[list[float], list[float]]] = {}
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1)  # noqa: S310
                break
            except OSError:
                time.sleep(0.1)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        for name, (path, body) in ENDPOINTS.items():
            results[name] = _measure(conn, settings, path, body, requests=args.requests,
                                     warmup=args.warmup, rng=rng)
        conn.close()
    finally:
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(tmp, ignore_errors=True)

    print(f"{args.requests} counted requests per side and endpoint after {args.warmup} warm-up "
          "pairs, interleaved in random order; one server process (uvicorn, 1 worker), SQLite, "
          "embedded engine; bodies identical but for request id and audit receipt")
    for name, (existing, never) in results.items():
        paired = median(x - y for x, y in zip(existing, never, strict=True))
        diff = median(existing) - median(never)
        low, high, u_low, u_high = _bootstrap_ci(existing, never, rounds=args.bootstrap,
                                                 rng=rng)
        verdict = "within noise (CI contains 0)" if low <= 0 <= high else "GAP (CI excludes 0)"
        print(f"RESULT {name}: median existing {1000 * median(existing):.3f} ms, never-seen "
              f"{1000 * median(never):.3f} ms; median paired difference {1000 * paired:+.3f} ms, "
              f"95% CI [{1000 * low:+.3f}, {1000 * high:+.3f}] ms: {verdict}")
        print(f"       difference of medians {1000 * diff:+.3f} ms, 95% CI "
              f"[{1000 * u_low:+.3f}, {1000 * u_high:+.3f}] ms")


if __name__ == "__main__":
    main()
