"""Admission (docs/operations.md "Under load"): a worker serves at most ``GBO_MAX_IN_FLIGHT``
requests at once and refuses the next at once with 503 ``overloaded`` and ``Retry-After``,
instead of queueing it for a thread and a database connection until it fails with a 500.
``/healthz`` and ``/readyz`` answer however busy it is.

Real concurrency on a real server: the test holds an exclusive lock on the checkpoint table, so
``GET /v1/audit/checkpoint`` requests stay in flight until it lets go; PostgreSQL says when they
wait (``pg_blocking_pids``), so there is no sleeping for timing. SQLite in WAL mode lets readers
through any lock, so this runs on PostgreSQL only. A client that gives up while it waits is not
a server error.
"""

from __future__ import annotations

import logging
import socket
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

import httpx2 as httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

from broker.app import create_app
from broker.context import load_context
from broker.settings import Settings
from broker.store.db import POOL_HEADROOM, make_engine
from tests.live_server import served

MAX_IN_FLIGHT = 2
MAX_QUEUED = 2
WAIT_S = 30


def _waiting_on(conn: Connection, admin: Engine) -> int:
    """How many database sessions wait for a lock ``conn`` holds."""
    holder = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
    with admin.connect() as watch:
        return int(watch.execute(text(
            "SELECT count(*) FROM pg_stat_activity WHERE :holder = ANY(pg_blocking_pids(pid))"),
            {"holder": holder}).scalar_one())


# PostgreSQL only: SQLite in WAL mode lets readers through a lock, so nothing can hold them.
@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_a_saturated_worker_refuses_at_once_and_still_answers_health(
    settings: Settings, engine: Engine, db_url: str
) -> None:
    busy = settings.model_copy(update={
        "max_in_flight": MAX_IN_FLIGHT, "max_queued": MAX_QUEUED, "max_queue_wait": WAIT_S,
        "checkpoint_interval": 0.0})  # no checkpointer waiting on the lock too
    ctx = load_context(busy, engine=engine)
    sent = MAX_IN_FLIGHT + MAX_QUEUED + 1  # one more than the worker takes
    try:
        with served(ctx) as base, ThreadPoolExecutor(sent) as pool:
            checkpoint = f"{base}/v1/audit/checkpoint"
            assert httpx.get(checkpoint, timeout=10).status_code == 200  # one is signed
            with engine.connect() as lock:
                lock.execute(text("LOCK TABLE audit_checkpoint IN ACCESS EXCLUSIVE MODE"))
                requests = [pool.submit(httpx.get, checkpoint, timeout=WAIT_S)
                            for _ in range(sent)]
                # Admitted requests cannot finish while the lock is held: the first answer is
                # the refusal, and it comes only once the others fill every place.
                done, held = wait(requests, timeout=WAIT_S, return_when=FIRST_COMPLETED)
                assert len(done) == 1 and len(held) == sent - 1
                refused = done.pop().result()
                assert refused.status_code == 503
                assert refused.headers["content-type"] == "application/problem+json"
                assert refused.json()["code"] == "overloaded"
                assert refused.headers["retry-after"] == "1"
                deadline = time.monotonic() + WAIT_S
                while _waiting_on(lock, engine) < MAX_IN_FLIGHT:  # bounded: on their way there
                    assert time.monotonic() < deadline, "the requests never reached the database"
                    time.sleep(0.02)
                assert _waiting_on(lock, engine) == MAX_IN_FLIGHT  # the queued wait in the broker
                assert httpx.get(f"{base}/healthz", timeout=10).status_code == 200
                assert httpx.get(f"{base}/readyz", timeout=10).status_code == 200
                assert not any(f.done() for f in held)  # still held: the 503 was not a timeout
                lock.rollback()  # let go
            assert [f.result().status_code for f in held] == [200] * (sent - 1)
            assert httpx.get(checkpoint, timeout=10).status_code == 200  # the places are free
    finally:
        ctx.close()


