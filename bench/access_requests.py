"""Benchmark: POST /v1/access-requests against the irreducible cost of a signed request.

DESIGN §4: throughput and p50/p99 latency of a realistic access request (6 sections, 3 consents,
2 relations, a fresh signed partner token per request, audit durable) against a minimal endpoint
of the same app that only verifies the same kind of partner token, and against a bare JSON
endpoint — one server process, one worker, loaded by the same tool (wrk, from Debian's
packages: `apt-get install wrk`) on loopback, rounds alternating so machine drift hits all three.
Target: access >= 0.5 x token-only throughput. Also prints the policy evaluation's share of the
request time (from /metrics) and the engine's raw evaluation time for the same input.

Run: .venv/bin/python bench/access_requests.py [--seconds 8] [--rounds 3] [--connections 16]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from statistics import median
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from broker.demo import create_demo_keys  # noqa: E402
from broker.policy.bundle import DECISION_RULE, load_bundle  # noqa: E402
from broker.policy.embedded import EmbeddedEngine  # noqa: E402
from broker.security.tokens import partner_token  # noqa: E402
from broker.settings import DEFAULT_POLICY_DIR, Settings  # noqa: E402
from broker.store.db import make_engine, upgrade  # noqa: E402
from tests.broker.access_scenarios import INSZ, C, Case, E, R, write_scenario  # noqa: E402

SECTIONS = ["identiteit", "contact", "gezinssituatie", "inkomen", "huisvesting", "werk"]
SCENARIO = Case(
    "bench", {}, requester="caw-oost-vlaanderen", sections=tuple(SECTIONS),
    relations=(R("caw-oost-vlaanderen"), R("ocmw-gent")),
    consents=(
        C(recipients=(("partner_type", "caw"),), sections=("identiteit", "contact", "inkomen",
                                                            "huisvesting")),
        C(recipients=(("network", "gbo-gent"),), sections=("gezinssituatie", "werk")),
        C(recipients=(("partner", "dmw-cm"),), purposes=("gezamenlijke_begeleiding",),
          sections=("gezondheid",)),
    ),
    entries=tuple(E(f"e{i}", "ocmw-gent", s, restricted=i % 5 == 4)
                  for i, s in enumerate(SECTIONS * 2)),
)
BODY = json.dumps({"insz": INSZ, "purpose": "rechtenverkenning", "sections": SECTIONS})


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _prepare(data_dir: Path, scenario: Case = SCENARIO,
             database_url: str | None = None) -> Settings:
    """Demo keys, a migrated database (SQLite under ``data_dir`` unless ``database_url``) and
    ``scenario``."""
    settings = Settings(data_dir=data_dir, demo=True, database_url=database_url)
    create_demo_keys(settings)
    engine = make_engine(settings.resolved_database_url)
    upgrade(engine)
    engine.dispose()
    from broker.context import load_context

    ctx = load_context(settings)
    write_scenario(ctx, scenario, datetime.now(UTC))
    ctx.close()
    return settings


def _mint(settings: Settings, prefix: Path, count: int, threads: int) -> None:
    now = datetime.now(UTC)
    per_thread = count // threads + 1
    for t in range(threads):
        with open(f"{prefix}.{t}", "w") as fh:
            for _ in range(per_thread):
                fh.write(partner_token(settings, partner="caw-oost-vlaanderen", worker="w-1",
                                       now=now, lifetime=290) + "\n")


def _wrk(url: str, path: str, method: str, body: str, tokens: str, seconds: int,
         connections: int, threads: int) -> dict[str, float]:
    env = {**os.environ, "BENCH_PATH": path, "BENCH_METHOD": method, "BENCH_BODY": body,
           "BENCH_TOKENS": tokens}
    out = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency",
         "-s", str(ROOT / "bench" / "wrk_tokens.lua"), url + path],
        env=env, capture_output=True, text=True, check=True, timeout=seconds + 60,
    ).stdout
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if errors:
        raise SystemExit(f"{path}: {errors.group(1)} failed responses:\n{out}")

    def latency(p: str) -> float:
        m = re.search(rf"^\s+{p}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        assert m, out
        return float(m.group(1)) * {"us": 1e-3, "ms": 1, "s": 1e3}[m.group(2)]

    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    return {"rps": rps, "p50": latency("50"), "p99": latency("99")}


def _metric(url: str, name: str, labels: str = "") -> float:
    text = urllib.request.urlopen(url + "/metrics").read().decode()  # noqa: S310 - loopback
    m = re.search(rf"^{name}{{?{re.escape(labels)}}}? ([\d.e+-]+)$", text, re.M)
    return float(m.group(1)) if m else 0.0


def bench_input(settings: Settings) -> dict[str, Any]:
    """The policy input the broker gathers for the benchmark's access request."""
    from broker.context import load_context
    from broker.security.auth import PartnerPrincipal
    from broker.services.access import gather
    from broker.store.db import session_scope

    ctx = load_context(settings)
    principal = PartnerPrincipal(partner=ctx.registry.partners["caw-oost-vlaanderen"],
                                 worker="w-1", jti="x")
    try:
        with session_scope(ctx.engine) as session:
            return dict(gather(ctx=ctx, session=session, principal=principal, insz=INSZ,
                               purpose="rechtenverkenning", justification=None,
                               sections=SECTIONS, now=datetime.now(UTC)).policy_input)
    finally:
        ctx.close()


