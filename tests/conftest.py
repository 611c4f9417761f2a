"""Shared fixtures. Every storage test runs on SQLite and on PostgreSQL.

PostgreSQL comes from ``GBO_TEST_POSTGRES_URL`` (default: the local ``test`` database); each test
gets a fresh schema, dropped afterwards, so no test sees another's data. When PostgreSQL is
unreachable its half of the suite is skipped — or fails, with ``REQUIRE_POSTGRES=1`` (CI).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine, make_url

from broker.app import create_app
from broker.context import BrokerContext, load_context
from broker.demo import create_demo_keys
from broker.settings import Settings
from broker.store.db import make_engine, upgrade

POSTGRES_URL = os.environ.get(
    "GBO_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
REQUIRE_POSTGRES = os.environ.get("REQUIRE_POSTGRES") == "1"
BACKENDS = ["sqlite", "postgresql"]
GENEROUS_RATE_LIMITS = {
    "rate_limit_partner_per_second": 1000.0, "rate_limit_partner_burst": 100_000,
    "rate_limit_session_per_second": 1000.0, "rate_limit_session_burst": 100_000,
}


@pytest.fixture(scope="session")
def postgres_admin() -> Iterator[Engine]:
    engine = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001 - any failure means "not reachable"
        engine.dispose()
        message = f"PostgreSQL unreachable at {make_url(POSTGRES_URL).render_as_string()}: {exc}"
        if REQUIRE_POSTGRES:
            pytest.fail(message + " (REQUIRE_POSTGRES=1)", pytrace=False)
        pytest.skip(message)
    yield engine
    engine.dispose()


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database on each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'gbo.sqlite3'}"
        return
    admin: Engine = request.getfixturevalue("postgres_admin")
    schema = f"t_{uuid.uuid4().hex[:16]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(POSTGRES_URL).update_query_dict({"options": f"-csearch_path={schema}"})
    yield url.render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))


@pytest.fixture
def settings(tmp_path: Path, db_url: str) -> Settings:
    """Demo-mode settings with fresh demo keys in a temporary data directory."""
    # A generous policy deadline: on a loaded test machine a 200 ms one fails decisions closed
    # at random; the tests of the deadline itself set their own.
    # Rate limits no test reaches by accident (the buckets still count every request); the
    # tests of the limits set their own.
    s = Settings(data_dir=tmp_path / "data", database_url=db_url, demo=True,
                 policy_timeout_ms=5000, **GENEROUS_RATE_LIMITS)
    create_demo_keys(s)
    return s


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    eng = make_engine(settings.resolved_database_url)
    upgrade(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def ctx(settings: Settings, engine: Engine) -> Iterator[BrokerContext]:
    context = load_context(settings, engine=engine)
    yield context
    context.close()  # stops the audit writer and checkpointer before the database goes


@pytest.fixture
def api(ctx: BrokerContext) -> Iterator[TestClient]:
    with TestClient(create_app(context=ctx), raise_server_exceptions=False) as client:
        yield client
