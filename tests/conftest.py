"""Shared fixtures. Every storage test runs on SQLite and on PostgreSQL.

PostgreSQL comes from ``GBO_TEST_POSTGRES_URL`` (default: the local ``test`` database); each test
gets a schema of its own, as new (``tests/databases.py``), so no test sees another's data. When
PostgreSQL is unreachable its half of the suite is skipped — or fails, with ``REQUIRE_POSTGRES=1``
(CI). Migrations run once per session and backend; each test gets a fresh copy.
"""

from __future__ import annotations

import os
import shutil
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
from broker.store.db import current_revision, head_revision, make_engine, upgrade
from tests.backends import BACKENDS
from tests.databases import Kind, PostgresSchemas, SqliteFiles

POSTGRES_URL = os.environ.get(
    "GBO_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
REQUIRE_POSTGRES = os.environ.get("REQUIRE_POSTGRES") == "1"
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


@pytest.fixture(scope="session")
def postgres_schemas(postgres_admin: Engine) -> Iterator[PostgresSchemas]:
    schemas = PostgresSchemas(postgres_admin, POSTGRES_URL)
    yield schemas
    schemas.close()


@pytest.fixture(scope="session")
def sqlite_files(tmp_path_factory: pytest.TempPathFactory) -> SqliteFiles:
    return SqliteFiles(tmp_path_factory.mktemp("databases"))


def _kind(request: pytest.FixtureRequest) -> Kind:
    """What the test starts from: migrated when it uses ``engine``, the log's tables only with
    ``log_url`` (tests/audit), else empty. (``engine`` and ``log_url`` finish the job when a
    test gets them another way.)"""
    if "engine" in request.fixturenames:
        return "migrated"
    if "log_url" in request.fixturenames:
        return "log"
    return "empty"


@pytest.fixture(params=list(BACKENDS))
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh database on each backend: empty, or as migrated (see ``_kind``)."""
    kind = _kind(request)
    if request.param == "sqlite":
        files: SqliteFiles = request.getfixturevalue("sqlite_files")
        yield files.fresh(kind, tmp_path / "gbo.sqlite3")
        return
    schemas: PostgresSchemas = request.getfixturevalue("postgres_schemas")
    with schemas.fresh(kind) as url:
        yield url


@pytest.fixture(scope="session")
def demo_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data directory holding only the demo keys (``create_demo_keys``), made once."""
    data_dir = tmp_path_factory.mktemp("demo") / "data"
    create_demo_keys(Settings(data_dir=data_dir, demo=True))
    return data_dir


@pytest.fixture
def settings(tmp_path: Path, db_url: str, demo_data_dir: Path) -> Settings:
    """Demo-mode settings with the demo keys in a temporary data directory of the test's own
    (a copy: what a test changes there no other test sees)."""
    # A generous policy deadline: on a loaded test machine a 200 ms one fails decisions closed
    # at random; the tests of the deadline itself set their own.
    # Rate limits no test reaches by accident (the buckets still count every request); the
    # tests of the limits set their own.
    s = Settings(data_dir=tmp_path / "data", database_url=db_url, demo=True,
                 policy_timeout_ms=5000, **GENEROUS_RATE_LIMITS)
    shutil.copytree(demo_data_dir, s.data_dir)
    return s


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    eng = make_engine(settings.resolved_database_url)
    if current_revision(eng) != head_revision(eng):  # db_url gave a migrated copy, as a rule
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
