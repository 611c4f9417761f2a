"""Rate limits (DESIGN §6; docs/operations.md "Rate limits"): a token bucket per authenticated
partner and per logged-in portal session; over it, 429 problem+json (a Dutch page in the
portals) with ``Retry-After``, nothing done; the budget is one across worker processes on one
database; a caller cannot spend another partner's budget; refusals are counted for the auditors
(``/audit/limieten``) and in ``gbo_rate_limited_total``. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from broker.app import create_app
from broker.context import BrokerContext, load_context
from broker.settings import Settings
from broker.store.db import make_engine
from broker.store.rate_limits import DatabaseBuckets, Limit, MemoryBuckets
from tests.broker.test_portal_audit import login as audit_login
from tests.broker.test_portal_client import login
from tests.factories import OTHER_INSZ, VALID_INSZ, partner_auth, unsigned_token

SLOW = 0.001  # tokens per second: none come back during a test
STORES: dict[str, Callable[[Engine], MemoryBuckets | DatabaseBuckets]] = {
    "memory": lambda _: MemoryBuckets(keep_for=60.0),
    "database": lambda engine: DatabaseBuckets(engine, keep_for=60.0),
}


# --- the buckets ------------------------------------------------------------------------------


@pytest.mark.parametrize("store", STORES, ids=list(STORES))
def test_a_bucket_gives_its_burst_then_refuses_until_a_token_flows_back(
    engine: Engine, store: str
) -> None:
    buckets, limit = STORES[store](engine), Limit(per_second=2.0, burst=3)
    assert [buckets.take("partner:a", limit, 1000.0) for _ in range(3)] == [None] * 3
    assert buckets.take("partner:a", limit, 1000.0) == 1  # half a second, rounded up
    assert buckets.take("partner:b", limit, 1000.0) is None  # another bucket is untouched
    assert buckets.take("partner:a", limit, 1000.5) is None  # one token back
    assert buckets.take("partner:a", limit, 1000.5) == 1  # the refusal took nothing


@pytest.mark.parametrize("store", STORES, ids=list(STORES))
def test_a_long_wait_refills_no_more_than_the_burst(engine: Engine, store: str) -> None:
    buckets, limit = STORES[store](engine), Limit(per_second=1.0, burst=2)
    buckets.take("k", limit, 0.0)
    taken = [buckets.take("k", limit, 10_000.0) for _ in range(3)]
    assert taken[:2] == [None, None] and taken[2] is not None


@pytest.mark.parametrize("store", STORES, ids=list(STORES))
def test_a_lagging_clock_adds_no_tokens(engine: Engine, store: str) -> None:
    buckets, limit = STORES[store](engine), Limit(per_second=1.0, burst=2)
    assert buckets.take("k", limit, 100.0) is None
    assert buckets.take("k", limit, 100.0) is None
    assert buckets.take("k", limit, 40.0) is not None  # another worker, its clock a minute behind
    assert buckets.take("k", limit, 100.0) is not None


def test_two_workers_on_one_database_share_one_budget(engine: Engine, settings: Settings) -> None:
    """Two engines (as two worker processes have), eight threads taking at once: exactly the
    burst is granted, whoever asks."""
    other = make_engine(settings.resolved_database_url)
    try:
        workers = [DatabaseBuckets(engine, keep_for=60.0), DatabaseBuckets(other, keep_for=60.0)]
        limit = Limit(per_second=SLOW, burst=25)
        granted: list[int] = []
        lock = threading.Lock()

        def hammer(buckets: DatabaseBuckets) -> None:
            mine = sum(buckets.take("partner:ocmw-gent", limit, 5000.0) is None
                       for _ in range(10))
            with lock:
                granted.append(mine)

        threads = [threading.Thread(target=hammer, args=(workers[n % 2],)) for n in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sum(granted) == 25
    finally:
        other.dispose()


# --- partners over HTTP -----------------------------------------------------------------------


def _limited(settings: Settings, **limits: Any) -> Settings:
    return Settings(**{**settings.model_dump(), **limits})


@pytest.fixture
def tight(settings: Settings, engine: Engine) -> Iterator[BrokerContext]:
    """A broker whose partners may make 3 requests and then wait long; sessions 4 pages. The
    buckets are in the database (as with several workers) on both backends."""
    ctx = load_context(_limited(settings, rate_limit_partner_per_second=SLOW,
                                rate_limit_partner_burst=3, rate_limit_session_per_second=SLOW,
                                rate_limit_session_burst=4, rate_limit_store="database"),
                       engine=engine)
    ctx.rate_limiter.flush_every = 3600.0  # the tests flush by hand: no timer races them
    yield ctx
    ctx.close()


@pytest.fixture
def tight_api(tight: BrokerContext) -> Iterator[TestClient]:
    with TestClient(create_app(context=tight), raise_server_exceptions=False) as client:
        yield client


@pytest.fixture
def second_worker(tight: BrokerContext) -> Iterator[TestClient]:
    """Another worker process on the same database: its own context and engine."""
    ctx = load_context(tight.settings)
    try:
        with TestClient(create_app(context=ctx), raise_server_exceptions=False) as client:
            yield client
    finally:
        ctx.close()


def _relate(api: TestClient, settings: Settings, insz: str = VALID_INSZ,
            partner: str = "ocmw-gent") -> Any:
    return api.post("/v1/relations", json={"insz": insz},
                    headers=partner_auth(settings, partner))


def _relation_count(api: TestClient, settings: Settings) -> int:
    from tests.factories import client_auth

    response = api.get("/v1/me/relations", headers=client_auth(settings, OTHER_INSZ))
    assert response.status_code == 200
    return len(response.json()["relations"])


def test_a_partner_over_its_limit_gets_429_problem_json_and_nothing_is_done(
    tight_api: TestClient, tight: BrokerContext
) -> None:
    settings = tight.settings
    assert [tight_api.get("/v1/notifications", headers=partner_auth(settings)).status_code
            for _ in range(3)] == [200] * 3
    refused = _relate(tight_api, settings, OTHER_INSZ)
    assert refused.status_code == 429
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["code"] == "rate_limited"
    assert refused.json()["type"] == "urn:gbo-broker:problem:rate_limited"
    assert int(refused.headers["retry-after"]) >= 1
    assert _relation_count(tight_api, settings) == 0  # the refused relation was not declared
    # Another partner's budget is its own.
    assert tight_api.get("/v1/notifications",
                         headers=partner_auth(settings, "caw-oost-vlaanderen")).status_code == 200
    metrics = tight_api.get("/metrics").text
    assert 'gbo_rate_limited_total{kind="partner"} 1.0' in metrics


def test_a_caller_cannot_spend_a_partners_budget(tight_api: TestClient,
                                                 tight: BrokerContext) -> None:
    """Only an authenticated partner is counted: tokens claiming ``iss: ocmw-gent`` without its
    key, and replays of a token it used, are refused as 401 and cost it nothing."""
    settings = tight.settings
    for _ in range(5):
        bad = tight_api.get("/v1/notifications",
                            headers={"Authorization": f"Bearer {unsigned_token(settings)}"})
        assert bad.status_code == 401
    used = partner_auth(settings)
    assert tight_api.get("/v1/notifications", headers=used).status_code == 200
    for _ in range(5):
        assert tight_api.get("/v1/notifications", headers=used).status_code == 401
    assert [tight_api.get("/v1/notifications", headers=partner_auth(settings)).status_code
            for _ in range(2)] == [200, 200]


def test_two_workers_share_a_partners_budget(tight_api: TestClient, second_worker: TestClient,
                                             tight: BrokerContext) -> None:
    settings = tight.settings
    statuses = [worker.get("/v1/notifications", headers=partner_auth(settings)).status_code
                for worker in (tight_api, second_worker, tight_api, second_worker)]
    assert statuses == [200, 200, 200, 429]


# --- portal sessions --------------------------------------------------------------------------


def test_a_client_session_over_its_limit_gets_a_dutch_page(tight_api: TestClient) -> None:
    login(tight_api)  # its last step reads /mijn once
    assert [tight_api.get("/mijn/toestemmingen").status_code for _ in range(3)] == [200] * 3
    refused = tight_api.get("/mijn/toestemmingen")
    assert refused.status_code == 429
    assert refused.headers["content-type"].startswith("text/html")
    assert "Even geduld" in refused.text
    assert int(refused.headers["retry-after"]) >= 1
    tight_api.cookies.clear()
    login(tight_api)  # a fresh session (another person, another browser) has its own budget


def test_an_auditor_session_over_its_limit_gets_a_dutch_page(tight_api: TestClient) -> None:
    audit_login(tight_api)  # its last step reads /audit/integriteit once
    assert [tight_api.get("/audit").status_code for _ in range(3)] == [200] * 3
    refused = tight_api.get("/audit")
    assert refused.status_code == 429 and "Even geduld" in refused.text
    assert 'gbo_rate_limited_total{kind="auditor_session"} 1.0' in tight_api.get("/metrics").text


# --- what the auditors see ----------------------------------------------------------------------


LIMIT_ROWS = re.compile(r"<tr><th scope=\"row\">[^<]+</th><td>([^<]+) \(<code>([a-z0-9-]+)</code>"
                        r"\)</td><td>(\d+)</td>")


def test_the_auditor_portal_lists_partners_that_hit_the_limit(tight_api: TestClient,
                                                              tight: BrokerContext) -> None:
    settings = tight.settings
    for _ in range(5):  # three allowed, two refused
        tight_api.get("/v1/notifications", headers=partner_auth(settings))
    audit_login(tight_api, "supervisor")
    page = tight_api.get("/audit/limieten")
    assert page.status_code == 200
    assert "Partners die te veel vroegen" in page.text
    # The first refusal shows at once; the next ones with the write a second later.
    assert [(pid, n) for _, pid, n in LIMIT_ROWS.findall(page.text)] == [("ocmw-gent", "1")]
    tight.rate_limiter.flush()  # what the timer does a second later (an hour in this test)
    page = tight_api.get("/audit/limieten")
    rows = LIMIT_ROWS.findall(page.text)
    assert [(pid, n) for _, pid, n in rows] == [("ocmw-gent", "2")]
    assert "gemiddeld 0.0 verzoeken per seconde, 3 in één keer" in page.text
    # A DPO of another partner sees only their own partner's refusals: none.
    tight_api.cookies.clear()
    audit_login(tight_api, "partner:dmw-cm")
    page = tight_api.get("/audit/limieten")
    assert LIMIT_ROWS.findall(page.text) == []
    assert "Geen enkele partner ging" in page.text
    assert 'href="/audit/limieten"' in page.text


# --- clients through the v1 API ---------------------------------------------------------------


def test_a_client_over_its_limit_in_the_v1_api_gets_429_and_no_insz_is_stored(
    tight_api: TestClient, tight: BrokerContext
) -> None:
    from tests.factories import client_auth

    settings = tight.settings
    assert [tight_api.get("/v1/me/consents", headers=client_auth(settings)).status_code
            for _ in range(4)] == [200] * 4
    refused = tight_api.get("/v1/me/consents", headers=client_auth(settings))
    assert refused.status_code == 429 and refused.json()["code"] == "rate_limited"
    assert int(refused.headers["retry-after"]) >= 1
    # Another person's budget is their own, whatever token they hold.
    assert tight_api.get("/v1/me/consents",
                         headers=client_auth(settings, OTHER_INSZ)).status_code == 200
    assert 'gbo_rate_limited_total{kind="client_api"} 1.0' in tight_api.get("/metrics").text
    with tight.engine.connect() as conn:
        names = [row[0] for row in conn.exec_driver_sql("SELECT bucket FROM rate_bucket")]
    assert len(names) == 2  # one per person, each a keyed hash
    assert all(VALID_INSZ not in n and OTHER_INSZ not in n for n in names)
    assert all(re.fullmatch(r"client:[0-9a-f]{64}", n) for n in names)
