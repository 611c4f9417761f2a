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
        if "gbo.metrics_dir" in record:
            return Path(record["gbo.metrics_dir"])
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


def _log_records(log: Path) -> list[dict[str, object]]:
    """Every line of the server's stderr, each of which must be one JSON object."""
    records = []
    for line in log.read_text().splitlines():
        try:
            records.append(json.loads(line))
        except ValueError:
            raise AssertionError(f"not a JSON log line: {line!r}\n{log.read_text()}") from None
    return records


def _access_pids(log: Path) -> set[object]:
    return {r["process.pid"] for r in _log_records(log) if r.get("log.logger") == "gbo.access"}


def test_every_worker_writes_json_request_logs(tmp_path: Path, postgres_url: str) -> None:
    with demo_broker_at(tmp_path, database_url=postgres_url, workers=2) as (broker, proc):
        sent = 0
        with ThreadPoolExecutor(BURST) as pool:
            while len(_access_pids(broker.log)) < 2:  # until both workers logged a request
                assert sent < MOST_REQUESTS, f"logs of one worker:\n{broker.log.read_text()}"
                list(pool.map(_get_healthz, [broker.base] * BURST))
                sent += BURST
        # Bad input is refused with problem+json and logged as JSON, never a raw traceback.
        refused = httpx.post(f"{broker.base}/v1/access-requests", content=b"{",
                             headers={"Authorization": "Bearer forged"}, timeout=10)
        assert refused.status_code == 401
        assert refused.headers["content-type"] == "application/problem+json"
    records = _log_records(broker.log)  # after shutdown too: every line is JSON
    assert proc.pid not in _access_pids(broker.log)  # the main process serves nothing
    assert not [r for r in records if any("color_message" in k for k in r)]  # no ANSI codes
    assert not [r for r in records if "\x1b" in json.dumps(r)]
    assert not [r for r in records if r.get("log.level") in ("error", "critical")]


POSTGRES_PORT_HEX = f"{5432:04X}"


def _postgres_connections(pid: int) -> int:
    """How many TCP connections to port 5432 process ``pid`` holds (its socket inodes matched
    against the kernel's connection table)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = fd.readlink()
        except OSError:
            continue  # closed meanwhile
        if str(target).startswith("socket:["):
            inodes.add(str(target)[len("socket:["):-1])
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for row in Path(table).read_text().splitlines()[1:]:
            fields = row.split()
            if fields[2].endswith(f":{POSTGRES_PORT_HEX}") and fields[9] in inodes:
                count += 1
    return count


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(c) for c in (task / "children").read_text().split()]
    return found


def test_only_the_workers_hold_database_connections(tmp_path: Path, postgres_url: str) -> None:
    with demo_broker_at(tmp_path, database_url=postgres_url, workers=2) as (broker, proc):
        deadline = time.monotonic() + WAIT_S
        while len([pid for pid in _children(proc.pid) if _postgres_connections(pid)]) < 2:
            # /readyz answered from one worker; the other may still be starting: bounded wait
            assert time.monotonic() < deadline, "both workers should hold database connections"
            time.sleep(0.05)
        assert _postgres_connections(proc.pid) == 0  # the main process runs no broker