def _raw_engine_time(settings: Settings) -> float:
    """Median seconds for one decision on the embedded engine, on the benchmark's input."""
    policy_input = bench_input(settings)
    engine = EmbeddedEngine(load_bundle(DEFAULT_POLICY_DIR))
    times = []
    for _ in range(2000):
        started = time.perf_counter()
        engine.evaluate(DECISION_RULE, policy_input)
        times.append(time.perf_counter() - started)
    return median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is needed: apt-get install wrk")
    tmp = Path(tempfile.mkdtemp(prefix="gbo-bench-"))
    settings = _prepare(tmp / "data")
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    # The rate limit's bucket is taken on every request (its cost is measured) but never empty.
    env = {**os.environ, "GBO_DATA_DIR": str(settings.data_dir), "GBO_DEMO": "1",
           "GBO_RATE_LIMIT_PARTNER_PER_SECOND": "1000000",
           "GBO_RATE_LIMIT_PARTNER_BURST": "1000000"}
    server = subprocess.Popen([sys.executable, str(ROOT / "bench" / "access_server.py"),
                               "--port", str(port)], env=env)
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(url + "/healthz", timeout=1)  # noqa: S310 - loopback
                break
            except OSError:
                time.sleep(0.1)
        results: dict[str, list[dict[str, float]]] = {"bare": [], "token": [], "access": []}
        budget = 4000 * args.seconds  # tokens per run: more than any run here can use
        for round_no in range(args.rounds + 1):  # round 0 warms up and is not counted
            for name, path, method, body in (
                ("bare", "/bench/bare", "GET", ""),
                ("token", "/bench/token", "POST", "{}"),
                ("access", "/v1/access-requests", "POST", BODY),
            ):
                prefix = ""
                if name != "bare":
                    prefix = str(tmp / f"tokens-{name}-{round_no}")
                    _mint(settings, Path(prefix), budget, args.threads)
                result = _wrk(url, path, method, body, prefix, args.seconds,
                              args.connections, args.threads)
                if round_no:
                    results[name].append(result)
        policy_sum = _metric(url, "gbo_policy_evaluation_seconds_sum")
        policy_count = _metric(url, "gbo_policy_evaluation_seconds_count")
        req_sum = _metric(url, "gbo_http_request_duration_seconds_sum",
                          'method="POST",route="/v1/access-requests"')
        req_count = _metric(url, "gbo_http_request_duration_seconds_count",
                            'method="POST",route="/v1/access-requests"')
    finally:
        server.terminate()
        server.wait(timeout=30)
    raw = _raw_engine_time(settings)
    shutil.rmtree(tmp, ignore_errors=True)

    def med(name: str, key: str) -> float:
        return median(r[key] for r in results[name])

    print(f"{args.rounds} rounds x {args.seconds}s, wrk -t{args.threads} -c{args.connections}, "
          "one server process (uvicorn, 1 worker), SQLite, embedded engine")
    for name in ("bare", "token", "access"):
        print(f"  {name:7s} {med(name, 'rps'):8.0f} req/s   p50 {med(name, 'p50'):6.2f} ms   "
              f"p99 {med(name, 'p99'):6.2f} ms")
    ratios = [a["rps"] / t["rps"] for a, t in zip(results["access"], results["token"], strict=True)]
    bare = [a["rps"] / b["rps"] for a, b in zip(results["access"], results["bare"], strict=True)]
    print(f"  access / token-only throughput: {median(ratios):.2f} "
          f"(per round {', '.join(f'{r:.2f}' for r in ratios)}; target >= 0.5)")
    print(f"  access / bare throughput:       {median(bare):.2f}")
    if policy_count and req_count:
        share = (policy_sum / policy_count) / (req_sum / req_count)
        print(f"  policy evaluation: {1000 * policy_sum / policy_count:.3f} ms of "
              f"{1000 * req_sum / req_count:.3f} ms per access request in the app "
              f"({100 * share:.0f}%); engine alone on the same input: {1000 * raw:.3f} ms")


if __name__ == "__main__":
    main()
