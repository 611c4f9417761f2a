"""Database engine, sessions and the migration gate (the server refuses an unmigrated database)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, create_engine

from broker.errors import ConfigurationError

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


POOL_HEADROOM = 4  # connections beyond the requests' own: /readyz, checkpointer, witnessing


def make_engine(url: str, *, busy_timeout: float = 30.0, pool_size: int | None = None,
                pool_timeout: float = 30.0) -> Engine:
    """An engine with the durability settings the broker relies on. ``busy_timeout``: how long
    a SQLite connection waits for a lock before failing (``OperationalError``). ``pool_size``:
    one connection per request a worker serves at once (``GBO_MAX_IN_FLIGHT``) plus
    ``POOL_HEADROOM``; a checkout waits at most ``pool_timeout`` seconds (then
    ``sqlalchemy.exc.TimeoutError``). Default: SQLAlchemy's pool."""
    pool: dict[str, Any] = {}
    if pool_size is not None and not url.endswith(":memory:"):
        pool = {"pool_size": pool_size + POOL_HEADROOM, "max_overflow": 0,
                "pool_timeout": pool_timeout}
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": busy_timeout}, **pool
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            # FULL: a commit is on disk when it returns (audit-before-release needs that).
            cur.execute("PRAGMA synchronous=FULL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        return engine
    return create_engine(url, pool_pre_ping=True, **pool)


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    with Session(engine, expire_on_commit=False) as session:
        yield session


def alembic_config(engine: Engine) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["engine"] = engine
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    command.upgrade(alembic_config(engine), revision)


@cache
def _code_head() -> str | None:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return ScriptDirectory.from_config(cfg).get_current_head()


def head_revision(engine: Engine) -> str | None:
    """The newest migration the code knows (read from disk once per process)."""
    return _code_head()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def check_migrated(engine: Engine) -> None:
    """Raise ``ConfigurationError`` unless the database is at the newest migration."""
    try:
        current = current_revision(engine)
    except SQLAlchemyError as exc:
        raise ConfigurationError(
            f"cannot reach the database ({type(exc).__name__}); check GBO_DATABASE_URL"
        ) from exc
    head = head_revision(engine)
    if current != head:
        raise ConfigurationError(
            f"the database is at migration {current or 'none'}, the code needs {head}: "
            "run `gbo-broker db upgrade`"
        )
