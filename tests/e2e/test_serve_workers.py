"""``gbo-broker serve --workers 2`` on PostgreSQL: one ``/metrics`` scrape, whichever worker
answers it, counts the requests every worker served (Prometheus multi-process mode).

Real processes: ``gbo-broker demo`` and ``serve`` with two uvicorn workers on a fresh PostgreSQL
schema. Each worker keeps its values in its own files of the metrics directory (named by its
pid), so the test can tell that both really served requests before it trusts one scrape.
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx2 as httpx
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.conftest import demo_broker_at

HEALTHZ = {"method": "GET", "route": "/healthz", "status": "200"}
BURST = 8
MOST_REQUESTS = 800
WAIT_S = 30


def _healthz_count(exposition: str) -> float:
    for family in text_string_to_metric_families(exposition):
        for sample in family.samples:
            if sample.name == "gbo_http_requests_total" and sample.labels == HEALTHZ:
                return sample.value
    return 0.0


def _healthz_per_worker(metrics_dir: Path) -> dict[str, float]:
    """``{pid: /healthz requests}`` from each worker's own counter file."""
    counts = {}
    for file in metrics_dir.glob("counter_*.db"):
        for metric in MultiProcessCollector.merge([str(file)]):  # type: ignore[no-untyped-call]
            for sample in metric.samples:
                if sample.name == "gbo_http_requests_total" and sample.labels == HEALTHZ:
                    counts[file.stem.removeprefix("counter_")] = sample.value
    return counts


def _metrics_dir(log: Path) -> Path:
    for line in log.read_text().splitlines():
        record = json.loads(line)
        if "metrics_dir" in record:
            return Path(record["metrics_dir"])
    raise AssertionError(f"serve did not say where the metrics are:\n{log.read_text()}")


def _get_healthz(base: str) -> None:
    # A new connection each time: the kernel hands it to whichever worker accepts first.
    assert httpx.get(f"{base}/healthz", timeout=10).status_code == 200


def test_one_metrics_scrape_counts_the_requests_of_every_worker(
    tmp_path: Path, postgres_url: str
) -> None:
    with demo_broker_at(tmp_path, database_url=postgres_url, workers=2) as (broker, _):
        metrics_dir = _metrics_dir(broker.log)
        sent = 0
        with ThreadPoolExecutor(BURST) as pool:
            while len(_healthz_per_worker(metrics_dir)) < 2:  # until both workers served some
                assert sent < MOST_REQUESTS, "every request went to one worker"
                list(pool.map(_get_healthz, [broker.base] * BURST))
                sent += BURST
        # The last responses may leave before their worker counted them: wait, bounded.
        deadline = time.monotonic() + WAIT_S
        while (counted := _healthz_count(httpx.get(f"{broker.base}/metrics").text)) < sent:
            assert time.monotonic() < deadline, f"one scrape counted {counted} of {sent}"
            time.sleep(0.05)
        assert counted == sent
        assert sum(_healthz_per_worker(metrics_dir).values()) == sent
    assert not metrics_dir.exists()  # a fresh directory per server start, removed at the end