# PostgreSQL only: SQLite in WAL mode lets readers through a lock, so nothing can hold them.
@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_a_queued_request_waits_a_bounded_time_for_a_place(
    settings: Settings, engine: Engine, db_url: str
) -> None:
    busy = settings.model_copy(update={"max_in_flight": 1, "max_queued": 1,
                                       "max_queue_wait": 0.2, "checkpoint_interval": 0.0})
    ctx = load_context(busy, engine=engine)
    try:
        with served(ctx) as base, ThreadPoolExecutor(1) as pool:
            checkpoint = f"{base}/v1/audit/checkpoint"
            assert httpx.get(checkpoint, timeout=10).status_code == 200
            with engine.connect() as lock:
                lock.execute(text("LOCK TABLE audit_checkpoint IN ACCESS EXCLUSIVE MODE"))
                stuck = pool.submit(httpx.get, checkpoint, timeout=WAIT_S)
                deadline = time.monotonic() + WAIT_S
                while _waiting_on(lock, engine) < 1:  # bounded: the one place is taken
                    assert time.monotonic() < deadline, "the request never reached the database"
                    time.sleep(0.02)
                queued = httpx.get(checkpoint, timeout=WAIT_S)  # waits its 0.2 s, then refused
                assert queued.status_code == 503
                assert queued.json()["code"] == "overloaded"
                assert not stuck.done()
                lock.rollback()
            assert stuck.result().status_code == 200
    finally:
        ctx.close()


def test_a_request_that_gets_no_database_connection_in_time_is_refused_not_failed(
    settings: Settings, engine: Engine
) -> None:
    # The pool is sized by GBO_MAX_IN_FLIGHT; the test takes every connection of it.
    sized = settings.model_copy(update={"max_in_flight": 1, "db_pool_timeout": 0.2,
                                        "checkpoint_interval": 0.0})
    pooled = make_engine(sized.resolved_database_url, pool_size=sized.max_in_flight,
                         pool_timeout=sized.db_pool_timeout)
    ctx = load_context(sized, engine=pooled)
    try:
        with TestClient(create_app(context=ctx), raise_server_exceptions=False) as client:
            assert client.get("/v1/audit/checkpoint").status_code == 200
            taken = [pooled.connect() for _ in range(sized.max_in_flight + POOL_HEADROOM)]
            try:
                refused = client.get("/v1/audit/checkpoint")
            finally:
                for conn in taken:
                    conn.close()
            assert refused.status_code == 503  # was 500 internal_error after 30 s
            assert refused.json()["code"] == "overloaded"
            assert refused.headers["retry-after"] == "1"
            assert client.get("/v1/audit/checkpoint").status_code == 200  # connections back
    finally:
        ctx.close()
        pooled.dispose()


def _requests_counted(base: str, status: str) -> float:
    route = 'route="/v1/access-requests"'
    total = 0.0
    for line in httpx.get(f"{base}/metrics", timeout=10).text.splitlines():
        if line.startswith("gbo_http_requests_total{") and route in line \
                and f'status="{status}"' in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_a_client_that_leaves_before_its_body_is_read_is_no_server_error(
    settings: Settings, engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    # As a client whose timeout ran out while its request waited in the admission queue: the
    # connection closes with the body half sent. No route runs; nothing is a 500.
    ctx = load_context(settings.model_copy(update={"checkpoint_interval": 0.0}), engine=engine)
    try:
        with served(ctx) as base:
            host, port = base.removeprefix("http://").split(":")
            with socket.create_connection((host, int(port)), timeout=10) as sock:
                sock.sendall(b"POST /v1/access-requests HTTP/1.1\r\nHost: broker\r\n"
                             b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n"
                             b'{"purpose": ')
            deadline = time.monotonic() + WAIT_S
            while _requests_counted(base, "499") < 1:  # bounded: the worker notices the close
                assert time.monotonic() < deadline, "the request was never counted"
                time.sleep(0.02)
            assert _requests_counted(base, "500") == 0
            assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    finally:
        ctx.close()
