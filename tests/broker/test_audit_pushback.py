"""Audit-before-release under push-back (DESIGN §6): when the log's writer already holds
``GBO_AUDIT_MAX_PENDING`` entries, an access request is refused at once with 503 ``audit_busy``
and ``Retry-After``; nothing is released and nothing of it is logged.

The database really is stalled: another connection holds the log's write lock, so the entries
ahead of the request wait inside the writer.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from broker.app import create_app
from broker.context import BrokerContext, load_context
from broker.settings import Settings
from tests.audit.logdb import log_write_lock_held, sample_entry, stored_entry_ids
from tests.broker.access_scenarios import INSZ, Case, E, now, write_scenario
from tests.factories import partner_auth

CAW, OCMW = "caw-oost-vlaanderen", "ocmw-gent"
MAX_PENDING = 2
WAIT_S = 30


@pytest.fixture
def small_backlog(settings: Settings, engine: Engine) -> Iterator[TestClient]:
    ctx = load_context(
        settings.model_copy(update={"audit_max_pending": MAX_PENDING, "checkpoint_interval": 0}),
        engine=engine,
    )
    with TestClient(create_app(context=ctx), raise_server_exceptions=False) as client:
        yield client


def _ask(api: TestClient, settings: Settings) -> Any:
    return api.post("/v1/access-requests",
                    json={"insz": INSZ, "purpose": "rechtenverkenning", "sections": ["inkomen"]},
                    headers=partner_auth(settings, CAW))


def test_access_request_under_pushback_gets_503_with_retry_after_and_releases_nothing(
    small_backlog: TestClient, settings: Settings, engine: Engine
) -> None:
    ctx: BrokerContext = small_backlog.app.state.context  # type: ignore[attr-defined]
    write_scenario(ctx, Case("granted", {"inkomen": "granted"},
                             entries=(E("secret", OCMW, "inkomen"),)), now())
    granted = _ask(small_backlog, settings)
    assert granted.status_code == 200 and "secret" in granted.text
    size = ctx.audit.log.store.size()
    with log_write_lock_held(engine):
        ahead = [sample_entry(n, source="ahead") for n in range(MAX_PENDING)]
        futures = [ctx.audit.log.submit(entry) for entry in ahead]  # the writer is full
        response = _ask(small_backlog, settings)
        assert not any(f.done() for f in futures)  # answered while the database was stalled
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["retry-after"] == "1"
    problem = response.json()
    assert problem["code"] == "audit_busy"
    assert problem["type"] == "urn:gbo-broker:problem:audit_busy"
    assert "secret" not in response.text and "label" not in response.text
    appended = [f.result(timeout=WAIT_S) for f in futures]
    # The refused request left no entry: only the ones ahead of it were written.
    assert ctx.audit.log.store.size() == size + MAX_PENDING
    ids = stored_entry_ids(engine)
    assert sorted(ids[e["id"]] for e in ahead) == sorted(a.index for a in appended)
    assert _ask(small_backlog, settings).status_code == 200
